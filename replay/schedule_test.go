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

// workload parses a small stderr log written for the test: session a runs
// a statement every 100 ms from 0.1 s, session b one every 250 ms from
// 0.05 s; b's second statement holds a lock for 2 s in the fake executor.
func workload(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	line := func(ms int, sid, msg string) {
		ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(&b, "%s|app|db|%s|LOG:  %s\n", ts.Format("2006-01-02 15:04:05.000")+" UTC", sid, msg)
	}
	type ev struct {
		ms       int
		sid, msg string
	}
	var evs []ev
	evs = append(evs, ev{0, "a.1", "connection authorized: user=app database=db"}, ev{0, "b.2", "connection authorized: user=app database=db"})
	for i := 0; i < 10; i++ {
		msg := fmt.Sprintf("statement: SELECT %d", i)
		if i == 9 {
			msg = "statement: ALTER SYSTEM SET work_mem = '1GB'"
		}
		evs = append(evs, ev{100 + 100*i, "a.1", msg})
	}
	for i := 0; i < 4; i++ {
		// Apart from a's stamps: entries of one stamp are placed apart
		// within its millisecond by their order in the file.
		evs = append(evs, ev{60 + 250*i, "b.2", fmt.Sprintf("statement: SELECT 'b%d'", i)})
	}
	evs = append(evs, ev{1200, "a.1", "disconnection: session time: 0:00:01.200"}, ev{1200, "b.2", "disconnection: session time: 0:00:01.200"})
	// Log order is time order.
	for ms := 0; ms <= 1200; ms++ {
		for _, e := range evs {
			if e.ms == ms {
				line(e.ms, e.sid, e.msg)
			}
		}
	}
	var out bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &out, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type fakeExec struct {
	mu   sync.Mutex
	open int
	ran  []string
	kill bool // "SELECT 3" loses the connection
	// hold makes a statement take that long.
	hold map[string]time.Duration
}

type fakeConn struct {
	f    *fakeExec
	dead *bool
}

func (f *fakeExec) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	f.mu.Lock()
	f.open++
	f.mu.Unlock()
	return fakeConn{f, new(bool)}, nil
}

func (c fakeConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	for i, ev := range unit {
		outs[i] = c.exec(ctx, ev)
	}
}

func (c fakeConn) exec(ctx context.Context, ev *parse.Event) Outcome {
	c.f.mu.Lock()
	c.f.ran = append(c.f.ran, ev.Text)
	c.f.mu.Unlock()
	if d := c.f.hold[ev.Text]; d > 0 {
		time.Sleep(d)
	}
	if ev.Text == "SELECT 3" && c.f.kill {
		*c.dead = true
		return Outcome{Err: fmt.Errorf("connection reset")}
	}
	return Outcome{Rows: 1}
}

func (c fakeConn) Close(ctx context.Context) error { return nil }
func (c fakeConn) Alive() bool                     { return !*c.dead }

func TestScheduleTiming(t *testing.T) {
	data := workload(t)
	for _, speed := range []float64{1, 2, 0.5} {
		t.Run(fmt.Sprint("speed ", speed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, err := parse.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				ex := &fakeExec{hold: map[string]time.Duration{"SELECT 'b1'": 2 * time.Second}}
				var mu sync.Mutex
				got := map[uint64][]*Result{}
				start := time.Now()
				st, err := Run(context.Background(), r, ex, Options{noAlarm: true, Speed: speed}, func(res *Result) {
					mu.Lock()
					got[res.Session] = append(got[res.Session], res)
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				if st.Sessions != 2 || st.Statements != 14 || ex.open != 2 {
					t.Fatalf("sessions %d statements %d opened %d", st.Sessions, st.Statements, ex.open)
				}
				// The header's start is the first log line (0 ms).
				scale := func(ms int) time.Duration { return time.Duration(float64(ms) * float64(time.Millisecond) / speed) }
				for i, res := range got[1] {
					if res.Index != i {
						t.Fatalf("session a: result %d has index %d", i, res.Index)
					}
					// Session a never waits on session b's lock.
					if want := start.Add(scale(100 + 100*i)); !res.Started.Equal(want) || res.Lateness() != 0 {
						t.Errorf("session a statement %d started at +%v, want +%v", i, res.Started.Sub(start), want.Sub(start))
					}
				}
				for i, res := range got[2] {
					want := start.Add(scale(60 + 250*i))
					if i >= 2 {
						// After the 2 s statement, b's statements run as
						// soon as they can: late, and measured so.
						if res.Started.Before(want) || res.Lateness() == 0 {
							t.Errorf("session b statement %d: started +%v lateness %v", i, res.Started.Sub(start), res.Lateness())
						}
						// The target held it up, not the replayer.
						if res.LateCause != CauseTarget {
							t.Errorf("session b statement %d: late cause %q, want %q", i, res.LateCause, CauseTarget)
						}
						continue
					}
					if !res.Started.Equal(want) {
						t.Errorf("session b statement %d started at +%v, want +%v", i, res.Started.Sub(start), want.Sub(start))
					}
				}
			})
		})
	}
}

