package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

// extended returns the log lines of an extended-protocol execute (name ""
// for the unnamed statement) with its parameters.
func extended(ms int, name, text string, params ...string) []logLine {
	if name == "" {
		name = "<unnamed>"
	}
	out := []logLine{{ms: ms, severity: "LOG", msg: fmt.Sprintf("execute %s: %s", name, text)}}
	if len(params) > 0 {
		var ps []string
		for i, p := range params {
			ps = append(ps, fmt.Sprintf("$%d = '%s'", i+1, p))
		}
		out = append(out, logLine{ms: ms, severity: "DETAIL", msg: "parameters: " + strings.Join(ps, ", ")})
	}
	return out
}

func lines(parts ...any) []logLine {
	var out []logLine
	for _, p := range parts {
		switch v := p.(type) {
		case logLine:
			out = append(out, v)
		case []logLine:
			out = append(out, v...)
		}
	}
	return out
}

// TestTypesProbeNeverWaitsForTheSession: a session that holds an ACCESS
// EXCLUSIVE lock in its transaction and then runs a parameterised
// statement never seen before on that table must not wait for the probe
// that learns the statement's types, whose Parse waits for that very
// lock: the replay ends, and the statement runs in its transaction.
func TestTypesProbeNeverWaitsForTheSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.DSN(t)
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(ctx, t, c, "DROP TABLE IF EXISTS probe_lock; CREATE TABLE probe_lock (id int)")
	c.Close(ctx)
	r := logWorkload(t, logSession("p.1", 0, lines(
		logLine{ms: 50, msg: "BEGIN"},
		logLine{ms: 60, msg: "LOCK TABLE probe_lock IN ACCESS EXCLUSIVE MODE"},
		extended(70, "", "INSERT INTO probe_lock VALUES ($1)", "7"),
		logLine{ms: 80, msg: "COMMIT"})...))
	done := make(chan struct{})
	var results []*Result
	go func() {
		defer close(done)
		results, _, _, _ = collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, dsn)}, Options{})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the replay hangs: the session waits for a probe that waits for the session's lock")
	}
	if len(results) != 4 {
		t.Fatalf("%d results", len(results))
	}
	for _, res := range results {
		if res.Err != nil {
			t.Errorf("statement %d: %v", res.Index, res.Err)
		}
	}
}

// TestGraceCancelIsAnInterruption: a statement still running when the
// grace period after Ctrl-C runs out is cancelled, and recorded as
// interrupted: no error of the target, no new error.
func TestGraceCancelIsAnInterruption(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := logWorkload(t, logSession("g.1", 0,
		logLine{ms: 50, msg: "SELECT 1"},
		logLine{ms: 100, msg: "SELECT pg_sleep(60)"},
		logLine{ms: 20000, msg: "SELECT 2"}))
	// The server first: run alone, the test would start it inside the
	// half second before the interruption.
	cfg := targetConfig(t, pgtest.DSN(t))
	time.AfterFunc(500*time.Millisecond, cancel)
	results, _, sum, raw := collect(t, ctx, r, &PGExecutor{Config: cfg}, Options{Grace: 300 * time.Millisecond})
	if len(results) != 2 {
		t.Fatalf("%d results", len(results))
	}
	if got := results[1]; !got.Interrupted || got.SQLState != "57014" {
		t.Errorf("the statement the grace period cancelled: interrupted %v, %q", got.Interrupted, got.SQLState)
	}
	if results[0].Interrupted {
		t.Errorf("a statement that finished is marked interrupted")
	}
	if sum.NewErrors != 0 || sum.Errors != 0 || sum.InterruptedStatements != 1 || !sum.Interrupted {
		t.Errorf("summary: errors %d, new %d, interrupted statements %d, interrupted %v", sum.Errors, sum.NewErrors, sum.InterruptedStatements, sum.Interrupted)
	}
	if !strings.Contains(string(raw), `"interrupted":true,"sqlstate":"57014"`) {
		t.Errorf("the results line does not say so:\n%s", raw)
	}
}

