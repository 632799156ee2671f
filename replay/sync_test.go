package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// The gating rules of --sync, tested with a fake executor that keeps row
// locks as a server does (an UPDATE locks its row until its transaction
// ends) in fake time: which session gets a row first is then decided by
// the replay alone.

// syncLine is one entry of a log of durations: it ends at ms, took dur.
type syncLine struct {
	ms, dur float64
	s       byte // session letter; its pid is 100 + its place
	text    string
}

// syncWorkload parses a log of durations (stderr, "%m|%p|%u|%d|%c|") of
// sessions a, b, c..., connected at 0 and gone at 9 s.
func syncWorkload(t *testing.T, lines []syncLine) []byte {
	t.Helper()
	var b strings.Builder
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	seen := map[byte]bool{}
	write := func(ms float64, s byte, msg string) {
		ts := t0.Add(time.Duration(ms * float64(time.Millisecond))).Format("2006-01-02 15:04:05.000")
		fmt.Fprintf(&b, "%s UTC|%d|app|db|6b0f5e7b.%x|%s\n", ts, 100+int(s-'a'), 100+int(s-'a'), msg)
	}
	for _, l := range lines {
		if !seen[l.s] {
			seen[l.s] = true
			write(0, l.s, "LOG:  connection authorized: user=app database=db")
		}
	}
	for _, l := range lines {
		write(l.ms, l.s, fmt.Sprintf("LOG:  duration: %.3f ms  statement: %s", l.dur, l.text))
	}
	for s := range seen {
		write(9000, s, "LOG:  disconnection: session time: 0:00:09.000")
	}
	var out bytes.Buffer
	opt := parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true, Format: parse.FormatStderr, Prefix: "%m|%p|%u|%d|%c|"}
	if _, err := parse.Run(context.Background(), []string{"-"}, &out, opt); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// lockExec is a fake target with row locks.
type lockExec struct {
	mu      sync.Mutex
	held    map[string]int // row -> conn holding it
	changed chan struct{}
	order   []string // "a:t/1" as rows were locked
	conns   int
	// hold makes a statement (by text) take that long; fail makes it
	// fail with that SQLSTATE; extra makes it lock another row too.
	hold  map[string]time.Duration
	fail  map[string]string
	extra map[string]string
	// waiting is which row each conn waits for.
	waiting map[int]string
}

func newLockExec() *lockExec {
	return &lockExec{held: map[string]int{}, changed: make(chan struct{}), hold: map[string]time.Duration{},
		fail: map[string]string{}, extra: map[string]string{}, waiting: map[int]string{}}
}

type lockConn struct {
	x       *lockExec
	id      int
	name    string
	inBlock bool
}

func (x *lockExec) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.conns++
	return &lockConn{x: x, id: x.conns, name: string(rune('a' + int(s.PID-100)))}, nil
}

func (c *lockConn) BackendPID() uint32 { return uint32(1000 + c.id) }

var updateRow = regexp.MustCompile(`^UPDATE (\w+) SET .* WHERE id = (\d+)$`)

func (c *lockConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	for i, ev := range unit {
		outs[i] = c.exec(ctx, ev)
	}
}

func (c *lockConn) exec(ctx context.Context, ev *parse.Event) Outcome {
	x := c.x
	if d := x.hold[ev.Text]; d > 0 {
		time.Sleep(d)
	}
	switch ev.Text {
	case "BEGIN", "START TRANSACTION":
		c.inBlock = true
		return Outcome{}
	case "COMMIT", "ROLLBACK":
		c.inBlock = false
		x.release(c.id)
		return Outcome{}
	}
	if st := x.fail[ev.Text]; st != "" {
		return Outcome{Err: errors.New("fake failure"), SQLState: st}
	}
	if m := updateRow.FindStringSubmatch(ev.Text); m != nil {
		rows := []string{m[1] + "/" + m[2]}
		if r := x.extra[ev.Text]; r != "" {
			rows = append([]string{r}, rows...)
		}
		for _, r := range rows {
			if err := x.lock(ctx, c, r); err != nil {
				return Outcome{Err: err, SQLState: "57014"}
			}
		}
		if !c.inBlock {
			x.release(c.id)
		}
	}
	return Outcome{Rows: 1}
}

