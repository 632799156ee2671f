package main

import (
	"fmt"
	"io"

	"github.com/pgrehearse/pgrehearse/parse"
)

// parseReader opens a workload file for reading.
func parseReader(in io.Reader, name string) (*parse.Reader, error) {
	r, err := parse.NewReader(in)
	if err != nil {
		return nil, fmt.Errorf("read workload %s: %w", name, err)
	}
	return r, nil
}
