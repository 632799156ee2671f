package compare

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// namesStatements are what each of the capture's sessions ran, and which
// of them the collation decides (C sorts B Z _x a b, ICU en-US _x a b B Z):
// "order" the same rows in another order, "results" other rows of the same
// count, "rows" another count; "" the same answer under both.
var namesStatements = []struct{ text, kind string }{
	{"statement: SELECT name FROM people ORDER BY name", "order"},
	{"statement: SELECT count(*) FROM people WHERE name < 'a'", "results"},
	{"statement: SELECT name FROM people WHERE name < 'a'", "rows"},
	{"execute <unnamed>: SELECT name FROM people WHERE name < $1 ORDER BY name", "rows"},
	{"statement: SELECT name FROM people WHERE name <> 'zz' ORDER BY name LIMIT 3", "results"},
	{"statement: SELECT count(*) FROM people", ""},
	{"statement: SELECT name FROM people WHERE name = 'b'", ""},
	{"execute <unnamed>: SELECT length(name) FROM people WHERE name = $1", ""},
	{"statement: SELECT name FROM people WHERE name LIKE 'b%' ORDER BY 1", ""},
	{"statement: UPDATE people SET name = name WHERE name = 'Z'", ""},
	// Results of the moment: marked, and left out of the counts.
	{"statement: SELECT random()", ""},
	{"statement: SELECT now()", ""},
	{"statement: SELECT name FROM people LIMIT 2", ""},
}

// namesCapture writes and parses a capture of three sessions in database
// names, each running namesStatements.
func namesCapture(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(ms, pid int, sev, msg string) {
		fmt.Fprintf(&b, "%s [%d] %x.%x 00000 %s:  %s\n", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), pid, base.Unix(), pid, sev, msg)
	}
	for s := 0; s < 3; s++ {
		line(s, 101+s, "LOG", "connection authorized: user=postgres database=names")
	}
	for i, st := range namesStatements {
		for s := 0; s < 3; s++ {
			ms := 10 + 20*i + s
			line(ms, 101+s, "LOG", fmt.Sprintf("duration: 0.%03d ms  %s", 100+i, st.text))
			if strings.Contains(st.text, "$1") {
				line(ms, 101+s, "DETAIL", "parameters: $1 = 'a'")
			}
		}
	}
	for s := 0; s < 3; s++ {
		line(400+s, 101+s, "LOG", "disconnection: session time: 0:00:00.400")
	}
	logPath := filepath.Join(dir, "names.log")
	if err := os.WriteFile(logPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	wl := filepath.Join(dir, "names.pgrw")
	f, err := os.Create(wl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := parse.Run(context.Background(), []string{logPath}, f, parse.Options{Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatal(err)
	}
	return wl
}

// namesCluster starts a cluster with database names under locale.
func namesCluster(t *testing.T, locale string) string {
	t.Helper()
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	for _, step := range []struct{ db, sql string }{
		{"postgres", "CREATE DATABASE names TEMPLATE template0 " + locale},
		{"names", "CREATE TABLE people (name text)"},
		{"names", "INSERT INTO people VALUES ('b'), ('_x'), ('Z'), ('a'), ('B'), ('bb')"},
		{"names", "CREATE INDEX people_name ON people (name)"},
	} {
		conn, err := pgconn.Connect(ctx, c.DSN("postgres", step.db))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, step.sql).ReadAll()
		conn.Close(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step.sql, err)
		}
	}
	return c.DSN("postgres", "postgres")
}

const (
	localeC   = "LOCALE 'C'"
	localeICU = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
)