// lock takes row for c, waiting while another conn holds it.
func (x *lockExec) lock(ctx context.Context, c *lockConn, row string) error {
	for {
		x.mu.Lock()
		h, ok := x.held[row]
		if !ok || h == c.id {
			x.held[row] = c.id
			delete(x.waiting, c.id)
			x.order = append(x.order, c.name+":"+row)
			x.mu.Unlock()
			return nil
		}
		x.waiting[c.id] = row
		ch := x.changed
		x.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (x *lockExec) release(id int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for r, h := range x.held {
		if h == id {
			delete(x.held, r)
		}
	}
	close(x.changed)
	x.changed = make(chan struct{})
}

// Waits answers as pg_blocking_pids would.
func (x *lockExec) Waits(ctx context.Context, pids []uint32) ([]Wait, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []Wait
	for _, pid := range pids {
		w := Wait{PID: pid, State: "active"}
		if row, ok := x.waiting[int(pid)-1000]; ok {
			w.Type, w.Event = "Lock", "transactionid"
			w.BlockedBy = []Blocker{{PID: uint32(1000 + x.held[row])}}
		}
		out = append(out, w)
	}
	return out, nil
}

func (c *lockConn) Close(ctx context.Context) error {
	c.x.release(c.id)
	return nil
}
func (c *lockConn) Alive() bool { return true }

// fakeSyncRun replays data through x under mode in fake time, returning the
// results by session letter and the warnings.
func fakeSyncRun(t *testing.T, data []byte, x *lockExec, mode SyncMode) (map[byte][]*Result, *Stats, []string) {
	t.Helper()
	return fakeSyncRunFrom(t, data, x, mode, time.Time{})
}

// fakeSyncRunFrom is fakeSyncRun of the window from begin on.
func fakeSyncRunFrom(t *testing.T, data []byte, x *lockExec, mode SyncMode, begin time.Time) (map[byte][]*Result, *Stats, []string) {
	t.Helper()
	r, err := parse.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	got := map[byte][]*Result{}
	var warns []string
	opt := Options{noAlarm: true, Speed: 1, Begin: begin, Sync: SyncOptions{Mode: mode}, Warn: func(s string) {
		mu.Lock()
		warns = append(warns, s)
		mu.Unlock()
	}}
	st, err := Run(context.Background(), r, x, opt, func(res *Result) {
		mu.Lock()
		got[byte('a'+res.Session-1)] = append(got[byte('a'+res.Session-1)], res)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st, warns
}

// contended is the workload of the tests: a updates row 1 of t in a
// transaction that commits at 2 ms; b writes after that commit (at 5 ms)
// to table bTable.
func contended(t *testing.T, bTable string) []byte {
	return syncWorkload(t, []syncLine{
		{0.05, 0.05, 'a', "BEGIN"},
		{1.05, 0.05, 'a', "UPDATE t SET v = 1 WHERE id = 1"},
		{1.55, 0.05, 'a', "SELECT 1"},
		{2.05, 0.05, 'a', "COMMIT"},
		{5.05, 0.05, 'b', "UPDATE " + bTable + " SET v = 2 WHERE id = 1"},
	})
}

// TestSyncCommitOrder: a session slow on the target does not lose its
// row to one that, in production, came after its commit.
func TestSyncCommitOrder(t *testing.T) {
	data := contended(t, "t")
	for _, tc := range []struct {
		mode  SyncMode
		order string
	}{
		{SyncOff, "b:t/1 a:t/1"},
		{SyncCommit, "a:t/1 b:t/1"},
		{SyncObjects, "a:t/1 b:t/1"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x := newLockExec()
				x.hold["BEGIN"] = 100 * time.Millisecond
				got, st, _ := fakeSyncRun(t, data, x, tc.mode)
				if o := strings.Join(x.order, " "); o != tc.order {
					t.Errorf("rows locked in the order %s, want %s", o, tc.order)
				}
				b := got['b'][0]
				if tc.mode == SyncOff {
					if b.Sync.Wait != 0 || st.Sync.Waited != 0 {
						t.Errorf("off: b waited %v (%d waits)", b.Sync.Wait, st.Sync.Waited)
					}
					return
				}
				if b.Sync.Wait < 90*time.Millisecond || b.Sync.TimedOut || b.LateCause != CauseSync {
					t.Errorf("b: sync %+v, late cause %q; want a wait of about 100 ms for a's commit", b.Sync, b.LateCause)
				}
				if st.Sync == nil || st.Sync.Waited != 1 || st.Sync.TimedOut != 0 || st.Sync.Mode != string(tc.mode) {
					t.Errorf("summary %+v", st.Sync)
				}
			})
		})
	}
}

// TestSyncObjectsIndependent: under objects, a statement on another table
// does not wait for the commit; under commit it does.
func TestSyncObjectsIndependent(t *testing.T) {
	data := contended(t, "u")
	for _, tc := range []struct {
		mode SyncMode
		wait bool
	}{{SyncCommit, true}, {SyncObjects, false}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x := newLockExec()
				x.hold["BEGIN"] = 100 * time.Millisecond
				got, _, _ := fakeSyncRun(t, data, x, tc.mode)
				b := got['b'][0]
				if waited := b.Sync.Wait > 0; waited != tc.wait || !tc.wait && b.Lateness() != 0 {
					t.Errorf("b: sync %+v, lateness %v; want a wait: %v", b.Sync, b.Lateness(), tc.wait)
				}
			})
		})
	}
}

