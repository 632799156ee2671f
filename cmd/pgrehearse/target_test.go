package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// sessionsLog writes a log of n sessions that each run body(session,
// at) from 100 ms on, and parses it into a workload.
func sessionsLog(t *testing.T, dir string, n int, body func(s int, at func(ms int, msg string))) string {
	t.Helper()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Minute)
	type line struct {
		ms  int
		txt string
	}
	var lines []line
	for s := 0; s < n; s++ {
		sid := fmt.Sprintf("%x.%x", 1000+s, 2000+s)
		at := func(ms int, msg string) {
			lines = append(lines, line{ms, fmt.Sprintf("%s|postgres|postgres|%s|%s", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), sid, msg)})
		}
		at(s, "LOG:  connection authorized: user=postgres database=postgres")
		body(s, at)
	}
	// In time order, as the server wrote them.
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].ms < lines[j-1].ms; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.txt + "\n")
	}
	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(b.String()), 0o600)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	return w
}

func readSummary(t *testing.T, results string) *replay.Summary {
	t.Helper()
	raw, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var v struct{ Summary *replay.Summary }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &v); err != nil || v.Summary == nil {
		t.Fatalf("%s has no summary: %v", results, err)
	}
	return v.Summary
}

// passedOrLoaded reports whether compare passed its gates: GO, or
// INCONCLUSIVE only because the replay fell behind schedule for want of
// the replayer's CPU or connection setup, which a busy test machine does
// to a replay of a fraction of a second (a session's first statement is
// late when its connection takes 100 ms). Any failed gate, new error or
// other reason is a failure.
func passedOrLoaded(code int, c *compare.Comparison) bool {
	if code == exitOK {
		return true
	}
	f := c.Fidelity
	behind := code == exitInconclusive && f.BehindSchedule && (f.Bottleneck == "replayer" || f.Bottleneck == replay.CauseConnect)
	for _, g := range c.Gates {
		if g.Status != compare.Pass {
			return false
		}
	}
	return behind && c.Errors.NewN == 0
}

