package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// TestReplayCommand runs parse then replay through the command line
// against a real server and checks the summary keys other tools read.
func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(strings.Join([]string{
		"2026-11-22 12:00:00.000 UTC|postgres|postgres|1.a|LOG:  connection authorized: user=postgres database=postgres application_name=app",
		"2026-11-22 12:00:00.010 UTC|postgres|postgres|1.a|LOG:  statement: SELECT 1",
		"2026-11-22 12:00:00.020 UTC|postgres|postgres|1.a|LOG:  execute <unnamed>: SELECT $1::int + 1",
		"2026-11-22 12:00:00.020 UTC|postgres|postgres|1.a|DETAIL:  parameters: $1 = '41'",
		"2026-11-22 12:00:00.030 UTC|postgres|postgres|1.a|LOG:  statement: SELECT * FROM no_such_table_here",
		"2026-11-22 12:00:00.040 UTC|postgres|postgres|1.a|LOG:  disconnection: session time: 0:00:00.040",
	}, "\n")+"\n"), 0o644)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	res := filepath.Join(dir, "results.jsonl")
	code, stdout, stderr := run(t, nil, "replay", "--json", "--target", pgtest.DSN(t), "-o", res, w)
	if code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"statements", "replayed", "skipped", "errors", "new_errors", "sessions", "lateness_p99_ms", "lateness_max_ms", "latency_p99_ms", "started", "finished", "interrupted"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	// The missing table worked nowhere; on this target it fails, and
	// production did not record an error for it: a new error.
	if sum["statements"].(float64) != 3 || sum["errors"].(float64) != 1 || sum["new_errors"].(float64) != 1 {
		t.Errorf("summary %v", sum)
	}
	if strings.Contains(stderr, "password") {
		t.Errorf("stderr mentions a password: %s", stderr)
	}
	// A log is accepted as well, parsed on the fly.
	code, stdout, stderr = run(t, nil, "replay", "--json", "--target", pgtest.DSN(t), "-o", filepath.Join(dir, "r2.jsonl"), log)
	if code != exitOK || !strings.Contains(stdout, `"statements": 3`) {
		t.Fatalf("replay of a log: exit %d %s %s", code, stderr, stdout)
	}
	// A bad shard is a usage error.
	if code, _, _ := run(t, nil, "replay", "--shard", "4/4", "--target", pgtest.DSN(t), w); code != exitUsage {
		t.Errorf("--shard 4/4: exit %d, want %d", code, exitUsage)
	}
	raw, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], `"pgrehearse-results"`) || !strings.HasPrefix(lines[4], `{"summary"`) {
		t.Errorf("results file:\n%s", raw)
	}
}
