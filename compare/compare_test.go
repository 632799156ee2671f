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

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// captureLog writes a production log, with durations, of two sessions:
// one reads a table production had and the candidate lacks (so every
// read is a new error there), the other runs quick statements, one of
// which failed in production too.
func captureLog(t *testing.T, dir string) string {
	var b strings.Builder
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(ms int, pid int, state, sev, msg string) {
		fmt.Fprintf(&b, "%s [%d] %x.%x %s %s:  %s\n", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), pid, base.Unix(), pid, state, sev, msg)
	}
	line(0, 101, "00000", "LOG", "connection authorized: user=postgres database=postgres")
	line(5, 102, "00000", "LOG", "connection authorized: user=postgres database=postgres")
	for i := 0; i < 20; i++ {
		ms := 20 + 40*i
		line(ms, 101, "00000", "LOG", fmt.Sprintf("duration: 0.%03d ms  statement: SELECT %d AS n", 100+i, i))
		line(ms+3, 102, "00000", "LOG", fmt.Sprintf("duration: 0.250 ms  statement: SELECT * FROM only_in_production WHERE id = %d", i))
	}
	line(900, 101, "22012", "ERROR", "division by zero")
	line(900, 101, "22012", "STATEMENT", "SELECT 1/0")
	line(950, 101, "00000", "LOG", "disconnection: session time: 0:00:00.950")
	line(960, 102, "00000", "LOG", "disconnection: session time: 0:00:00.955")
	path := filepath.Join(dir, "capture.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rehearse parses the log and replays it against the test server, as
// pgrehearse parse and replay do, and returns the workload and results
// paths.
func rehearse(t *testing.T, dir string) (string, string) {
	t.Helper()
	return rehearseOn(t, dir, pgtest.DSN(t))
}

func rehearseOn(t *testing.T, dir, dsn string) (string, string) {
	t.Helper()
	wl := parseCapture(t, dir)
	return wl, replayShard(t, wl, dsn, filepath.Join(dir, "results.jsonl"), 0, 0)
}

// parseCapture parses the capture log into dir/capture.pgrw.
func parseCapture(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	wl := filepath.Join(dir, "capture.pgrw")
	f, err := os.Create(wl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse.Run(ctx, []string{captureLog(t, dir)}, f, parse.Options{Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return wl
}

// replayShard replays shard i of n (n = 0: all) of the workload into a
// results file, as pgrehearse replay --shard does.
func replayShard(t *testing.T, wl, dsn, res string, i, n int) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
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
	out, err := os.Create(res)
	if err != nil {
		t.Fatal(err)
	}
	h := replay.ResultsHeader{Target: "test", Speed: 1, Workload: wl, WorkloadID: r.Header().ID, Started: time.Now().UTC().Format(time.RFC3339Nano), RTTUS: 50}
	if n > 0 {
		h.Shard = fmt.Sprintf("%d/%d", i, n)
	}
	rw, err := replay.NewResultsWriter(out, h)
	if err != nil {
		t.Fatal(err)
	}
	st, err := replay.Run(ctx, r, &replay.PGExecutor{Config: cfg}, replay.Options{Speed: 1}, rw.Add)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Close(st, false); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return res
}

// fixedSource serves a series per side, so the metric gates have
// something real to judge without a cluster's noise.
type fixedSource struct {
	name string
	cpu  float64
}

func (s fixedSource) String() string { return s.name }

func (s fixedSource) Fetch(_ context.Context, w metrics.Window) (*metrics.Set, error) {
	set := &metrics.Set{Source: s.name, Window: w}
	ser := metrics.Series{Metric: metrics.CPU, Unit: "%", Period: 100 * time.Millisecond, Source: s.name}
	for t := w.Start; !t.After(w.End); t = t.Add(100 * time.Millisecond) {
		ser.Points = append(ser.Points, metrics.Point{T: t, V: s.cpu})
	}
	set.Series = append(set.Series, ser)
	return set, nil
}

func TestBuildFromRealReplay(t *testing.T) {
	dir := t.TempDir()
	wl, res := rehearse(t, dir)
	gates := func(exprs ...string) []Gate {
		var gs []Gate
		for _, e := range exprs {
			g, err := ParseGate(e)
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, g)
		}
		return gs
	}
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res},
		Baseline: fixedSource{"base", 40}, Candidate: fixedSource{"cand", 50}, Warmup: -1,
		Gates: gates("errors.new == 0", "cpu.p95 <= baseline * 1.10", "latency.p99 < 10s", "replica_lag.max < 1s")})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Fidelity
	if f.Statements != 41 || f.Replayed != 41 || f.OriginalSessions != 2 || f.Sessions != 2 || f.Shards != 1 || f.BehindSchedule || f.Interrupted {
		t.Errorf("fidelity %+v", f)
	}
	// Both sessions ran side by side in the capture and in the replay.
	if f.OriginalPeakActive != 2 || f.ReplayPeakActive != 2 {
		t.Errorf("peak active sessions: original %d, replay %d, want 2 and 2", f.OriginalPeakActive, f.ReplayPeakActive)
	}
	if f.OriginalS < 0.9 || f.OriginalS > 1 || f.DurationS < 0.8 || f.LatenessP99MS <= 0 {
		t.Errorf("durations: original %.3f s, replay %.3f s, lateness p99 %.3f ms", f.OriginalS, f.DurationS, f.LatenessP99MS)
	}
	// Twenty reads of the missing table are new errors under one
	// fingerprint, with the normalised text and no parameter value; the
	// division by zero failed in production too.
	if c.Errors.NewN != 20 || len(c.Errors.New) != 1 || c.Errors.New[0].SQLState != "42P01" ||
		c.Errors.New[0].Query != "SELECT * FROM only_in_production WHERE id = ?" {
		t.Errorf("new errors %+v", c.Errors)
	}
	if len(c.Errors.Both) != 1 || c.Errors.Both[0].SQLState != "22012" || c.Errors.Both[0].Count != 1 {
		t.Errorf("errors in both %+v", c.Errors.Both)
	}
	if c.Errors.New[0].Example != nil {
		t.Errorf("an example with production values without ShowParams: %+v", c.Errors.New[0].Example)
	}
	// Twenty SELECT n AS n normalise to one query with baseline durations from
	// the log (0.100–0.119 ms) and candidate latencies.
	var sel *Query
	for i := range c.Latency.Top {
		if c.Latency.Top[i].Text == "SELECT ?" {
			sel = &c.Latency.Top[i]
		}
	}
	if sel == nil || sel.Calls != 20 || sel.Baseline == nil || sel.Baseline.Count != 20 || sel.Baseline.P99 < 0.1 || sel.Baseline.P99 > 0.12 || sel.Candidate == nil {
		t.Fatalf("latency rows %+v", c.Latency.Top)
	}
	if !strings.Contains(c.Latency.Basis, "minus the round trip") {
		t.Errorf("basis %q", c.Latency.Basis)
	}
	// CPU from the two sources, warm-up left out.
	if len(c.Metrics) != 1 || c.Metrics[0].Baseline == nil || c.Metrics[0].Candidate == nil {
		t.Fatalf("metrics %+v", c.Metrics)
	}
	if m := c.Metrics[0]; math.Abs(m.Baseline.P95-40) > 1e-9 || math.Abs(m.Candidate.P95-50) > 1e-9 || m.WarmupS <= 0 {
		t.Fatalf("cpu: baseline %+v, candidate %+v, warm-up %.3f s; want p95 40 and 50 after a warm-up", *m.Baseline, *m.Candidate, m.WarmupS)
	}
	want := []GateStatus{Fail, Fail, Pass, Inconclusive}
	for i, g := range c.Gates {
		if g.Status != want[i] {
			t.Errorf("gate %s: %s, want %s", g.Expr, g.Status, want[i])
		}
	}
	if c.Verdict.Result != NOGO || !strings.Contains(c.Verdict.Reason, "errors.new") || len(c.Verdict.Next) != 2 {
		t.Errorf("verdict %+v", c.Verdict)
	}

	// ShowParams adds the first failing statement as production sent it.
	c, err = Build(context.Background(), Input{Workload: wl, Results: []string{res}, Warmup: -1, ShowParams: true})
	if err != nil {
		t.Fatal(err)
	}
	if ex := c.Errors.New[0].Example; ex == nil || !strings.HasPrefix(ex.Text, "SELECT * FROM only_in_production WHERE id = ") || ex.Session == 0 {
		t.Errorf("example %+v", ex)
	}

	// With the defaults, gates on metrics no source has are left out,
	// and the new errors still decide.
	c, err = Build(context.Background(), Input{Workload: wl, Results: []string{res}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultGates || c.Verdict.Result != NOGO {
		t.Errorf("defaults: %+v", c.Verdict)
	}
	for _, g := range c.Gates {
		if strings.HasPrefix(g.Name, "cpu.") || strings.HasPrefix(g.Name, "replica_lag.") {
			t.Errorf("default gate %s kept without a source", g.Expr)
		}
	}
}

func TestBuildRefusesDamagedInput(t *testing.T) {
	dir := t.TempDir()
	wl, res := rehearse(t, dir)
	raw, _ := os.ReadFile(wl)
	cut := filepath.Join(dir, "cut.pgrw")
	os.WriteFile(cut, raw[:len(raw)*2/3], 0o644)
	notResults := filepath.Join(dir, "x.jsonl")
	os.WriteFile(notResults, []byte(`{"hello":1}`+"\n"), 0o644)
	for _, tc := range []struct {
		name    string
		in      Input
		wantErr string
	}{
		{"truncated workload", Input{Workload: cut, Results: []string{res}}, "truncated"},
		{"missing results", Input{Workload: wl, Results: []string{filepath.Join(dir, "nope.jsonl")}}, "nope.jsonl"},
		{"not a results file", Input{Workload: wl, Results: []string{notResults}}, "not a results file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(context.Background(), tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
	// A results file cut mid-line (a killed replay) still compares, and
	// the verdict cannot be GO.
	raw, _ = os.ReadFile(res)
	killed := filepath.Join(dir, "killed.jsonl")
	os.WriteFile(killed, raw[:len(raw)/2], 0o644)
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{killed}, Gates: []Gate{mustGate(t, "replay.lateness.p99 < 10s")}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Fidelity.Interrupted || c.Verdict.Result != INCONCLUSIVE || len(c.Warnings) == 0 {
		t.Errorf("killed replay: %+v %+v", c.Fidelity, c.Verdict)
	}
}

func mustGate(t *testing.T, expr string) Gate {
	g, err := ParseGate(expr)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      Comparison
		gates  []string
		result Result
		reason string
	}{
		{"all pass", Comparison{Latency: Latency{Candidate: &Pcts{P99: 3}, Baseline: &Pcts{P99: 3}}},
			[]string{"errors.new == 0", "latency.p99 <= baseline * 1.25"}, GO, "all 2 gates passed"},
		{"new error", Comparison{Errors: Errors{NewN: 3}}, []string{"errors.new == 0"}, NOGO, "errors.new"},
		{"missing metric", Comparison{}, []string{"errors.new == 0", "cpu.p95 < 80"}, INCONCLUSIVE, "cpu.p95"},
		{"missing baseline", Comparison{Latency: Latency{Candidate: &Pcts{P99: 3}}}, []string{"latency.p99 <= baseline * 1.25"}, INCONCLUSIVE, "baseline"},
		{"behind schedule", Comparison{Fidelity: Fidelity{BehindSchedule: true, LatenessP99MS: 20, Diagnosis: []string{"the target is slow"}}},
			[]string{"errors.new == 0", "replay.lateness.p99 < 100ms"}, INCONCLUSIVE, "behind schedule"},
		{"behind but failing", Comparison{Fidelity: Fidelity{BehindSchedule: true}, Errors: Errors{NewN: 1}}, []string{"errors.new == 0"}, NOGO, "errors.new"},
		{"interrupted", Comparison{Fidelity: Fidelity{Interrupted: true}}, []string{"errors.new == 0"}, INCONCLUSIVE, "interrupted"},
		{"lateness gate", Comparison{Fidelity: Fidelity{LatenessP99MS: 150}}, []string{"replay.lateness.p99 < 100ms"}, NOGO, "replay.lateness.p99"},
		{"lateness from a slow target", Comparison{Fidelity: Fidelity{LatenessP99MS: 150, BehindSchedule: true, Bottleneck: "target"}}, []string{"replay.lateness.p99 < 100ms"}, NOGO, "replay.lateness.p99"},
		{"metric ok", Comparison{Metrics: []Metric{{Name: "cpu", Candidate: &metrics.Stats{N: 5, P95: 70}, Baseline: &metrics.Stats{N: 5, P95: 65}}}},
			[]string{"cpu.p95 <= baseline * 1.10", "cpu.p95 < 80"}, GO, "passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gs []Gate
			for _, e := range tc.gates {
				gs = append(gs, mustGate(t, e))
			}
			c := tc.c
			c.Judge(gs)
			if c.Verdict.Result != tc.result || !strings.Contains(c.Verdict.Reason, tc.reason) {
				t.Errorf("verdict %+v, want %s (%q)", c.Verdict, tc.result, tc.reason)
			}
			if c.Fidelity.Bottleneck == "target" && (len(c.Verdict.Next) == 0 || !strings.Contains(c.Verdict.Next[0], "slower than production")) {
				t.Errorf("a slow target is blamed on the replayer: %v", c.Verdict.Next)
			}
		})
	}
}

// TestBuildServerSideLatency: with the candidate's own log, latency is
// compared server-side on both sides, and only the workload's queries
// count (not the other clients of the candidate).
func TestBuildServerSideLatency(t *testing.T) {
	cand := pgtest.StartCluster(t, "log_min_duration_statement = 0", "log_connections = on", "log_line_prefix = '%m [%p] %q%u@%d '")
	dir := t.TempDir()
	wl, res := rehearseOn(t, dir, cand.DSN("postgres", "postgres"))
	// The sampler on the candidate runs a statement of the same shape as
	// the workload's SELECT n: it must not count.
	other, err := pgconn.Connect(context.Background(), cand.DSN("postgres", "postgres")+" application_name="+pgsample.ApplicationName)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := other.Exec(context.Background(), "SELECT 7 AS n").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	other.Close(context.Background())
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Warmup: -1,
		CandidateLogs:       []string{filepath.Join(cand.LogDir(), "postgresql.log")},
		CandidateLogOptions: parse.Options{Prefix: "%m [%p] %q%u@%d "}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Latency.Basis, "server-side durations from the logs on both sides") {
		t.Fatalf("basis %q, warnings %v", c.Latency.Basis, c.Warnings)
	}
	// 20 SELECT n plus 1 division by zero (failed: no duration) and 20
	// failed reads of the missing table: 20 durations of the workload's
	// successful statements, and none of the other client's.
	if c.Latency.Candidate == nil || c.Latency.Candidate.Count != 20 {
		t.Errorf("candidate latency %+v", c.Latency.Candidate)
	}
	for _, q := range c.Latency.Top {
		if q.Text == "SELECT ?" && (q.Candidate == nil || q.Candidate.Count != 20 || q.Candidate.P99 > 50) {
			t.Errorf("SELECT ?: %+v", q.Candidate)
		}
	}
}

