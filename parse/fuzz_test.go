package parse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

// corpusHead returns the first n lines of a corpus log.
func corpusHead(tb testing.TB, name string, n int) []byte {
	tb.Helper()
	data := corpus.Load(tb, name)
	end := 0
	for i := 0; i < n && end < len(data); i++ {
		k := bytes.IndexByte(data[end:], '\n')
		if k < 0 {
			return data
		}
		end += k + 1
	}
	return data[:end]
}

// FuzzRun feeds arbitrary logs through the whole pipeline, readers and
// assembly, and reads the workload back: nothing may panic, and whatever
// was written must be a complete, readable workload.
func FuzzRun(f *testing.F) {
	for _, set := range corpusSets {
		f.Add(corpusHead(f, set.log, 400), uint8(0))
	}
	f.Add([]byte("2026-11-22 12:17:33.137 UTC|u|d|1.2|LOG:  duration: 1.5 ms\n"), uint8(1))
	f.Fuzz(func(t *testing.T, log []byte, mode uint8) {
		opt := parse.Options{Stdin: bytes.NewReader(log), Uncompressed: true}
		switch mode % 4 {
		case 1:
			opt.Format, opt.Prefix = parse.FormatStderr, "%m|%u|%d|%c|"
		case 2:
			opt.Format = parse.FormatCSV
		case 3:
			opt.Format = parse.FormatJSON
		}
		var out bytes.Buffer
		sum, err := parse.Run(context.Background(), []string{"-"}, &out, opt)
		if err != nil && !errors.Is(err, parse.ErrUnrecognized) && !errors.Is(err, parse.ErrMalformed) {
			t.Fatalf("error %v is not one of the documented ones", err)
		}
		if sum == nil {
			return
		}
		r, err := parse.NewReader(&out)
		if err != nil {
			t.Fatalf("workload unreadable: %v", err)
		}
		defer r.Close()
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("workload broken: %v", err)
			}
		}
		if tr := r.Trailer(); tr == nil || tr.Statements != sum.Statements {
			t.Fatalf("trailer %+v does not match summary %+v", tr, sum)
		}
	})
}
