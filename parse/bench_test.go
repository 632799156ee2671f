package parse_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

func decompressed(b *testing.B, name string) []byte { return corpus.Load(b, name) }

// BenchmarkParse measures the whole parse of each corpus log, from bytes
// of log to bytes of workload, on one goroutine's worth of work.
func BenchmarkParse(b *testing.B) {
	for _, set := range corpusSets {
		b.Run(set.name, func(b *testing.B) {
			data := decompressed(b, set.log)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, err := parse.Run(context.Background(), []string{"-"}, io.Discard, parse.Options{Stdin: bytes.NewReader(data)})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