func TestPeakSpans(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans [][2]int64
		want  int64
	}{
		{"none", nil, 0},
		{"one", [][2]int64{{0, 10}}, 1},
		{"back to back", [][2]int64{{0, 10}, {10, 20}}, 1},
		{"overlapping", [][2]int64{{0, 10}, {5, 20}, {6, 7}}, 3},
		{"nested then apart", [][2]int64{{0, 100}, {10, 20}, {30, 40}, {200, 300}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := spans{}
			for i, s := range tc.spans {
				sp.add(uint64(i), s[0], s[1])
			}
			if got := sp.peak(); got != tc.want {
				t.Errorf("peak %d, want %d", got, tc.want)
			}
		})
	}
	// Statements of one session widen its span rather than add one.
	sp := spans{}
	sp.add(1, 0, 5)
	sp.add(1, 8, 12)
	sp.add(2, 6, 7)
	if sp.peak() != 2 || sp[1] != [2]int64{0, 12} {
		t.Errorf("spans %v, peak %d", sp, sp.peak())
	}
}

// TestBuildMergesShards: two shards' results compare as one replay.
func TestBuildMergesShards(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	var results []string
	for i := 0; i < 2; i++ {
		results = append(results, replayShard(t, wl, pgtest.DSN(t), filepath.Join(dir, fmt.Sprintf("results-%d.jsonl", i)), i, 2))
	}
	c, err := Build(context.Background(), Input{Workload: wl, Results: results, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Fidelity
	if f.Shards != 2 || f.Statements != 41 || f.Replayed != 41 || f.Sessions != 2 || c.Errors.NewN != 20 {
		t.Errorf("merged: %+v, new errors %d", f, c.Errors.NewN)
	}
	if f.ReplayStart.IsZero() || !f.ReplayEnd.After(f.ReplayStart) {
		t.Errorf("replay window %s – %s", f.ReplayStart, f.ReplayEnd)
	}
}

// TestShortDuration: periods print without trailing zero units, and a
// period under a second keeps its milliseconds.
func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		100 * time.Millisecond: "100ms", time.Second: "1s", 37 * time.Second: "37s",
		time.Minute: "1m", 90 * time.Second: "1m30s", 5 * time.Minute: "5m", time.Hour: "1h",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}