func TestScheduleCancel(t *testing.T) {
	data := workload(t)
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 450*time.Millisecond)
		defer cancel()
		n := 0
		var mu sync.Mutex
		_, err = Run(ctx, r, &fakeExec{}, Options{noAlarm: true}, func(*Result) { mu.Lock(); n++; mu.Unlock() })
		if err == nil {
			t.Fatal("no error after cancellation")
		}
		// a: 0.1..0.4 s (4), b: 0.05, 0.3 s (2)
		if n != 6 {
			t.Errorf("%d statements ran before the cancel at 0.45 s, want 6", n)
		}
	})
}

// TestReconnectAndBeyond: a lost connection is opened again for the
// session's next statement; ALTER SYSTEM is not replayed unless asked.
func TestReconnectAndBeyond(t *testing.T) {
	data := workload(t)
	for _, include := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			r, err := parse.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			ex := &fakeExec{kill: true}
			var mu sync.Mutex
			var results []*Result
			st, err := Run(context.Background(), r, ex, Options{noAlarm: true, IncludeSystem: include}, func(res *Result) {
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Reconnects != 1 || ex.open != 3 {
				t.Errorf("reconnects %d opens %d, want 1 and 3", st.Reconnects, ex.open)
			}
			failed, skipped := 0, 0
			for _, res := range results {
				if res.Err != nil {
					failed++
				}
				if res.SkipReason == "beyond_workload" {
					skipped++
				}
			}
			if failed != 1 {
				t.Errorf("%d failed statements, want only the one that lost its connection", failed)
			}
			wantSkipped := 1
			if include {
				wantSkipped = 0
			}
			if skipped != wantSkipped {
				t.Errorf("include=%v: %d skipped as beyond the workload, want %d", include, skipped, wantSkipped)
			}
		})
	}
}

func TestShardFilter(t *testing.T) {
	const n = 4
	counts := make([]int, n)
	for k := 0; k < 1000; k++ {
		s := &parse.Session{Key: fmt.Sprintf("6b02dd%02x.%x", k%256, k)}
		hits := 0
		for i := 0; i < n; i++ {
			if ShardFilter(i, n)(s) {
				hits++
				counts[i]++
			}
		}
		if hits != 1 {
			t.Fatalf("session %s is in %d shards, want exactly 1", s.Key, hits)
		}
	}
	for i, c := range counts {
		if c < 150 {
			t.Errorf("shard %d got %d of 1000 sessions: badly balanced", i, c)
		}
	}
}

// TestGrace: after the scheduling stops, a running statement may finish
// within the grace period.
func TestGrace(t *testing.T) {
	data := workload(t)
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		// b's second statement (at 0.3 s) runs 2 s; stop at 0.5 s.
		ex := &fakeExec{hold: map[string]time.Duration{"SELECT 'b1'": 2 * time.Second}}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		var mu sync.Mutex
		var done []string
		start := time.Now()
		Run(ctx, r, ex, Options{noAlarm: true, Grace: 3 * time.Second}, func(res *Result) {
			mu.Lock()
			done = append(done, fmt.Sprint(res.Session, ":", res.Index))
			mu.Unlock()
		})
		if !strings.Contains(strings.Join(done, " "), "2:1") {
			t.Errorf("the running statement did not finish within the grace period: %v", done)
		}
		if el := time.Since(start); el != 2310*time.Millisecond {
			t.Errorf("run ended after %v, want when the held statement ended (2.31 s)", el)
		}
	})
}

type stateErr string

