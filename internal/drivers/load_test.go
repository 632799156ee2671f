package drivers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// TestLoadScenarios captures the scenarios other tests replay (speed
// tests, lock-order tests) and checks that each did what it is for.
func TestLoadScenarios(t *testing.T) {
	for _, name := range ContendedScenarios {
		t.Run(name, func(t *testing.T) {
			sc, _ := Lookup(name)
			capt := Capture(t, sc)
			KeepLogs(t, name, "capture", capt.Logs)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := ReadLog(ctx, capt.Logs)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Check(sc.Expect); err != nil {
				t.Fatalf("%s did not do what it is for: %v", name, err)
			}
			waits, err := countMessages(capt.Logs, "still waiting for ShareLock on transaction")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d statements in %d sessions in %v; %d lock waits logged; errors %v", name, l.Statements(), len(l.Sessions),
				capt.Took.Round(time.Millisecond), waits, l.Errors())
			if name == "pgjdbc-hotrow" && waits == 0 {
				t.Errorf("no session waited for another's row lock (log_lock_waits after deadlock_timeout = 1ms): the rows are not hot")
			}
		})
	}
}

// countMessages counts the entries of plain log files whose message
// contains sub.
func countMessages(paths []string, sub string) (int, error) {
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		r, err := entryReader(p, f)
		if err != nil {
			f.Close()
			return 0, err
		}
		for {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var bad *logentry.MalformedError
			if errors.As(err, &bad) {
				continue
			}
			if err != nil {
				f.Close()
				return 0, err
			}
			if bytes.Contains(e.Message, []byte(sub)) {
				n++
			}
		}
		f.Close()
	}
	return n, nil
}
