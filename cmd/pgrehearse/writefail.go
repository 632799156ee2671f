package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/pgrehearse/pgrehearse/replay"
)

// resultsWriteError is a results file that could not be written: a full
// disk, said as such, or another write error, with the file's name.
type resultsWriteError struct {
	path, flag string // flag is the option that names the file: -o, --control-output
	err        error
}

func (e *resultsWriteError) Error() string {
	what := "the results could not be written to " + e.path
	if diskFull(e.err) {
		what = "the disk is full: " + what
	}
	cause := e.err
	var we *replay.WriteError
	if errors.As(e.err, &we) {
		cause = we.Err
	}
	return fmt.Sprintf("%s (%v)", what, cause)
}

func (e *resultsWriteError) Unwrap() error { return e.err }

// todo says what to do about it.
func (e *resultsWriteError) todo() string {
	if diskFull(e.err) {
		return fmt.Sprintf("Free space on the disk of %s, or write the results elsewhere with %s, then replay again", e.path, e.flag)
	}
	return fmt.Sprintf("Check that %s can be written, or write the results elsewhere with %s, then replay again", e.path, e.flag)
}

// kept says what the file holds after a replay stopped by the error.
func (e *resultsWriteError) kept() string {
	if st, err := os.Stat(e.path); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		return fmt.Sprintf("%s holds the results written before it, without a trailer (compare reads them as a replay that was killed)", e.path)
	}
	return "none of the results were kept"
}

// stoppedByWrite says that a replay was stopped because its results
// could not be written (to path, named by flag, unless err says which
// file), what the file holds and what to do.
func stoppedByWrite(err error, path, flag string) error {
	var we *resultsWriteError
	if !errors.As(err, &we) {
		we = &resultsWriteError{path: path, flag: flag, err: err}
	}
	return fmt.Errorf("replay: %w; the replay was stopped then, and %s. %s", we, we.kept(), we.todo())
}

// diskFull reports whether err says the disk (or the user's quota) is full.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// newResultsWriter writes a results file's header, before any statement
// is sent: a file that can not be written stops the replay before it
// loads the target for nothing.
func newResultsWriter(f io.Writer, closeOut func() error, h replay.ResultsHeader, path, flag string) (*replay.ResultsWriter, error) {
	rw, err := replay.NewResultsWriter(f, h)
	if err == nil {
		return rw, nil
	}
	closeOut()
	if we := (*replay.WriteError)(nil); errors.As(err, &we) {
		e := &resultsWriteError{path: path, flag: flag, err: err}
		return nil, fmt.Errorf("replay: %w; no statement was replayed. %s", e, e.todo())
	}
	return nil, fmt.Errorf("replay: %s: %w", path, err)
}

// watchResults stops the replay as soon as its results can no longer be
// written (a full disk), and says so then, not at the end: a replay
// whose results are lost would load the target for nothing. stop returns
// the write error, a *resultsWriteError, if any.
func watchResults(ctx context.Context, rw *replay.ResultsWriter, out, flag string, warn func(string)) (context.Context, func() error) {
	rctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		select {
		case <-done:
			failed <- nil
		case <-rw.Failed():
			we := &resultsWriteError{path: out, flag: flag, err: rw.Err()}
			warn(fmt.Sprintf("%v; stopping the replay", we))
			cancel(we)
			failed <- we
		}
	}()
	return rctx, func() error {
		close(done)
		err := <-failed
		cancel(nil)
		return err
	}
}