// replayPaired replays shard i of n (n = 0: all) onto the candidate and
// the control at once, as replay --control does, into two results files.
func replayPaired(t *testing.T, wl, cand, ctl, candOut, ctlOut string, i, n int) {
	t.Helper()
	ctx := context.Background()
	cfg := func(dsn string) *pgconn.Config {
		c, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	in, err := os.Open(wl)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := parse.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		r.SetSessionFilter(replay.ShardFilter(i, n))
	}
	hdr := replay.ResultsHeader{Target: "cand", Speed: 2, Workload: wl, WorkloadID: r.Header().ID, Started: time.Now().UTC().Format(time.RFC3339Nano), RTTUS: 50, ControlMode: "concurrent", Checksums: true}
	writer := func(path string, h replay.ResultsHeader) (*replay.ResultsWriter, *os.File) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		rw, err := replay.NewResultsWriter(f, h)
		if err != nil {
			t.Fatal(err)
		}
		return rw, f
	}
	rw, f1 := writer(candOut, hdr)
	ch := hdr
	ch.Target, ch.Role = "ctl", "control"
	crw, f2 := writer(ctlOut, ch)
	pe := &replay.Paired{Candidate: &replay.PGExecutor{Config: cfg(cand), Checksums: true}, Control: &replay.PGExecutor{Config: cfg(ctl), Checksums: true}, ControlSink: crw.Add}
	st, err := replay.Run(ctx, r, pe, replay.Options{Speed: 2}, pe.Sink(rw.Add))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Close(st, false); err != nil {
		t.Fatal(err)
	}
	if _, err := crw.Close(pe.ControlStats(st), false); err != nil {
		t.Fatal(err)
	}
	f1.Close()
	f2.Close()
}

// wantDivergence counts namesStatements' kinds over the three sessions.
func wantDivergence() map[string]int64 {
	want := map[string]int64{}
	for _, st := range namesStatements {
		if st.kind != "" {
			want[st.kind] += 3
		}
	}
	return want
}

// TestDivergence replays one capture onto a C control and an ICU
// candidate: divergence counts exactly the statements the collation
// decides, each under its kind; none when both collate alike; shards
// merge to the same counts.
func TestDivergence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wl := namesCapture(t, dir)
	control, candidate, same := namesCluster(t, localeC), namesCluster(t, localeICU), namesCluster(t, localeC)
	check := func(c *Comparison, want map[string]int64) {
		t.Helper()
		d := c.Divergence
		if d == nil {
			t.Fatal("no divergence")
		}
		n := int64(3 * len(namesStatements))
		if d.Compared != n || d.Unpaired != 0 || d.NonDeterministic != 9 || !d.Checksums {
			t.Errorf("compared %d (want %d), unpaired %d, nondeterministic %d (want 9), checksums %v", d.Compared, n, d.Unpaired, d.NonDeterministic, d.Checksums)
		}
		if d.Rows != want["rows"] || d.Results != want["results"]+want["order"] || d.OrderOnly != want["order"] || d.Errors != 0 {
			t.Errorf("divergence rows %d results %d (order only %d) errors %d, want %v", d.Rows, d.Results, d.OrderOnly, d.Errors, want)
		}
		kinds := map[string]int64{}
		for _, q := range d.ByFingerprint {
			kinds[q.Kind] += q.Count
			if q.Count != 3 || q.Compared != 3 || q.Example == nil || q.Example.Text != q.Query || q.Example.Params != nil || !strings.HasPrefix(q.Query, "SELECT") {
				t.Errorf("divergent query %+v", q)
			}
		}
		for k, v := range want {
			if kinds[k] != v {
				t.Errorf("by fingerprint: %v, want %v", kinds, want)
				break
			}
		}
	}
	build := func(results, controls []string, show bool) *Comparison {
		t.Helper()
		c, err := Build(ctx, Input{Workload: wl, Results: results, ControlResults: controls, Warmup: -1, ShowParams: show})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	res, ctl := filepath.Join(dir, "results.jsonl"), filepath.Join(dir, "control.results.jsonl")
	replayPaired(t, wl, candidate, control, res, ctl, 0, 0)
	c := build([]string{res}, []string{ctl}, false)
	check(c, wantDivergence())
	// The default gates: divergence must be none, latency against the
	// control, and the report says so.
	if c.Verdict.Result != NOGO || !strings.Contains(c.DefaultGatesBasis, "compare the candidate with the control") {
		t.Errorf("verdict %+v, basis %q", c.Verdict, c.DefaultGatesBasis)
	}
	gates := map[string]GateStatus{}
	for _, g := range c.Gates {
		gates[g.Expr] = g.Status
	}
	if gates["divergence.rows == 0"] != Fail || gates["divergence.results == 0"] != Fail || gates["latency.p99 <= control * 1.25"] == "" {
		t.Errorf("gates %v", gates)
	}
	if c.Control == nil || c.Control.Mode != "concurrent" || c.Control.Fidelity.Statements != int64(3*len(namesStatements)) ||
		c.Control.Latency.Control == nil || c.Control.Latency.Candidate == nil || len(c.Control.Latency.Top) == 0 {
		t.Errorf("control %+v", c.Control)
	}
	checkControlGates(t, wl, res, ctl)

	// With --show-params the example is the statement as logged.
	for _, q := range build([]string{res}, []string{ctl}, true).Divergence.ByFingerprint {
		if strings.Contains(q.Query, "$1") && (len(q.Example.Params) != 1 || q.Example.Params[0] != "'a'" || !strings.Contains(q.Example.Text, "$1")) {
			t.Errorf("example with its values: %+v", q.Example)
		}
	}

	// Shards of the same replay merge to the same counts.
	var shards, ctlShards []string
	for i := range 2 {
		r, cr := filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i)), filepath.Join(dir, fmt.Sprintf("c%d.jsonl", i))
		replayPaired(t, wl, candidate, control, r, cr, i, 2)
		shards, ctlShards = append(shards, r), append(ctlShards, cr)
	}
	check(build(shards, ctlShards, false), wantDivergence())
	// A missing control shard leaves its statements unpaired, not agreeing.
	total, unpaired := int64(3*len(namesStatements)), int64(0)
	for i := range ctlShards {
		d := build(shards, ctlShards[i:i+1], false).Divergence
		if d.Compared+d.Unpaired != total {
			t.Errorf("control shard %d alone: %d compared, %d unpaired", i, d.Compared, d.Unpaired)
		}
		unpaired += d.Unpaired
	}
	if unpaired != total {
		t.Errorf("each control shard alone leaves %d statements unpaired in all, want %d", unpaired, total)
	}

	// Two clusters that collate alike: no divergence at all.
	replayPaired(t, wl, same, control, res, ctl, 0, 0)
	check(build([]string{res}, []string{ctl}, false), map[string]int64{})

	// Files given on the wrong side are refused.
	for _, tc := range []struct{ results, controls []string }{{[]string{ctl}, []string{ctl}}, {[]string{res}, []string{res}}} {
		if _, err := Build(ctx, Input{Workload: wl, Results: tc.results, ControlResults: tc.controls}); err == nil || !strings.Contains(err.Error(), "results file") {
			t.Errorf("results %v, control %v: %v", tc.results, tc.controls, err)
		}
	}
}

