package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

// logLine is one line of a stderr log written for a test, with
// log_line_prefix '%m [%p] %c %e ' as the corpus uses.
type logLine struct {
	ms       int
	sid      string
	state    string // SQLSTATE, "00000" when empty
	severity string // LOG when empty
	msg      string
}

// logWorkload parses lines (in time order) into a workload reader.
func logWorkload(t *testing.T, lines []logLine) *parse.Reader {
	t.Helper()
	var b strings.Builder
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ids := map[string]int{}
	for _, l := range lines {
		// %c is the backend's start time and pid in hex.
		n, ok := ids[l.sid]
		if !ok {
			n = len(ids) + 1
			ids[l.sid] = n
		}
		pid := 4000 + n
		state, sev := l.state, l.severity
		if state == "" {
			state = "00000"
		}
		if sev == "" {
			sev = "LOG"
		}
		fmt.Fprintf(&b, "%s [%d] %x.%x %s %s:  %s\n", base.Add(time.Duration(l.ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), pid, base.Unix(), pid, state, sev, l.msg)
	}
	var out bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &out, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true, Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatalf("parse the test log: %v\n%s", err, b.String())
	}
	r, err := parse.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// logSession writes the lines of one session connecting as postgres.
func logSession(sid string, start int, stmts ...logLine) []logLine {
	out := []logLine{{ms: start, sid: sid, msg: "connection authorized: user=postgres database=postgres"}}
	end := start
	for _, s := range stmts {
		s.sid = sid
		if s.msg == "" {
			continue
		}
		if !strings.Contains(s.msg, ":  ") && s.severity == "" {
			s.msg = "statement: " + s.msg
		}
		out = append(out, s)
		end = max(end, s.ms)
	}
	return append(out, logLine{ms: end + 100, sid: sid, msg: "disconnection: session time: 0:00:01.000"})
}

// collect replays r through a results writer and returns the results in
// arrival order, the stats, and the results file it wrote.
func collect(t *testing.T, ctx context.Context, r *parse.Reader, ex Executor, opt Options) ([]*Result, *Stats, *Summary, []byte) {
	t.Helper()
	var buf bytes.Buffer
	rw, err := NewResultsWriter(&buf, ResultsHeader{Target: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var results []*Result
	st, runErr := Run(ctx, r, ex, opt, func(res *Result) {
		rw.Add(res)
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	})
	sum, err := rw.Close(st, ctx.Err() != nil)
	if err != nil {
		t.Fatal(err)
	}
	if runErr != nil && ctx.Err() == nil {
		t.Fatalf("replay: %v", runErr)
	}
	checkResultsFile(t, buf.Bytes(), len(results))
	return results, st, sum, buf.Bytes()
}

// checkResultsFile asserts the file is a header, n JSON records and a
// summary trailer.
func checkResultsFile(t *testing.T, raw []byte, n int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(raw))
	lines := 0
	var last string
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("results line %d is not JSON: %v: %s", lines+1, err, sc.Text())
		}
		if lines == 0 {
			if _, ok := v["header"]; !ok {
				t.Fatalf("first line is not the header: %s", sc.Text())
			}
		}
		lines++
		last = sc.Text()
	}
	if lines != n+2 || !strings.HasPrefix(last, `{"summary"`) {
		t.Fatalf("results file has %d lines for %d results, last %s", lines, n, last)
	}
}

func targetConfig(t *testing.T, dsn string) *pgconn.Config {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTargetRefusesConnections: every statement fails with a clear error,
// the session counts as a connect error, and the results stay valid.
func TestTargetRefusesConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := logWorkload(t, logSession("a.1", 0, logLine{ms: 50, msg: "SELECT 1"}, logLine{ms: 100, msg: "SELECT 2"}))
	// Port 1 on loopback: nothing listens, the connection is refused.
	results, st, sum, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, "host=127.0.0.1 port=1 user=postgres connect_timeout=2")}, Options{})
	if st.OpenErrors != 1 || len(results) != 2 || sum.Errors != 2 || sum.NewErrors != 2 {
		t.Fatalf("open errors %d, results %d, summary %+v", st.OpenErrors, len(results), sum)
	}
	for _, res := range results {
		if res.Err == nil || !strings.Contains(res.Err.Error(), "no connection") {
			t.Errorf("statement %d: %v, want no connection", res.Index, res.Err)
		}
	}
}

// TestBackendKilled: a backend terminated mid-statement fails that
// statement with 57P01; the session reconnects for its next one.
func TestBackendKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.DSN(t)
	r := logWorkload(t, logSession("k.1", 0,
		logLine{ms: 50, msg: "SELECT 1"},
		logLine{ms: 100, msg: "SELECT pg_sleep(5) /* kill me */"},
		logLine{ms: 1500, msg: "SELECT 2"}))
	go func() {
		c, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		// Once the statement runs, terminate its backend.
		pollSQL(ctx, c, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%kill me%' AND pid <> pg_backend_pid()")
		c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%kill me%' AND pid <> pg_backend_pid()").ReadAll()
	}()
	results, st, sum, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, dsn)}, Options{})
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	if results[1].SQLState != "57P01" {
		t.Errorf("killed statement: %q %v, want 57P01", results[1].SQLState, results[1].Err)
	}
	if results[0].Err != nil || results[2].Err != nil {
		t.Errorf("statements around the kill failed: %v, %v", results[0].Err, results[2].Err)
	}
	if st.Reconnects != 1 || sum.NewErrors != 1 {
		t.Errorf("reconnects %d, new errors %d; want 1, 1", st.Reconnects, sum.NewErrors)
	}
}

