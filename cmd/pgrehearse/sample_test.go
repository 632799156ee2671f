package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// TestSampleCommand samples the test server for a while and reads the
// file back; replay --candidate-metrics pg:DSN samples the target during
// the replay and names the file in the results header.
func TestSampleCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "s.jsonl")
	start := time.Now()
	code, _, stderr := run(t, nil, "sample", "--target", pgtest.DSN(t), "--interval", "200ms", "--duration", "1500ms", "-o", out)
	if code != exitOK {
		t.Fatalf("sample: exit %d %s", code, stderr)
	}
	f, err := pgsample.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Trailer == nil || len(f.Samples) < 5 || f.Samples[0].T.Before(start.Add(-time.Second)) {
		t.Fatalf("%d samples, trailer %+v", len(f.Samples), f.Trailer)
	}
	if code, _, _ := run(t, nil, "sample", "--target", pgtest.DSN(t), "--interval", "1ms"); code != exitUsage {
		t.Errorf("--interval 1ms: exit %d, want %d", code, exitUsage)
	}

	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(strings.Join([]string{
		"2026-11-22 12:00:00.000 UTC|postgres|postgres|1.a|LOG:  connection authorized: user=postgres database=postgres",
		"2026-11-22 12:00:00.010 UTC|postgres|postgres|1.a|LOG:  statement: SELECT 1",
		"2026-11-22 12:00:02.000 UTC|postgres|postgres|1.a|LOG:  statement: SELECT 2",
		"2026-11-22 12:00:02.040 UTC|postgres|postgres|1.a|LOG:  disconnection: session time: 0:00:02.040",
	}, "\n")+"\n"), 0o644)
	res := filepath.Join(dir, "results.jsonl")
	code, _, stderr = run(t, nil, "replay", "-q", "--target", pgtest.DSN(t), "--candidate-metrics", "pg:"+pgtest.DSN(t), "-o", res, log)
	if code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	samples := filepath.Join(dir, "results.samples.jsonl")
	raw, _ := os.ReadFile(res)
	if !strings.Contains(string(raw), `"samples":"`+samples+`"`) {
		t.Errorf("results header does not name the samples file:\n%s", raw)
	}
	f, err = pgsample.ReadFile(samples)
	if err != nil {
		t.Fatal(err)
	}
	if f.Trailer == nil || len(f.Samples) < 2 {
		t.Fatalf("%d samples during the replay, trailer %+v", len(f.Samples), f.Trailer)
	}
	set := f.Series(metrics.Window{Start: f.Samples[0].T, End: f.Samples[len(f.Samples)-1].T})
	if set.Get(metrics.Commits) == nil {
		t.Errorf("no commits series from the replay's samples: %v", set.Warnings)
	}
}
