package drivers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// command makes a driver process in dir with the connection in its PG*
// variables.
func command(ctx context.Context, d DSN, dir, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), d.Env()...)
	// A program that ignores the kill must not hold the test forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// tailBuffer keeps the last bytes written to it: a program's standard
// error for the failure message.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return lastLines(b, 25)
}

// runProgram runs cmd to its end; a failure carries the tail of its
// standard error.
func runProgram(ctx context.Context, what string, cmd *exec.Cmd) error {
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	if err := cmd.Run(); err != nil {
		return programError(ctx, what, err, &stderr)
	}
	return nil
}

func programError(ctx context.Context, what string, err error, stderr *tailBuffer) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	return fmt.Errorf("%s: %w; its standard error ends:\n%s", what, err, stderr.String())
}

// runJava runs class main from the compiled sources of dir.
func runJava(ctx context.Context, d DSN, dir, main string) error {
	classes, err := compileJava(ctx, dir)
	if err != nil {
		return err
	}
	return runProgram(ctx, "Java program "+main, command(ctx, d, dir, "java", "-cp", classes+string(os.PathListSeparator)+pgJDBCJar, main))
}

// runDjango runs the Django program: the main part, then the
// get_or_create race between two processes.
//
// The race is made deterministic by its signals, not by sleeps alone: B
// connects first and waits on its standard input; A inserts the tag in its
// transaction and says so; 100 ms later B is told to go: its SELECT finds
// nothing, its INSERT blocks on A's uncommitted key, and when A commits
// (300 ms after its insert) B gets 23505, rolls back to its savepoint and
// fetches A's row.
func runDjango(ctx context.Context, d DSN) error {
	dir := testdata("django")
	if err := runProgram(ctx, "Django program (main)", command(ctx, d, dir, python3, "app.py", "main")); err != nil {
		return err
	}
	b := newSignalled(command(ctx, d, dir, python3, "app.py", "race-b"))
	if err := b.start("ready"); err != nil {
		return b.fail(ctx, "Django program (race-b)", err)
	}
	a := newSignalled(command(ctx, d, dir, python3, "app.py", "race-a"))
	if err := a.start("inserted"); err != nil {
		b.kill()
		b.wait()
		return a.fail(ctx, "Django program (race-a)", err)
	}
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
	}
	_, sendErr := io.WriteString(b.stdin, "go\n")
	b.stdin.Close()
	errA := a.wait()
	errB := b.wait()
	if errA != nil {
		return a.fail(ctx, "Django program (race-a)", errA)
	}
	if errB != nil || sendErr != nil {
		return b.fail(ctx, "Django program (race-b)", errors.Join(errB, sendErr))
	}
	return nil
}

// signalled is a process that says on its standard output when it has got
// somewhere.
type signalled struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr tailBuffer
}

func newSignalled(cmd *exec.Cmd) *signalled {
	return &signalled{cmd: cmd}
}

// start starts the process and waits for the line want on its output.
func (s *signalled) start(want string) error {
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	s.stdout = bufio.NewReader(out)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	line, err := s.stdout.ReadString('\n')
	if strings.TrimSpace(line) != want {
		s.kill()
		werr := s.cmd.Wait()
		return fmt.Errorf("waited for %q on its output, got %q (%v, exit: %v)", want, line, err, werr)
	}
	return nil
}

func (s *signalled) wait() error {
	io.Copy(io.Discard, s.stdout)
	return s.cmd.Wait()
}

func (s *signalled) kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
}

func (s *signalled) fail(ctx context.Context, what string, err error) error {
	return programError(ctx, what, err, &s.stderr)
}