// checkControlGates: CPU against the control, with its own metric
// source, in the default gate and in one given.
func checkControlGates(t *testing.T, wl, res, ctl string) {
	t.Helper()
	ctx := context.Background()
	// CPU against the control, with its own metric source: the default
	// gate and one given.
	cg, err := ParseGate("cpu.p95 <= control * 1.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, gs := range [][]Gate{nil, {cg}} {
		c, err := Build(ctx, Input{Workload: wl, Results: []string{res}, ControlResults: []string{ctl}, Warmup: -1, Gates: gs,
			Baseline: fixedSource{"base", 45}, Candidate: fixedSource{"cand", 50}, Control: fixedSource{"ctl", 40}})
		if err != nil {
			t.Fatal(err)
		}
		var cpu *GateResult
		for i := range c.Gates {
			if strings.HasPrefix(c.Gates[i].Name, "cpu.p95") && c.Gates[i].Against == "control" {
				cpu = &c.Gates[i]
			}
		}
		m := c.metricNamed("cpu")
		if cpu == nil || m == nil || m.Control == nil || math.Abs(m.Control.P95-40) > 1e-9 || m.ControlSource != "ctl" || *cpu.Observed != 50 {
			t.Fatalf("gates %+v, cpu %+v, control %+v, observed %v", c.Gates, m, m.Control, *cpu.Observed)
		}
		if want := map[bool]GateStatus{true: Pass, false: Fail}[gs == nil]; cpu.Status != want || math.Abs(*cpu.Threshold-40*map[bool]float64{true: 1.25, false: 1.1}[gs == nil]) > 1e-9 {
			t.Errorf("%s: %s at threshold %v", cpu.Expr, cpu.Status, *cpu.Threshold)
		}
	}
}