// TestSyncFailedReleases: a transaction that fails on the target holds
// nothing: who waits for its commit goes on when it fails, not when its
// session gets to the COMMIT.
func TestSyncFailedReleases(t *testing.T) {
	data := contended(t, "t")
	synctest.Test(t, func(t *testing.T) {
		x := newLockExec()
		x.hold["BEGIN"] = 100 * time.Millisecond
		x.fail["UPDATE t SET v = 1 WHERE id = 1"] = "40001"
		x.hold["SELECT 1"] = 400 * time.Millisecond
		start := time.Now()
		got, _, _ := fakeSyncRun(t, data, x, SyncObjects)
		b := got['b'][0]
		if at := b.Started.Sub(start); at < 100*time.Millisecond || at > 110*time.Millisecond || b.Sync.TimedOut {
			t.Errorf("b started at +%v (sync %+v); want it when a's UPDATE failed, at +100ms", at, b.Sync)
		}
		if a := got['a']; a[len(a)-1].Started.Sub(start) < 500*time.Millisecond {
			t.Errorf("a's COMMIT started at +%v, before its 400 ms SELECT ended", a[len(a)-1].Started.Sub(start))
		}
	})
}

// TestSyncBound: a session far behind is waited for only so long; then
// the statement goes on, the user is told which sessions, and the
// results count it.
func TestSyncBound(t *testing.T) {
	data := contended(t, "u")
	synctest.Test(t, func(t *testing.T) {
		x := newLockExec()
		x.hold["BEGIN"] = 10 * time.Second
		start := time.Now()
		got, st, warns := fakeSyncRun(t, data, x, SyncCommit)
		b := got['b'][0]
		// The floor (1 s) is above 4 times the gap (3 ms).
		if at := b.Started.Sub(start); !b.Sync.TimedOut || at < 1000*time.Millisecond || at > 1010*time.Millisecond {
			t.Errorf("b started at +%v with sync %+v; want it at the 1 s bound, timed out", at, b.Sync)
		}
		if st.Sync.TimedOut != 1 || st.Sync.Waited != 1 || len(st.Sync.Sessions) != 1 || st.Sync.Sessions[0].Session != 2 ||
			len(st.Sync.Sessions[0].On) != 1 || st.Sync.Sessions[0].On[0] != 1 {
			t.Errorf("summary %+v", st.Sync)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "session 2's statement 0") || !strings.Contains(warns[0], "session 1's statement 3") {
			t.Errorf("warnings %q; want one naming both sessions", warns)
		}
	})
}

// TestSyncCycle: when the session waited for waits, on the target, for a
// lock the waiting one holds (the target behaved otherwise than
// production), the statement goes on at once rather than at the bound.
func TestSyncCycle(t *testing.T) {
	data := syncWorkload(t, []syncLine{
		{0.05, 0.05, 'a', "BEGIN"},
		{1.05, 0.05, 'a', "UPDATE t SET v = 1 WHERE id = 1"},
		{2.05, 0.05, 'a', "COMMIT"},
		{0.55, 0.05, 'b', "START TRANSACTION"},
		{0.75, 0.05, 'b', "UPDATE t SET v = 2 WHERE id = 2"},
		{5.05, 0.05, 'b', "UPDATE u SET v = 2 WHERE id = 1"},
		{6.05, 0.05, 'b', "COMMIT"},
	})
	synctest.Test(t, func(t *testing.T) {
		x := newLockExec()
		x.hold["BEGIN"] = 50 * time.Millisecond
		// On the target a's UPDATE also needs row 2, which b holds.
		x.extra["UPDATE t SET v = 1 WHERE id = 1"] = "t/2"
		start := time.Now()
		got, st, warns := fakeSyncRun(t, data, x, SyncCommit)
		b := got['b'][2]
		if at := b.Started.Sub(start); !b.Sync.Cycle || b.Sync.TimedOut || at > 60*time.Millisecond {
			t.Errorf("b's UPDATE of u started at +%v with sync %+v; want it soon after a blocked on b's row", at, b.Sync)
		}
		if st.Sync.Cycles != 1 || len(warns) != 1 || !strings.Contains(warns[0], "waits for a lock session 2 holds") {
			t.Errorf("cycles %d, warnings %q", st.Sync.Cycles, warns)
		}
		if o := strings.Join(x.order, " "); o != "b:t/2 b:u/1 a:t/2 a:t/1" {
			t.Errorf("rows locked in the order %s", o)
		}
	})
}

// TestSyncWindow: in a replay of a window (--begin), a statement before
// it is not replayed, and is not waited for.
func TestSyncWindow(t *testing.T) {
	data := contended(t, "t")
	synctest.Test(t, func(t *testing.T) {
		x := newLockExec()
		begin := time.Date(2026, 11, 22, 12, 0, 0, 3_000_000, time.UTC)
		got, st, warns := fakeSyncRunFrom(t, data, x, SyncCommit, begin)
		b := got['b'][0]
		if b.Sync.Wait != 0 || b.Lateness() > time.Millisecond || st.Sync.TimedOut != 0 || len(warns) != 0 || len(got['a']) != 0 {
			t.Errorf("b: sync %+v, lateness %v, warnings %q; a ran %d statements", b.Sync, b.Lateness(), warns, len(got['a']))
		}
	})
}