func readComparison(t *testing.T, path string) *compare.Comparison {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compare.ReadComparison(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// namedStatements: each session prepares S_1 and executes it, alone and
// in transactions, as pgJDBC or pgbench -M prepared do.
func namedStatements(s int, at func(ms int, msg string)) {
	for i := 0; i < 10; i++ {
		ms := 100 + 60*i + s
		at(ms, "LOG:  statement: BEGIN")
		at(ms+5, "LOG:  execute S_1: SELECT $1::int + 1")
		at(ms+5, fmt.Sprintf("DETAIL:  parameters: $1 = '%d'", i))
		at(ms+10, "LOG:  execute S_2: SELECT $1::text")
		at(ms+10, "DETAIL:  parameters: $1 = 'x'")
		at(ms+15, "LOG:  statement: COMMIT")
		at(ms+20, "LOG:  execute S_1: SELECT $1::int + 1")
		at(ms+20, fmt.Sprintf("DETAIL:  parameters: $1 = '%d'", i))
	}
	at(900+s, "LOG:  disconnection: session time: 0:00:00.900")
}

// TestReplayThroughTransactionPooler: through PgBouncer in transaction
// mode, replay says what the pooler means and refuses to start (exit 2,
// naming --unnamed); with --unnamed the named statements run unnamed,
// without a false error, and compare reports the protocol change.
// Through a session pooler it only notes the pooler.
func TestReplayThroughTransactionPooler(t *testing.T) {
	dir := t.TempDir()
	cl := pgtest.StartCluster(t)
	tx := pgtest.StartPgBouncer(t, cl, "transaction")
	w := sessionsLog(t, dir, 6, namedStatements)
	res := filepath.Join(dir, "r.jsonl")
	code, _, stderr := run(t, nil, "replay", "-q", "--target", tx.DSN("postgres", "postgres"), "-o", res, w)
	for _, want := range []string{"is a transaction pooler", fmt.Sprintf("which listens on %d", cl.Port()), "in its next transaction", "the workload's 180 named statements would fail with 26000", "--unnamed"} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want 2 saying %q:\n%s", code, want, stderr)
		}
	}
	if _, err := os.Stat(res); err == nil {
		t.Errorf("a refused replay left a results file")
	}
	code, _, stderr = run(t, nil, "replay", "-q", "--unnamed", "--target", tx.DSN("postgres", "postgres"), "-o", res, w)
	if code != exitOK || !strings.Contains(stderr, "warning: --target") || !strings.Contains(stderr, "180 named statements were sent unnamed") {
		t.Fatalf("--unnamed: exit %d\n%s", code, stderr)
	}
	sum := readSummary(t, res)
	if sum.Unnamed != 180 || sum.Errors != 0 || sum.Statements != 300 {
		t.Errorf("summary: %d unnamed, %d errors of %d statements", sum.Unnamed, sum.Errors, sum.Statements)
	}
	// The default sync is off through a transaction pooler, said so; an
	// explicit mode is kept, with a warning.
	if !strings.Contains(stderr, "runs with --sync off, not the default --sync objects") || sum.Sync != nil && sum.Sync.Mode != "off" {
		t.Errorf("default --sync through a transaction pooler: mode %+v\n%s", sum.Sync, stderr)
	}
	code, _, stderr = run(t, nil, "replay", "-q", "--unnamed", "--sync", "objects", "--target", tx.DSN("postgres", "postgres"), "-o", filepath.Join(dir, "o.jsonl"), w)
	if code != exitOK || !strings.Contains(stderr, "warning: --sync objects through a transaction pooler") {
		t.Errorf("--sync objects through a transaction pooler: exit %d\n%s", code, stderr)
	} else if y := readSummary(t, filepath.Join(dir, "o.jsonl")).Sync; y == nil || y.Mode != "objects" {
		t.Errorf("--sync objects through a transaction pooler replayed with %+v", y)
	}
	out := filepath.Join(dir, "c.json")
	code, _, stderr = run(t, nil, "compare", "--workload", w, "--results", res, "-o", out, "--gate", "errors.new == 0")
	c := readComparison(t, out)
	if !passedOrLoaded(code, c) {
		t.Fatalf("compare: exit %d %s", code, stderr)
	}
	if c.Fidelity.Unnamed != 180 {
		t.Errorf("fidelity: %d unnamed", c.Fidelity.Unnamed)
	}

	sess := pgtest.StartPgBouncer(t, cl, "session")
	code, _, stderr = run(t, nil, "replay", "-q", "--target", sess.DSN("postgres", "postgres"), "-o", filepath.Join(dir, "s.jsonl"), w)
	if code != exitOK || !strings.Contains(stderr, "a proxy or a session pooler") || readSummary(t, filepath.Join(dir, "s.jsonl")).Errors != 0 {
		t.Errorf("session pooler: exit %d\n%s", code, stderr)
	}
}

