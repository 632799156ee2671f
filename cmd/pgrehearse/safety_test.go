package main

import (
	"bytes"
	"testing"

	corpusdata "github.com/pgrehearse/pgrehearse/internal/corpus"
)

// corpusHead returns the first n lines of a corpus log, decompressed.
func corpusHead(t *testing.T, name string, n int) []byte {
	t.Helper()
	data := corpusdata.Load(t, name)
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
