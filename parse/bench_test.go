package parse_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse"
)

func decompressed(b *testing.B, name string) []byte {
	b.Helper()
	f, err := os.Open(corpusPath(name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

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