// TestCorpusThroughPgBouncer: the shared corpus A, replayed through
// PgBouncer 1.18 in transaction mode with --unnamed, has none of the
// 26000 and 42P05 errors named statements had there, and the pooler
// survives the workload's cancel request.
func TestCorpusThroughPgBouncer(t *testing.T) {
	dir := t.TempDir()
	cl := pgtest.StartCluster(t)
	pb := pgtest.StartPgBouncer(t, cl, "transaction", "app_user", "bench_user", "report_user")
	w := filepath.Join(dir, "a.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, corpus.Path("A-stderr.log.gz")); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	res := filepath.Join(dir, "r.jsonl")
	code, _, stderr := run(t, nil, "replay", "-q", "--unnamed", "--target", pb.DSN("postgres", "postgres"), "-o", res, w)
	if code != exitOK {
		t.Fatalf("replay: exit %d\n%s", code, stderr)
	}
	sum := readSummary(t, res)
	// No named statement fails for want of its preparation (SQL-level
	// PREPARE and EXECUTE are session state, which the pooler does not
	// keep, and may).
	named := namedKeys(t, w)
	raw, _ := os.ReadFile(res)
	failed := map[string]int{}
	for _, l := range strings.Split(string(raw), "\n") {
		var v struct {
			S        uint64 `json:"s"`
			I        int    `json:"i"`
			K        string `json:"k"`
			SQLState string `json:"sqlstate"`
		}
		if !strings.HasPrefix(l, `{"s"`) || json.Unmarshal([]byte(l), &v) != nil || v.K != "" {
			continue
		}
		if named[[2]uint64{v.S, uint64(v.I)}] && v.SQLState != "" {
			failed[v.SQLState]++
		}
	}
	if len(named) != 59160 || failed["26000"] > 0 || failed["42P05"] > 0 {
		t.Errorf("%d named statements; failed: %v", len(named), failed)
	}
	// Session state (search_path, LISTEN, SQL-level PREPARE) still does
	// not survive the pooler: a few errors, not tens of thousands.
	if sum.Unnamed != 59160 || sum.ConnectFailures != 0 || sum.NewErrors > 500 || sum.Statements != 163397 {
		t.Errorf("summary: %d unnamed, %d connect failures, %d new errors of %d statements", sum.Unnamed, sum.ConnectFailures, sum.NewErrors, sum.Statements)
	}
}

// namedKeys returns the session and index of every named statement of a
// workload.
func namedKeys(t *testing.T, path string) map[[2]uint64]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := parse.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[[2]uint64]bool{}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == parse.Statement && ev.Protocol == parse.Named {
			out[[2]uint64{ev.Session.ID, uint64(ev.Index)}] = true
		}
	}
}

// workUntil makes each session run a statement every 100 ms until ms.
func workUntil(ms int) func(s int, at func(int, string)) {
	return func(s int, at func(int, string)) {
		for t := 100; t < ms; t += 100 {
			at(t+s, fmt.Sprintf("LOG:  statement: SELECT %d", t))
		}
		at(ms+s, "LOG:  disconnection: session time: 0:00:10.000")
	}
}

// TestTargetLostMidReplay: a target stopped mid-replay stops the replay
// with exit 1 once every connection has failed for --unreachable-after,
// saying since when; the sessions back off meanwhile, and compare, with
// the default gates, calls the results INCONCLUSIVE, the statements that
// failed for want of a connection counted apart. A target restarted
// within the bound lets the replay go on.
func TestTargetLostMidReplay(t *testing.T) {
	dir := t.TempDir()
	w := sessionsLog(t, dir, 4, workUntil(8000))
	t.Run("stopped", func(t *testing.T) {
		cl := pgtest.StartCluster(t)
		res := filepath.Join(dir, "stopped.jsonl")
		time.AfterFunc(time.Second, func() { cl.Stop(context.Background()) })
		start := time.Now()
		code, _, stderr := run(t, nil, "replay", "-q", "--unreachable-after", "2s", "--target", cl.DSN("postgres", "postgres"), "-o", res, w)
		if code != exitError || !strings.Contains(stderr, "the target stayed unreachable since") || !strings.Contains(stderr, res) {
			t.Fatalf("exit %d, want 1:\n%s", code, stderr)
		}
		if took := time.Since(start); took > 7*time.Second {
			t.Errorf("the replay went on for %v", took)
		}
		sum := readSummary(t, res)
		if sum.TargetUnreachableSince == "" || sum.ConnectFailures == 0 || sum.ConnectFailures > 80 {
			t.Errorf("summary: unreachable since %q, %d connect failures", sum.TargetUnreachableSince, sum.ConnectFailures)
		}
		checkLostTargetVerdict(t, w, res, sum)
	})
	t.Run("restarted", func(t *testing.T) {
		cl := pgtest.StartCluster(t)
		res := filepath.Join(dir, "restarted.jsonl")
		restarted := make(chan error, 1)
		time.AfterFunc(time.Second, func() {
			if err := cl.Stop(context.Background()); err != nil {
				restarted <- err
				return
			}
			time.Sleep(1500 * time.Millisecond)
			restarted <- cl.Restart(context.Background())
		})
		code, _, stderr := run(t, nil, "replay", "-q", "--unreachable-after", "20s", "--target", cl.DSN("postgres", "postgres"), "-o", res, w)
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		// The last statements of every session ran on a new connection.
		raw, _ := os.ReadFile(res)
		var tail []string
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			if strings.Contains(l, `"i":78,`) && strings.HasPrefix(l, `{"s"`) {
				tail = append(tail, l)
			}
		}
		if len(tail) != 4 || strings.Contains(strings.Join(tail, ""), "sqlstate") {
			t.Errorf("statements 78 of each session: %q", tail)
		}
		if sum := readSummary(t, res); sum.TargetUnreachableSince != "" || sum.ConnectFailures == 0 {
			t.Errorf("summary: unreachable since %q, %d connect failures", sum.TargetUnreachableSince, sum.ConnectFailures)
		}
	})
}

