package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// stallLog is a log of two sessions: a.1 runs one statement that the
// executor holds for 10 s, then 10,000 statements due one a millisecond,
// all queued behind it; b.2 runs a statement every 10 ms from 0.11 s to 12 s.
func stallLog(t testing.TB) []byte {
	t.Helper()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	line := func(ms int, sid, msg string) {
		fmt.Fprintf(&b, "%s|app|db|%s|LOG:  %s\n", t0.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000")+" UTC", sid, msg)
	}
	line(0, "a.1", "connection authorized: user=app database=db")
	line(0, "b.2", "connection authorized: user=app database=db")
	line(100, "a.1", "statement: SELECT 'stall'")
	for ms := 101; ms <= 12_000; ms++ {
		if ms <= 10_100 {
			line(ms, "a.1", fmt.Sprintf("statement: SELECT %d", ms))
		}
		if ms%10 == 0 {
			line(ms, "b.2", fmt.Sprintf("statement: SELECT 'b%d'", ms))
		}
	}
	line(12_001, "a.1", "disconnection: session time: 0:00:12.001")
	line(12_001, "b.2", "disconnection: session time: 0:00:12.001")
	var out bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &out, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestStalledSessionHoldsUpNoOneElse: a session stalled for 10 s with
// 10,000 events queued behind it delays no other session, whether its
// backlog fits in memory or goes to disk; and it runs its backlog in order
// afterwards.
func TestStalledSessionHoldsUpNoOneElse(t *testing.T) {
	data := stallLog(t)
	for _, tc := range []struct {
		name   string
		budget int64
		spill  bool
	}{
		{"in memory", 0, false},
		{"spilled to disk", 256 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, err := parse.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				ex := &fakeExec{hold: map[string]time.Duration{"SELECT 'stall'": 10 * time.Second}}
				var mu sync.Mutex
				got := map[uint64][]*Result{}
				var warnings []string
				opt := Options{noAlarm: true, MemoryBudget: tc.budget, SpillDir: t.TempDir(), Warn: func(s string) {
					mu.Lock()
					warnings = append(warnings, s)
					mu.Unlock()
				}}
				st, err := Run(context.Background(), r, ex, opt, func(res *Result) {
					mu.Lock()
					got[res.Session] = append(got[res.Session], res)
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				a, b := got[1], got[2]
				if len(a) != 10_001 || len(b) != 1_190 {
					t.Fatalf("ran %d statements of a and %d of b, want 10001 and 1190", len(a), len(b))
				}
				for _, res := range b {
					if res.Lateness() > time.Millisecond {
						t.Fatalf("b's statement %d started %v late behind a stalled session", res.Index, res.Lateness())
					}
				}
				for i, res := range a {
					if res.Index != i {
						t.Fatalf("a's result %d is statement %d: out of order", i, res.Index)
					}
				}
				if a[1].Lateness() < 9*time.Second || a[1].LateCause != CauseTarget {
					t.Errorf("a's statement after the stall: late %v cause %q, want about 10 s, %q", a[1].Lateness(), a[1].LateCause, CauseTarget)
				}
				if spilled := st.SpilledBytes > 0; spilled != tc.spill || (len(st.Stalls) > 0) != tc.spill || (len(warnings) > 0) != tc.spill {
					t.Fatalf("spilled %d bytes, stalls %+v, warnings %q; want spilling %v", st.SpilledBytes, st.Stalls, warnings, tc.spill)
				}
				if tc.spill {
					if !strings.Contains(warnings[0], "session 1 ") || !strings.Contains(warnings[0], "stalled") || !strings.Contains(warnings[0], "statement 0") {
						t.Errorf("warning %q does not name the stalled session and statement", warnings[0])
					}
					if st.PeakQueuedBytes > 2*tc.budget {
						t.Errorf("peak queued %d bytes with a budget of %d", st.PeakQueuedBytes, tc.budget)
					}
				}
			})
		})
	}
}

// TestLateCancel: a statement cancelled in production more than the
// reorder window after it started has its cancel in a late Update frame;
// replay cancels it after the original duration all the same.
func TestLateCancel(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	line := func(ms int, sid, sev, msg string) {
		fmt.Fprintf(&b, "%s|app|db|%s|%s:  %s\n", t0.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000")+" UTC", sid, sev, msg)
	}
	line(0, "a.1", "LOG", "connection authorized: user=app database=db")
	line(0, "b.2", "LOG", "connection authorized: user=app database=db")
	line(100, "a.1", "LOG", "statement: SELECT pg_sleep(60)")
	for ms := 200; ms < 8_000; ms += 200 {
		line(ms, "b.2", "LOG", fmt.Sprintf("statement: SELECT %d", ms))
	}
	line(8_100, "a.1", "ERROR", "canceling statement due to user request")
	b.WriteString("\tSTATEMENT:  SELECT pg_sleep(60)\n")
	line(8_200, "a.1", "LOG", "disconnection: session time: 0:00:08.200")
	line(8_200, "b.2", "LOG", "disconnection: session time: 0:00:08.200")
	var data bytes.Buffer
	sum, err := parse.Run(context.Background(), []string{"-"}, &data, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.LateUpdates != 1 {
		t.Fatalf("the log gave %d late updates, want the cancel as one", sum.LateUpdates)
	}
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		ex := &blockingExec{}
		var mu sync.Mutex
		var got *Result
		start := time.Now()
		if _, err := Run(context.Background(), r, ex, Options{noAlarm: true}, func(res *Result) {
			mu.Lock()
			if res.Session == 1 {
				got = res
			}
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Fatal("the statement did not run")
		}
		// Started at 0.1 s, cancelled 8 s later as in production.
		if end := got.Started.Add(got.Latency).Sub(start); end != 8100*time.Millisecond {
			t.Errorf("the statement ended at +%v, want +8.1s", end)
		}
		if got.SQLState != "57014" {
			t.Errorf("outcome %q, want 57014", got.SQLState)
		}
	})
}

// blockingExec holds pg_sleep statements until they are cancelled, which
// it reports as 57014.
type blockingExec struct{ fakeExec }

type blockingConn struct{ fakeConn }

func (x *blockingExec) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	c, _ := x.fakeExec.Open(ctx, s)
	return blockingConn{c.(fakeConn)}, nil
}

func (c blockingConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	for i, ev := range unit {
		if strings.Contains(ev.Text, "pg_sleep") {
			<-ctx.Done()
			outs[i] = Outcome{Err: ctx.Err(), SQLState: "57014", Done: time.Now()}
			continue
		}
		outs[i] = Outcome{Rows: 1}
	}
}

// TestOutOfOrderOnTime: a statement longer than the reorder window in a
// log of durations only is logged at its end, and written after frames
// that started later; the read-ahead hands it to its session in time, so
// it starts at its original offset, not late.
func TestOutOfOrderOnTime(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	line := func(ms int, sid, msg string) {
		fmt.Fprintf(&b, "%s|app|db|%s|LOG:  %s\n", t0.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000")+" UTC", sid, msg)
	}
	line(0, "a.1", "connection authorized: user=app database=db")
	line(0, "b.2", "connection authorized: user=app database=db")
	for ms := 100; ms <= 9_000; ms += 100 {
		line(ms, "b.2", fmt.Sprintf("duration: 0.100 ms  statement: SELECT %d", ms))
		if ms == 8_100 {
			// Started at 0.1 s, ran 8 s, logged at its end.
			line(ms, "a.1", "duration: 8000.000 ms  statement: SELECT pg_sleep(8)")
		}
	}
	line(9_100, "a.1", "disconnection: session time: 0:00:09.100")
	line(9_100, "b.2", "disconnection: session time: 0:00:09.100")
	var data bytes.Buffer
	sum, err := parse.Run(context.Background(), []string{"-"}, &data, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OutOfOrder == 0 {
		t.Fatal("the long statement was not written out of time order: the test tests nothing")
	}
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var long *Result
		if _, err := Run(context.Background(), r, &fakeExec{}, Options{noAlarm: true}, func(res *Result) {
			mu.Lock()
			if res.Session == 1 {
				long = res
			}
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		if long == nil || long.Lateness() != 0 {
			t.Fatalf("the out-of-order statement: %+v, want it on time", long)
		}
	})
}