// TestTargetRestarted: the target restarts between two statements; the
// first statement after it fails on the dead connection, the session
// reconnects and goes on.
func TestTargetRestarted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := pgtest.StartCluster(t)
	r := logWorkload(t, logSession("r.1", 0,
		logLine{ms: 50, msg: "SELECT 1"},
		logLine{ms: 4000, msg: "SELECT 2"},
		logLine{ms: 4100, msg: "SELECT 3"}))
	restarted := make(chan error, 1)
	go func() {
		c, err := pgconn.Connect(ctx, cl.DSN("postgres", "postgres"))
		if err != nil {
			restarted <- err
			return
		}
		// Once the first statement has run, restart the target.
		pollSQL(ctx, c, "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query = 'SELECT 1' AND pid <> pg_backend_pid()")
		c.Close(ctx)
		restarted <- cl.Restart(ctx)
	}()
	results, st, _, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, cl.DSN("postgres", "postgres"))}, Options{})
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if len(results) != 3 || results[0].Err != nil || results[2].Err != nil {
		t.Fatalf("results %d: first %v, last %v", len(results), results[0].Err, results[len(results)-1].Err)
	}
	if results[1].Err == nil {
		t.Errorf("the statement on the connection the restart closed succeeded")
	}
	if st.Reconnects != 1 {
		t.Errorf("reconnects %d, want 1", st.Reconnects)
	}
}

// TestCancelAfterOriginalDuration: a statement the client cancelled in
// production after 300 ms is cancelled on the target after about as
// long, with a cancel request that leaves the session usable.
func TestCancelAfterOriginalDuration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := logWorkload(t, logSession("c.1", 0,
		logLine{ms: 100, msg: "SELECT pg_sleep(30)"},
		logLine{ms: 400, state: "57014", severity: "ERROR", msg: "canceling statement due to user request"},
		logLine{ms: 400, state: "57014", severity: "STATEMENT", msg: "SELECT pg_sleep(30)"},
		logLine{ms: 500, msg: "SELECT 2"}))
	results, _, sum, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, pgtest.DSN(t))}, Options{})
	if len(results) != 2 {
		t.Fatalf("%d results", len(results))
	}
	got := results[0]
	if got.SQLState != "57014" || got.Production != "57014" {
		t.Errorf("cancelled statement: %q (production %q), want 57014", got.SQLState, got.Production)
	}
	if got.Latency < 250*time.Millisecond || got.Latency > 5*time.Second {
		t.Errorf("cancelled after %v, want about 300ms", got.Latency)
	}
	if results[1].Err != nil {
		t.Errorf("the session's next statement failed: %v", results[1].Err)
	}
	if sum.NewErrors != 0 || sum.Errors != 1 {
		t.Errorf("errors %d new %d, want 1 and 0", sum.Errors, sum.NewErrors)
	}
}

// TestInterruptLeavesValidResults: cancelling the replay (Ctrl-C) while a
// statement runs lets it go for the grace period, then cancels it; the
// results file is complete and marked interrupted.
func TestInterruptLeavesValidResults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := logWorkload(t, logSession("i.1", 0,
		logLine{ms: 50, msg: "SELECT 1"},
		logLine{ms: 100, msg: "SELECT pg_sleep(60)"},
		logLine{ms: 20000, msg: "SELECT 2"}))
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	results, _, sum, _ := collect(t, ctx, r, &PGExecutor{Config: targetConfig(t, pgtest.DSN(t))}, Options{Grace: 500 * time.Millisecond})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("interrupt took %v to end the replay", took)
	}
	if !sum.Interrupted || len(results) != 2 {
		t.Fatalf("interrupted %v, %d results", sum.Interrupted, len(results))
	}
	if results[1].SQLState != "57014" {
		t.Errorf("in-flight statement after the grace period: %q %v, want cancelled (57014)", results[1].SQLState, results[1].Err)
	}
}

// pollSQL runs a count query every 20 ms until it counts something or ctx
// ends.
func pollSQL(ctx context.Context, c *pgconn.PgConn, query string) {
	for ctx.Err() == nil {
		res, err := c.Exec(ctx, query).ReadAll()
		if err == nil && len(res) == 1 && len(res[0].Rows) == 1 && string(res[0].Rows[0][0]) != "0" {
			return
		}
		sleep := time.NewTimer(20 * time.Millisecond)
		select {
		case <-sleep.C:
		case <-ctx.Done():
			sleep.Stop()
		}
	}
}
