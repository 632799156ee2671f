package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// namesLog is a production log of one session in database "names": text
// sorted and compared (which depends on the collation), statements that
// do not depend on it, and statements whose result differs from run to
// run.
var namesStatements = []string{
	"statement: SELECT name FROM people ORDER BY name",
	"statement: SELECT count(*) FROM people WHERE name < 'a'",
	"statement: SELECT name FROM people WHERE name < 'a'",
	"statement: SELECT count(*) FROM people",
	"statement: SELECT upper(name) FROM people WHERE name = 'b'",
	"execute <unnamed>: SELECT name FROM people WHERE name < $1 ORDER BY name",
	"statement: SELECT random()",
	"statement: SELECT now()",
	"statement: UPDATE people SET name = name WHERE name = 'Z'",
	"statement: SELECT name FROM people WHERE name LIKE 'b%' ORDER BY 1",
}

func namesWorkload(t *testing.T) []byte {
	t.Helper()
	return sessionWorkload(t, namesStatements, 10)
}

// sessionWorkload is a workload of one session in database names running
// statements every gap milliseconds (parameters of extended ones: 'a').
func sessionWorkload(t *testing.T, statements []string, gap int) []byte {
	t.Helper()
	var b strings.Builder
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(ms int, sev, msg string) {
		fmt.Fprintf(&b, "%s [101] %x.65 00000 %s:  %s\n", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), base.Unix(), sev, msg)
	}
	line(0, "LOG", "connection authorized: user=postgres database=names")
	for i, st := range statements {
		line(10+gap*i, "LOG", st)
		if strings.Contains(st, "$1") {
			line(10+gap*i, "DETAIL", "parameters: $1 = 'a'")
		}
	}
	line(20+gap*len(statements), "LOG", "disconnection: session time: 0:00:01.000")
	var w bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &w, parse.Options{Stdin: strings.NewReader(b.String()), Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

// replayPaired replays the workload onto candidate and control at once,
// and returns both sides' results by statement index.
func replayPaired(t *testing.T, wl []byte, candidate, control *pgconn.Config) (cand, ctl map[int]*Result, st *Stats) {
	t.Helper()
	r, err := parse.NewReader(bytes.NewReader(wl))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	cand, ctl = map[int]*Result{}, map[int]*Result{}
	keep := func(m map[int]*Result) func(*Result) {
		return func(res *Result) {
			mu.Lock()
			defer mu.Unlock()
			c := *res
			m[res.Index] = &c
		}
	}
	pe := &Paired{Candidate: &PGExecutor{Config: candidate, Checksums: true}, Control: &PGExecutor{Config: control, Checksums: true}, ControlSink: keep(ctl)}
	st, err = Run(context.Background(), r, pe, Options{Speed: 4}, pe.Sink(keep(cand)))
	if err != nil {
		t.Fatal(err)
	}
	return cand, ctl, pe.ControlStats(st)
}

// TestPairedReplay replays one workload onto a C control and an ICU
// candidate at the same time: each statement reaches both, the rows and
// checksums differ exactly where the collation decides the answer, and
// statements with results of the moment are marked.
func TestPairedReplay(t *testing.T) {
	wl := namesWorkload(t)
	control := namesCluster(t, localeC)
	candidate := namesCluster(t, localeICU)
	cand, ctl, st := replayPaired(t, wl, candidate, control)
	if len(cand) != len(namesStatements) || len(ctl) != len(namesStatements) || st.OpenErrors != 0 {
		t.Fatalf("%d candidate and %d control results of %d statements, %d connect errors", len(cand), len(ctl), len(namesStatements), st.OpenErrors)
	}
	for i := range namesStatements {
		a, b := cand[i], ctl[i]
		if a.Err != nil || b.Err != nil {
			t.Fatalf("statement %d failed: candidate %v, control %v", i, a.Err, b.Err)
		}
		if b.Started.Sub(a.Started).Abs() > 500*time.Millisecond || b.Latency <= 0 || b.Scheduled.Before(a.Scheduled.Add(-sendEarly)) || b.Lateness() > 500*time.Millisecond {
			t.Errorf("statement %d: control started %v, candidate %v; control latency %v", i, b.Started, a.Started, b.Latency)
		}
	}
	same := func(i int) bool {
		return cand[i].Checksum == ctl[i].Checksum && cand[i].OrderedChecksum == ctl[i].OrderedChecksum
	}
	// ORDER BY name: the same rows in another order.
	if cand[0].Checksum != ctl[0].Checksum || cand[0].OrderedChecksum == ctl[0].OrderedChecksum || !cand[0].Ordered || cand[0].Rows != 6 {
		t.Errorf("ORDER BY name: candidate %+v, control %+v", cand[0].Outcome, ctl[0].Outcome)
	}
	// count(*) WHERE name < 'a': one row on both, another count.
	if cand[1].Rows != 1 || ctl[1].Rows != 1 || same(1) {
		t.Errorf("count < 'a': candidate %+v, control %+v", cand[1].Outcome, ctl[1].Outcome)
	}
	// name < 'a': C has B, Z, _x; ICU has _x.
	if ctl[2].Rows != 3 || cand[2].Rows != 1 {
		t.Errorf("name < 'a': %d rows on the control, %d on the candidate", ctl[2].Rows, cand[2].Rows)
	}
	if cand[5].Rows != 1 || ctl[5].Rows != 3 {
		t.Errorf("unnamed name < $1: %d rows on the candidate, %d on the control", cand[5].Rows, ctl[5].Rows)
	}
	for _, i := range []int{3, 4, 9} {
		if !same(i) || !cand[i].Checksummed || cand[i].Rows != ctl[i].Rows || cand[i].NonDeterministic != "" {
			t.Errorf("statement %d does not depend on the collation: candidate %+v, control %+v", i, cand[i].Outcome, ctl[i].Outcome)
		}
	}
	if cand[6].NonDeterministic != "random()" || cand[7].NonDeterministic != "now()" || ctl[6].NonDeterministic != "random()" {
		t.Errorf("non-deterministic: %q %q", cand[6].NonDeterministic, cand[7].NonDeterministic)
	}
	// An UPDATE returns no rows: its count is the command tag's, no checksum.
	if cand[8].Rows != 1 || cand[8].Checksummed {
		t.Errorf("UPDATE: %+v", cand[8].Outcome)
	}

	// The same clusters again: the checksums are the same from run to run.
	again, _, _ := replayPaired(t, wl, candidate, control)
	for i := range namesStatements {
		if i == 6 || i == 7 {
			continue // random(), now()
		}
		if again[i].Checksum != cand[i].Checksum || again[i].OrderedChecksum != cand[i].OrderedChecksum {
			t.Errorf("statement %d: checksum %x, then %x", i, cand[i].Checksum, again[i].Checksum)
		}
	}
}

// TestPairedControlDown: a control that refuses connections costs the
// candidate's replay nothing; the control's results say why they have no
// answer.
func TestPairedControlDown(t *testing.T) {
	wl := namesWorkload(t)
	candidate := namesCluster(t, localeC)
	down, err := pgconn.ParseConfig("host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	cand, ctl, st := replayPaired(t, wl, candidate, down)
	if st.OpenErrors != 1 || len(ctl) != len(namesStatements) {
		t.Fatalf("control: %d connect errors, %d results", st.OpenErrors, len(ctl))
	}
	for i := range namesStatements {
		if cand[i].Err != nil {
			t.Errorf("candidate statement %d: %v", i, cand[i].Err)
		}
		if ctl[i].Err == nil || !strings.Contains(ctl[i].Err.Error(), "no connection to the control") {
			t.Errorf("control statement %d: %v", i, ctl[i].Err)
		}
	}
}

// TestPairedNeitherWaits: a statement blocked on the control holds up
// the control's session only; the candidate's goes on to its schedule,
// and the control's catches up late, blamed on its own previous
// statement.
func TestPairedNeitherWaits(t *testing.T) {
	ctx := context.Background()
	wl := sessionWorkload(t, []string{"statement: BEGIN", "statement: UPDATE people SET name = name WHERE name = 'a'", "statement: COMMIT",
		"statement: SELECT count(*) FROM people", "statement: SELECT 1"}, 100)
	control := namesCluster(t, localeC)
	candidate := namesCluster(t, localeC)
	// Someone outside the replay holds the row on the control for 2 s.
	holder, err := connectTo(ctx, control, "names")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	mustExec(ctx, t, holder, "BEGIN")
	mustExec(ctx, t, holder, "SELECT * FROM people WHERE name = 'a' FOR UPDATE")
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(2 * time.Second)
		holder.Exec(ctx, "COMMIT").ReadAll()
	}()
	cand, ctl, _ := replayPaired(t, wl, candidate, control)
	<-released
	for i := 0; i < 5; i++ {
		if cand[i].Err != nil || ctl[i].Err != nil || cand[i].Lateness() > 300*time.Millisecond {
			t.Errorf("candidate statement %d: %v, %v late; control: %v", i, cand[i].Err, cand[i].Lateness(), ctl[i].Err)
		}
	}
	if ctl[1].Latency < 1500*time.Millisecond || ctl[3].Lateness() < time.Second || ctl[3].LateCause != CauseTarget || ctl[3].Scheduled.Sub(cand[3].Started).Abs() > 50*time.Millisecond {
		t.Errorf("control: UPDATE took %v; the SELECT after it started %v late (%q)", ctl[1].Latency, ctl[3].Lateness(), ctl[3].LateCause)
	}
}

// TestPairedStopped: a replay stopped while the control is stuck behind
// a lock ends after the grace period; the candidate had run everything.
func TestPairedStopped(t *testing.T) {
	ctx := context.Background()
	wl := sessionWorkload(t, []string{"statement: UPDATE people SET name = name WHERE name = 'a'", "statement: SELECT 1", "statement: SELECT 2"}, 50)
	control := namesCluster(t, localeC)
	candidate := namesCluster(t, localeC)
	holder, err := connectTo(ctx, control, "names")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	mustExec(ctx, t, holder, "BEGIN")
	mustExec(ctx, t, holder, "SELECT * FROM people WHERE name = 'a' FOR UPDATE")
	r, err := parse.NewReader(bytes.NewReader(wl))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	var cand, ctl []*Result
	pe := &Paired{Candidate: &PGExecutor{Config: candidate}, Control: &PGExecutor{Config: control}, Grace: 300 * time.Millisecond,
		ControlSink: func(res *Result) { mu.Lock(); ctl = append(ctl, res); mu.Unlock() }}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	t0 := time.Now()
	_, err = Run(rctx, r, pe, Options{Speed: 1, Grace: 300 * time.Millisecond}, pe.Sink(func(res *Result) { mu.Lock(); cand = append(cand, res); mu.Unlock() }))
	if d := time.Since(t0); d > 4*time.Second || err == nil {
		t.Errorf("the stopped replay took %v and returned %v", d, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cand) != 3 || len(ctl) != 1 || ctl[0].SQLState != "57014" {
		t.Errorf("%d candidate results, control's: %+v", len(cand), ctl)
	}
}

// TestPairedOppositeLockOrder: two sessions that take a row lock in
// opposite orders on the two clusters (the control's first session is
// held elsewhere first) while the first runs far ahead on the candidate.
// No side waits for the other, so both replays end, each in its own
// order.
func TestPairedOppositeLockOrder(t *testing.T) {
	ctx := context.Background()
	var b strings.Builder
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(ms, pid int, msg string) {
		fmt.Fprintf(&b, "%s [%d] %x.%x 00000 LOG:  %s\n", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), pid, base.Unix(), pid, msg)
	}
	line(0, 101, "connection authorized: user=postgres database=names")
	line(0, 102, "connection authorized: user=postgres database=names")
	line(1, 101, "statement: BEGIN")
	line(2, 102, "statement: BEGIN")
	line(5, 101, "statement: UPDATE people SET name = name WHERE name = 'b'")
	line(10, 101, "statement: UPDATE people SET name = name WHERE name = 'a'")
	line(15, 102, "statement: UPDATE people SET name = name WHERE name = 'a'")
	const ahead = maxAhead
	for i := range ahead {
		line(20+i, 101, "statement: SELECT 1")
	}
	line(30+ahead, 101, "statement: COMMIT")
	line(31+ahead, 102, "statement: COMMIT")
	line(40+ahead, 101, "disconnection: session time: 0:00:01.000")
	line(40+ahead, 102, "disconnection: session time: 0:00:01.000")
	var w bytes.Buffer
	if _, err := parse.Run(ctx, []string{"-"}, &w, parse.Options{Stdin: strings.NewReader(b.String()), Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatal(err)
	}
	control := namesCluster(t, localeC)
	candidate := namesCluster(t, localeC)
	holder, err := connectTo(ctx, control, "names")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	mustExec(ctx, t, holder, "BEGIN")
	mustExec(ctx, t, holder, "SELECT * FROM people WHERE name = 'b' FOR UPDATE")
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(time.Second)
		holder.Exec(ctx, "COMMIT").ReadAll()
	}()
	done := make(chan struct{})
	var cand, ctl map[int]*Result
	go func() {
		defer close(done)
		cand, ctl, _ = replayPaired(t, w.Bytes(), candidate, control)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the paired replay is stuck")
	}
	<-released
	if len(cand) == 0 || len(ctl) == 0 {
		t.Fatalf("%d candidate and %d control results", len(cand), len(ctl))
	}
}

// maxAhead is how many statements the first session runs ahead: more
// than a bounded backlog of a thousand would hold.
const maxAhead = 1500