// checkLostTargetVerdict: compare, with the default gates, calls a
// replay that lost its target INCONCLUSIVE, saying so, and counts the
// statements that failed for want of a connection apart, not as new
// errors.
func checkLostTargetVerdict(t *testing.T, w, res string, sum *replay.Summary) {
	t.Helper()
	lost := 0
	for _, l := range strings.Split(string(readFile(t, res)), "\n") {
		var v struct {
			SQLState    string
			Interrupted bool
		}
		if strings.HasPrefix(l, `{"s"`) && json.Unmarshal([]byte(l), &v) == nil && replay.LostConnection(v.SQLState) && !v.Interrupted {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("no statement failed for want of a connection: the test tests nothing")
	}
	out := strings.TrimSuffix(res, ".jsonl") + ".json"
	code, stdout, stderr := run(t, nil, "compare", "--workload", w, "--results", res, "-o", out)
	c := readComparison(t, out)
	f := c.Fidelity
	since, _ := time.Parse(time.RFC3339Nano, sum.TargetUnreachableSince)
	reason := fmt.Sprintf("the target stayed unreachable since %s and the replay stopped there: %d of the workload's 316 statements were not run, and %d failed for want of a connection after it was lost (counted apart as lost to the outage, not as errors of the candidate)",
		since.UTC().Format(time.RFC3339), 316-f.ResultStatements, lost)
	if code != exitInconclusive || c.Verdict.Reason != reason || !c.DefaultGates {
		t.Errorf("compare: exit %d, verdict %+v; want 4 and %q\n%s", code, c.Verdict, reason, stderr)
	}
	if !strings.Contains(strings.Join(c.Verdict.Next, "\n"), "replay the whole workload once it stays up") || !strings.Contains(stderr, "INCONCLUSIVE: "+reason) {
		t.Errorf("next %q\n%s", c.Verdict.Next, stderr)
	}
	if c.Errors.NewN != 0 || f.LostToOutage != int64(lost) || f.TargetUnreachableSince != sum.TargetUnreachableSince || len(c.Errors.LostToOutage) == 0 {
		t.Errorf("%d new errors, %d lost to the outage of %d, since %q, %+v", c.Errors.NewN, f.LostToOutage, lost, f.TargetUnreachableSince, c.Errors.LostToOutage)
	}
	if want := fmt.Sprintf("Lost to the outage: the target stayed unreachable since %s; %d statements failed for want of a connection", since.UTC().Format(time.RFC3339), lost); !strings.Contains(stdout, want) {
		t.Errorf("the report lacks %q:\n%s", want, stdout)
	}
}

// TestTooManyConnectionsEndToEnd: a workload of more concurrent sessions
// than the target's max_connections is warned about before the replay,
// the refused sessions are counted with the SQLSTATE and the setting,
// and compare's verdict is INCONCLUSIVE with that reason.
func TestTooManyConnectionsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cl := pgtest.StartCluster(t, "max_connections = 8")
	w := sessionsLog(t, dir, 16, func(s int, at func(int, string)) {
		at(100+s, "LOG:  statement: SELECT pg_sleep(1.5)")
		at(1700+s, "LOG:  statement: SELECT 1")
		at(1800+s, "LOG:  disconnection: session time: 0:00:01.800")
	})
	res := filepath.Join(dir, "r.jsonl")
	code, _, stderr := run(t, nil, "replay", "-q", "--target", cl.DSN("postgres", "postgres"), "-o", res, w)
	for _, want := range []string{
		"too many connections ahead: the target's max_connections is 8 (3 reserved for superusers), the workload peaks at 16 concurrent sessions",
		"too many connections (SQLSTATE 53300): the target's max_connections is 8, the workload peaks at 16 concurrent sessions",
		"refused_connections",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("replay (exit %d) does not say %q:\n%s", code, want, stderr)
		}
	}
	sum := readSummary(t, res)
	raw, _ := os.ReadFile(res)
	if sum.RefusedConnections == 0 || !strings.Contains(string(raw), `"sqlstate":"53300"`) || strings.Contains(string(raw), `"sqlstate":"connection"`) {
		t.Errorf("refused %d; results:\n%s", sum.RefusedConnections, raw)
	}
	out := filepath.Join(dir, "c.json")
	code, _, _ = run(t, nil, "compare", "--workload", w, "--results", res, "-o", out)
	c := readComparison(t, out)
	if code != exitInconclusive || !strings.HasPrefix(c.Verdict.Reason, "too many connections (SQLSTATE 53300): the target's max_connections is 8, the workload peaks at 16 concurrent sessions") {
		t.Errorf("compare: exit %d, verdict %+v", code, c.Verdict)
	}
}