func (e stateErr) Error() string    { return "database does not exist" }
func (e stateErr) SQLState() string { return string(e) }

// slowDBExec refuses connections with 3D000 until its database exists.
type slowDBExec struct {
	fakeExec
	readyAt time.Time
}

func (x *slowDBExec) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	if time.Now().Before(x.readyAt) {
		return nil, fmt.Errorf("connect: %w", stateErr("3D000"))
	}
	return x.fakeExec.Open(ctx, s)
}

// TestWaitForDatabase: a session whose database is not there yet waits
// for it instead of losing its statements.
func TestWaitForDatabase(t *testing.T) {
	data := workload(t)
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ex := &slowDBExec{readyAt: time.Now().Add(300 * time.Millisecond)}
		var mu sync.Mutex
		failed := 0
		st, err := Run(context.Background(), r, ex, Options{noAlarm: true}, func(res *Result) {
			mu.Lock()
			if res.Err != nil {
				failed++
			}
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if failed != 0 || st.Statements != 14 {
			t.Errorf("%d of %d statements failed; want none: the sessions should wait for their database", failed, st.Statements)
		}
	})
}

// TestWindow replays only [0.3 s, 0.8 s] of the workload, starting the
// clock at the window's start.
func TestWindow(t *testing.T) {
	data := workload(t)
	synctest.Test(t, func(t *testing.T) {
		r, err := parse.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.UnixMicro(r.Header().Start)
		var mu sync.Mutex
		var offsets []time.Duration
		start := time.Now()
		st, err := Run(context.Background(), r, &fakeExec{}, Options{noAlarm: true, Begin: t0.Add(300 * time.Millisecond), End: t0.Add(810 * time.Millisecond)}, func(res *Result) {
			mu.Lock()
			offsets = append(offsets, res.Started.Sub(start))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		// a: 0.3 .. 0.8 s (6 statements), b: 0.31, 0.56, 0.81 s (3).
		if st.Statements != 9 {
			t.Fatalf("%d statements in the window, want 9", st.Statements)
		}
		for _, o := range offsets {
			if o < 0 || o > 510*time.Millisecond {
				t.Errorf("a statement started at +%v, outside the 0.51 s window replayed from its start", o)
			}
		}
	})
}

// TestJump: with Jump, an idle gap in the workload is skipped; without
// it, the replay waits it out.
func TestJump(t *testing.T) {
	var lines []string
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, l := range []struct {
		s   int
		msg string
	}{{0, "connection authorized: user=app database=db"}, {1, "statement: SELECT 1"}, {2, "statement: SELECT 2"},
		{3602, "statement: SELECT 3"}, {3603, "disconnection: session time: 1:00:03.000"}} {
		lines = append(lines, fmt.Sprintf("%s|app|db|a.1|LOG:  %s", base.Add(time.Duration(l.s)*time.Second).Format("2006-01-02 15:04:05.000")+" UTC", l.msg))
	}
	var data bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &data, parse.Options{Stdin: strings.NewReader(strings.Join(lines, "\n") + "\n"), Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	for _, jump := range []bool{false, true} {
		t.Run(fmt.Sprint("jump ", jump), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, err := parse.NewReader(bytes.NewReader(data.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				var got []*Result
				start := time.Now()
				st, err := Run(context.Background(), r, &fakeExec{}, Options{noAlarm: true, Jump: jump}, func(res *Result) { got = append(got, res) })
				if err != nil || len(got) != 3 {
					t.Fatalf("%d results, %v", len(got), err)
				}
				third := got[2].Started.Sub(start)
				if jump {
					// The hour of nothing is skipped: the third statement
					// runs about a second after the second.
					if third > 5*time.Second || st.Jumped < 59*time.Minute {
						t.Errorf("third statement at +%v, jumped %v", third, st.Jumped)
					}
				} else if third != 3602*time.Second || st.Jumped != 0 {
					t.Errorf("third statement at +%v, jumped %v; want +1h0m2s, 0", third, st.Jumped)
				}
				for _, res := range got {
					if res.Lateness() != 0 {
						t.Errorf("statement %d late by %v", res.Index, res.Lateness())
					}
				}
				if want := 3603*time.Second - st.Jumped; st.Scheduled != want {
					t.Errorf("scheduled %v, want %v", st.Scheduled, want)
				}
			})
		})
	}
}