// TestUnreachableTargetStopsTheReplay: when no session can connect for
// longer than Options.Unreachable, the replay stops with an
// UnreachableError naming since when, and the sessions backed off
// meanwhile instead of trying thousands of times a second.
func TestUnreachableTargetStopsTheReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ls []logLine
	for s := 0; s < 3; s++ {
		var stmts []logLine
		for i := 0; i < 200; i++ {
			stmts = append(stmts, logLine{ms: 10 + 50*i, msg: fmt.Sprintf("SELECT %d", i)})
		}
		ls = append(ls, logSession(fmt.Sprintf("u.%d", s), s, stmts...)...)
	}
	r := logWorkload(t, ls)
	// Nothing listens on port 1: every connect is refused at once.
	ex := &PGExecutor{Config: targetConfig(t, "host=127.0.0.1 port=1 user=postgres connect_timeout=2")}
	var mu sync.Mutex
	n := 0
	start := time.Now()
	st, err := Run(ctx, r, ex, Options{Unreachable: 2 * time.Second}, func(*Result) { mu.Lock(); n++; mu.Unlock() })
	took := time.Since(start)
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err %v, want an UnreachableError", err)
	}
	if ue.Since.Before(start) || ue.Since.After(start.Add(time.Second)) || !strings.Contains(err.Error(), "stayed unreachable since") {
		t.Errorf("unreachable since %v (replay started %v): %v", ue.Since, start, err)
	}
	if took > 10*time.Second || st.UnreachableSince.IsZero() {
		t.Errorf("stopped after %v, since %v", took, st.UnreachableSince)
	}
	// 3 sessions backing off from 50 ms to 5 s for a few seconds: a few
	// dozen attempts, not thousands.
	if st.ConnectFailures < 3 || st.ConnectFailures > 60 {
		t.Errorf("%d connect attempts failed in %v", st.ConnectFailures, took)
	}
	if n == 0 || n >= 600 {
		t.Errorf("%d results of 600 statements", n)
	}
}