// TestCompareChecksWhatItIsGiven: through the command line, results of
// another workload are a usage error naming both, and a missing shard is
// INCONCLUSIVE naming it.
func TestCompareChecksWhatItIsGiven(t *testing.T) {
	dir := t.TempDir()
	w := sessionsLog(t, dir, 4, workUntil(500))
	otherDir := t.TempDir()
	other := sessionsLog(t, otherDir, 2, workUntil(300))
	dsn := pgtest.DSN(t)
	var shards []string
	for i := 0; i < 2; i++ {
		r := filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i))
		if code, _, stderr := run(t, nil, "replay", "-q", "--shard", fmt.Sprintf("%d/2", i), "--target", dsn, "-o", r, w); code != exitOK {
			t.Fatalf("replay shard %d: exit %d %s", i, code, stderr)
		}
		shards = append(shards, r)
	}
	otherRes := filepath.Join(otherDir, "r.jsonl")
	if code, _, stderr := run(t, nil, "replay", "-q", "--target", dsn, "-o", otherRes, other); code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	out := filepath.Join(dir, "c.json")
	code, _, stderr := run(t, nil, "compare", "--workload", w, "--results", otherRes, "-o", out)
	if code != exitUsage || !strings.Contains(stderr, otherRes+" is the replay of another workload") {
		t.Errorf("another workload: exit %d %s", code, stderr)
	}
	code, stdout, _ := run(t, nil, "compare", "--workload", w, "--results", shards[0], "-o", out, "--gate", "errors.new == 0")
	if code != exitInconclusive || !strings.Contains(stdout, "shard 1/2 is missing") {
		t.Errorf("one shard: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, nil, "compare", "--workload", w, "--results", shards[0], "--results", shards[0], "-o", out, "--gate", "errors.new == 0")
	if code != exitInconclusive || !strings.Contains(stdout, "was given twice") {
		t.Errorf("a shard twice: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := run(t, nil, "compare", "--workload", w, "--results", shards[1], "--results", shards[0], "-o", out, "--gate", "errors.new == 0"); code != exitOK {
		t.Errorf("both shards: exit %d\n%s", code, stdout)
	}
}
