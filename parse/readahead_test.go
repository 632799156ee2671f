package parse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

// TestCompressedInputStopsEarly: a parse that stops early (--strict at a
// junk line near the start) while the decompressor is still reading ahead
// joins that goroutine before closing the decoder (the race detector
// reported the decoder closed under its reader), and leaves no goroutine
// behind.
func TestCompressedInputStopsEarly(t *testing.T) {
	log := corpus.Load(t, "A-stderr.log.gz")
	cut := bytes.Index(log, []byte("\n2026-11-22 12:17:34")) + 1
	damaged := append(append(append([]byte{}, log[:cut]...), "this line is junk\n"...), log[cut:]...)
	for _, comp := range []string{"zstd", "gzip"} {
		t.Run(comp, func(t *testing.T) {
			var z bytes.Buffer
			var zw io.WriteCloser
			if comp == "zstd" {
				enc, err := zstd.NewWriter(&z)
				if err != nil {
					t.Fatal(err)
				}
				zw = enc
			} else {
				zw = gzip.NewWriter(&z)
			}
			zw.Write(damaged)
			zw.Close()
			keep := goleak.IgnoreCurrent()
			_, err := parse.Run(context.Background(), []string{"-"}, io.Discard, parse.Options{Stdin: &z, Strict: true})
			if !errors.Is(err, parse.ErrMalformed) {
				t.Fatalf("err = %v, want the junk line reported", err)
			}
			goleak.VerifyNone(t, keep)
		})
	}
}
