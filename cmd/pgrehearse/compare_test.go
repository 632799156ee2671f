package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// TestCompareEndToEnd runs parse, replay (sampling the candidate), and
// compare against a baseline in CloudWatch (the real SDK through
// AWS_ENDPOINT_URL_CLOUDWATCH to a local CBOR server), then checks that
// the verdict reaches the exit code and the reports re-render offline.
func TestCompareEndToEnd(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	res := filepath.Join(dir, "results.jsonl")
	if code, _, stderr := run(t, nil, "replay", "-q", "--target", pgtest.DSN(t), "--candidate-metrics", "pg:"+pgtest.DSN(t), "-o", res, w); code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	cw := &cloudwatchtest.Server{}
	cw.Start(t)

	// A gate with a typo is a usage error with its position, before
	// anything is fetched.
	code, _, stderr := run(t, nil, "compare", "--workload", w, "--results", res, "--baseline-metrics", "cloudwatch:instance=rds-prod",
		"--gate", "cpu.p95 <= baselin * 1.1")
	if code != exitUsage || !strings.Contains(stderr, "column 12") || !strings.Contains(stderr, "^") || cw.Requests != 0 {
		t.Fatalf("bad gate: exit %d, %d requests\n%s", code, cw.Requests, stderr)
	}
	gates := filepath.Join(dir, "gates.txt")
	os.WriteFile(gates, []byte("# launch gates\nwrite_iops.max < 1000000\nreplay.lateness.p99 < 10s\n"), 0o644)
	out := filepath.Join(dir, "comparison.json")
	md, junit := filepath.Join(dir, "report.md"), filepath.Join(dir, "gates.xml")
	cmp := func(extra ...string) (int, string, string) {
		args := append([]string{"compare", "--workload", w, "--results", res, "--baseline-metrics", "cloudwatch:instance=rds-prod",
			"--warmup", "0", "-o", out, "--report", md, "--report", junit}, extra...)
		return run(t, nil, args...)
	}

	// The new error decides: NO-GO, exit 3.
	code, stdout, stderr := cmp("--gates-file", gates, "--gate", "errors.new == 0")
	if code != exitNoGo || !strings.HasPrefix(stdout, "==== NO-GO ====") || !strings.Contains(stderr, "NO-GO") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if cw.Calls() != 1 {
		t.Errorf("%d GetMetricData calls for the baseline (%d requests), want 1", cw.Calls(), cw.Requests)
	}
	if !strings.Contains(stderr, "candidate metrics from the replay's samples") {
		t.Errorf("the replay's samples were not used: %s", stderr)
	}
	var c compare.Comparison
	raw, _ := os.ReadFile(out)
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Gates) != 3 || c.Gates[0].Expr != "errors.new == 0" || c.Gates[0].Status != compare.Fail || c.Gates[1].Status != compare.Pass || c.Gates[2].Status != compare.Pass {
		t.Errorf("gates %+v", c.Gates)
	}
	var wio *compare.Metric
	for i := range c.Metrics {
		if c.Metrics[i].Name == "write_iops" {
			wio = &c.Metrics[i]
		}
	}
	if wio == nil || wio.Baseline == nil || wio.Candidate == nil || !strings.Contains(wio.BaselineSource, "WriteIOPS") {
		t.Errorf("write_iops side by side: %+v", wio)
	}
	if c.Errors.NewN != 1 || c.Errors.New[0].SQLState != "42P01" {
		t.Errorf("errors %+v", c.Errors)
	}
	for path, want := range map[string]string{md: "# Migration rehearsal: NO-GO", junit: `failures="1"`} {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v, lacks %q", path, err, want)
		}
	}

	// Without the error gate everything passes: GO, exit 0.
	if code, stdout, stderr := cmp("--gates-file", gates); code != exitOK || !strings.Contains(stdout, "GO") {
		t.Errorf("GO: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The log has no durations, so a latency gate against the baseline
	// cannot be judged: INCONCLUSIVE, exit 4, never a pass.
	if code, stdout, _ := cmp("--gate", "latency.p99 <= baseline * 2"); code != exitInconclusive || !strings.Contains(stdout, "INCONCLUSIVE") {
		t.Errorf("inconclusive: exit %d\n%s", code, stdout)
	}

	// report re-renders the document without any source.
	cw.FailType = "AccessDenied"
	code, stdout, stderr = run(t, nil, "report", "--format", "markdown", out)
	if code != exitOK || !strings.Contains(stdout, "INCONCLUSIVE") || !strings.Contains(stdout, "## Gates") {
		t.Errorf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, nil, "report", "--format", "pdf", out); code != exitUsage || !strings.Contains(stderr, "markdown") {
		t.Errorf("report --format pdf: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, nil, "report", w); code != exitUsage || !strings.Contains(stderr, "not a comparison document") {
		t.Errorf("report of a workload: exit %d %s", code, stderr)
	}
}

// smallCaptureLog writes a two-second production log of two sessions,
// captured an hour ago (so CloudWatch serves one-minute points), ending
// with a statement on a table the candidate lacks.
func smallCaptureLog(t *testing.T, dir string) string {
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Minute)
	var lines []string
	at := func(ms int, sid, msg string) {
		lines = append(lines, fmt.Sprintf("%s|postgres|postgres|%s|LOG:  %s", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), sid, msg))
	}
	at(0, "1.a", "connection authorized: user=postgres database=postgres")
	at(0, "1.b", "connection authorized: user=postgres database=postgres")
	for i := 0; i < 30; i++ {
		at(10+50*i, "1.a", fmt.Sprintf("statement: SELECT %d", i))
		at(20+50*i, "1.b", "statement: SELECT count(*) FROM pg_class")
	}
	at(1600, "1.a", "statement: SELECT * FROM table_the_candidate_lacks")
	at(1700, "1.a", "disconnection: session time: 0:00:01.700")
	at(1700, "1.b", "disconnection: session time: 0:00:01.700")
	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return log
}

// TestRunCommand: run does every stage, keeps every file in --dir, and
// exits with the verdict; a bad gate stops it before parsing.
func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	out := filepath.Join(dir, "rehearsal")
	code, _, stderr := run(t, nil, "run", "--target", pgtest.DSN(t), "--dir", out, "--gate", "errors.new = 0", log)
	if code != exitUsage || !strings.Contains(stderr, "column") {
		t.Fatalf("bad gate: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("run made %s before checking its gates", out)
	}
	code, stdout, stderr := run(t, nil, "run", "--target", pgtest.DSN(t), "--candidate-metrics", "pg:"+pgtest.DSN(t), "--dir", out,
		"--log-line-prefix", "%m|%u|%d|%c|", "--warmup", "0", "--gate", "errors.new == 0", "--gate", "commits.max >= 0", log)
	if code != exitNoGo || !strings.Contains(stdout, "NO-GO") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"workload.pgrw", "results.jsonl", "candidate.samples.jsonl", "comparison.json", "report.html"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var c compare.Comparison
	raw, _ := os.ReadFile(filepath.Join(out, "comparison.json"))
	if err := json.Unmarshal(raw, &c); err != nil || len(c.Gates) != 2 || c.Gates[1].Status != compare.Pass {
		t.Errorf("comparison: %v %+v", err, c.Gates)
	}
}
