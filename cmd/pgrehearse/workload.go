package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/pgrehearse/pgrehearse/parse"
)

// openWorkload opens a workload file for reading. A PostgreSQL log is
// accepted too: it is parsed on the fly with the log flags, through a pipe,
// so nothing waits for the whole log.
func openWorkload(ctx context.Context, env *environment, path string, lf *logFlags) (*parse.Reader, func(), error) {
	in, err := openInput(path, env.stdin)
	if err != nil {
		return nil, nil, fmt.Errorf("open workload: %w", err)
	}
	br := bufio.NewReaderSize(in, 64<<10)
	head, _ := br.Peek(16)
	if parse.IsWorkload(head) {
		r, err := parse.NewReader(br)
		if err != nil {
			in.Close()
			return nil, nil, fmt.Errorf("read workload %s: %w", path, err)
		}
		return r, func() { r.Close(); in.Close() }, nil
	}
	opt, err := lf.options()
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	opt.Stdin = br
	opt.Producer = "pgrehearse " + version
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := parse.Run(ctx, []string{"-"}, pw, opt)
		pw.CloseWithError(err)
	}()
	// Closing the pipe fails the parse's next write, which stops it;
	// then it is waited for.
	stop := func() { pr.Close(); <-done; in.Close() }
	r, err := parse.NewReader(pr)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return r, func() { r.Close(); stop() }, nil
}