// TestTooManyConnections: a target whose max_connections is full refuses
// sessions with 53300; they are counted apart, their statements record
// 53300 (not "connection"), and the warning names the setting.
func TestTooManyConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := pgtest.StartCluster(t, "max_connections = 6")
	var ls []logLine
	for s := 0; s < 12; s++ {
		ls = append(ls, logSession(fmt.Sprintf("m.%d", s), s,
			logLine{ms: 100 + s, msg: "SELECT pg_sleep(1.5)"},
			logLine{ms: 1700 + s, msg: "SELECT 1"})...)
	}
	r := logWorkload(t, ls)
	var warnings []string
	var wmu sync.Mutex
	opt := Options{MaxConnections: 6, PeakSessions: 12, Warn: func(s string) { wmu.Lock(); warnings = append(warnings, s); wmu.Unlock() }}
	results, st, sum, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, cl.DSN("postgres", "postgres"))}, opt)
	if st.RefusedConnections == 0 || sum.RefusedConnections != int64(st.RefusedConnections) || st.PeakConnections > 6 {
		t.Fatalf("refused %d (summary %d), peak connections %d", st.RefusedConnections, sum.RefusedConnections, st.PeakConnections)
	}
	refused := 0
	for _, res := range results {
		if res.Err != nil {
			if res.SQLState != "53300" {
				t.Errorf("session %d statement %d: %q %v, want 53300", res.Session, res.Index, res.SQLState, res.Err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("no statement failed for want of a connection")
	}
	wmu.Lock()
	defer wmu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "too many connections (SQLSTATE 53300): the target's max_connections is 6, the workload peaks at 12 concurrent sessions") {
		t.Errorf("warnings %q", warnings)
	}
	if !strings.Contains(sum.ConnectionLimit, "max_connections") || !strings.Contains(sum.ConnectionLimit, "53300") {
		t.Errorf("summary: %q", sum.ConnectionLimit)
	}
}

// TestFailedParseLeavesNoTransactionOpen: a named statement whose Parse
// fails, alone or in a pipeline, and with --unnamed, leaves the session
// idle, outside any transaction, as production's Sync did; the next
// statement works.
func TestFailedParseLeavesNoTransactionOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := &parse.Session{ID: 1, User: "postgres", Database: "postgres", Application: "parse-fails"}
	bad := &parse.Event{Kind: parse.Statement, Session: s, Protocol: parse.Named, Name: "S_1", Text: "SELEC 1"}
	good := &parse.Event{Kind: parse.Statement, Session: s, Protocol: parse.Named, Name: "S_2", Text: "SELECT $1::int", Params: []parse.Param{{Value: "1"}}}
	next := &parse.Event{Kind: parse.Statement, Session: s, Protocol: parse.Simple, Text: "SELECT 1"}
	for _, unnamed := range []bool{false, true} {
		for _, unit := range [][]*parse.Event{{bad}, {good, bad}} {
			t.Run(fmt.Sprintf("unnamed=%v/%d", unnamed, len(unit)), func(t *testing.T) {
				ex := &PGExecutor{Config: targetConfig(t, pgtest.DSN(t)), Unnamed: unnamed}
				defer ex.Close(ctx)
				c, err := ex.Open(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				outs := make([]Outcome, len(unit))
				c.Run(ctx, unit, outs)
				if last := outs[len(outs)-1]; last.SQLState != "42601" {
					t.Errorf("the bad statement: %q %v", last.SQLState, last.Err)
				}
				if st := c.(*pgConn).c.TxStatus(); st != 'I' {
					t.Errorf("transaction status %q after the failed Parse, want I (idle)", st)
				}
				o := make([]Outcome, 1)
				c.Run(ctx, []*parse.Event{next}, o)
				if o[0].Err != nil {
					t.Errorf("the next statement: %v", o[0].Err)
				}
				if outs[0].Unnamed != (unnamed && len(unit) == 2) && len(unit) == 2 {
					t.Errorf("unnamed %v, sent unnamed %v", unnamed, outs[0].Unnamed)
				}
			})
		}
	}
}

// TestCancelThroughPgBouncer: a statement production cancelled is
// cancelled on the target through PgBouncer as well, and the pooler
// lives on: the replayer waits for its cancel request to be answered
// rather than hanging up on it, which made PgBouncer 1.18 exit.
func TestCancelThroughPgBouncer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := pgtest.StartCluster(t)
	pb := pgtest.StartPgBouncer(t, cl, "transaction")
	var ls []logLine
	for s := 0; s < 4; s++ {
		var stmts []logLine
		for i := 0; i < 5; i++ {
			ms := 100 + 400*i + 10*s
			stmts = append(stmts,
				logLine{ms: ms, msg: "SELECT pg_sleep(30)"},
				logLine{ms: ms + 150, state: "57014", severity: "ERROR", msg: "canceling statement due to user request"},
				logLine{ms: ms + 150, state: "57014", severity: "STATEMENT", msg: "SELECT pg_sleep(30)"},
				logLine{ms: ms + 250, msg: "SELECT 2"})
		}
		ls = append(ls, logSession(fmt.Sprintf("c.%d", s), s, stmts...)...)
	}
	sortLines(ls)
	results, st, _, _ := collect(t, ctx, logWorkload(t, ls), &PGExecutor{Config: targetConfig(t, pb.DSN("postgres", "postgres"))}, Options{})
	if len(results) != 40 || st.ConnectFailures != 0 {
		t.Fatalf("%d results, %d connect failures", len(results), st.ConnectFailures)
	}
	for _, res := range results {
		want := ""
		if res.Production == "57014" {
			want = "57014"
		}
		if res.SQLState != want {
			t.Errorf("session %d statement %d: %q %v, want %q", res.Session, res.Index, res.SQLState, res.Err, want)
		}
	}
	c, err := pgconn.Connect(ctx, pb.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatalf("PgBouncer is gone after the cancels: %v", err)
	}
	c.Close(ctx)
}

// sortLines orders log lines by time, as a server writes them.
func sortLines(ls []logLine) {
	slices.SortStableFunc(ls, func(a, b logLine) int { return a.ms - b.ms })
}
