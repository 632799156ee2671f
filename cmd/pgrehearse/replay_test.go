package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) {
	// The test binary doubles as pgrehearse, so tests can run several
	// real processes (shards).
	if os.Getenv("PGREHEARSE_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(pgtest.M(m))
}

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
	if sum["statements"].(float64) != 3 || sum["errors"].(float64) != 1 || sum["new_errors"].(float64) != 1 || sum["interrupted"] != false {
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

// TestReplaySafety: a workload parsed with --baseline refuses to replay
// against the cluster it came from; a malformed password file is refused
// without echoing its content.
func TestReplaySafety(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(strings.Join([]string{
		"2026-11-22 12:00:00.000 UTC|postgres|postgres|1.a|LOG:  connection authorized: user=postgres database=postgres",
		"2026-11-22 12:00:00.010 UTC|postgres|postgres|1.a|LOG:  statement: SELECT 1 WHERE 'secret-value' <> ''",
		"2026-11-22 12:00:00.040 UTC|postgres|postgres|1.a|LOG:  disconnection: session time: 0:00:00.040",
	}, "\n")+"\n"), 0o644)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--baseline", pgtest.DSN(t), "-o", w, log); code != exitOK {
		t.Fatalf("parse --baseline: exit %d %s", code, stderr)
	}
	res := filepath.Join(dir, "r.jsonl")
	code, _, stderr := run(t, nil, "replay", "--target", pgtest.DSN(t), "-o", res, w)
	if code != exitUsage || !strings.Contains(stderr, "the cluster the log came from") {
		t.Fatalf("replay against the baseline itself: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(res); err == nil {
		t.Errorf("a refused replay left a results file")
	}
	if code, _, stderr := run(t, nil, "replay", "--allow-same-system", "--target", pgtest.DSN(t), "-o", res, w); code != exitOK {
		t.Fatalf("--allow-same-system: exit %d %s", code, stderr)
	}
	raw, _ := os.ReadFile(res)
	if !strings.Contains(string(raw), `"fp":"`) || strings.Contains(string(raw), "secret-value") {
		t.Errorf("results lack fingerprints or show a value:\n%s", raw)
	}

	pw := filepath.Join(dir, "passwords")
	os.WriteFile(pw, []byte("# users\nalice:s3cr3t\nno-colon-hunter2\n"), 0o600)
	code, _, stderr = run(t, nil, "replay", "--password-file", pw, "--target", pgtest.DSN(t), "-o", res, w)
	if code != exitUsage || !strings.Contains(stderr, pw+":3") || strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "s3cr3t") {
		t.Errorf("malformed password file: exit %d %s", code, stderr)
	}
}

// TestShardsInProcesses replays one workload as three shards in three
// processes started together with --start-at: every statement runs in
// exactly one shard, every session stays whole, and all three clocks
// start at the same instant.
func TestShardsInProcesses(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	ts := func(ms int) string {
		return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000") + " UTC"
	}
	const sessions, perSession = 24, 3
	for s := 0; s < sessions; s++ {
		sid := fmt.Sprintf("%d.a", s+1)
		lines = append(lines, fmt.Sprintf("%s|postgres|postgres|%s|LOG:  connection authorized: user=postgres database=postgres", ts(s), sid))
	}
	for i := 0; i < perSession; i++ {
		for s := 0; s < sessions; s++ {
			lines = append(lines, fmt.Sprintf("%s|postgres|postgres|%d.a|LOG:  statement: SELECT %d, %d", ts(100+10*i+s), s+1, s, i))
		}
	}
	for s := 0; s < sessions; s++ {
		lines = append(lines, fmt.Sprintf("%s|postgres|postgres|%d.a|LOG:  disconnection: session time: 0:00:00.200", ts(300+s), s+1))
	}
	log := filepath.Join(dir, "pg.log")
	os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	start := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339)
	var cmds []*exec.Cmd
	for i := 0; i < 3; i++ {
		cmd := exec.Command(os.Args[0], "replay", "-q", "--shard", fmt.Sprintf("%d/3", i), "--start-at", start,
			"--target", pgtest.DSN(t), "-o", filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i)), w)
		cmd.Env = append(os.Environ(), "PGREHEARSE_TEST_AS_MAIN=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("shard %d stderr:\n%s", i, errb.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	seen := map[string]int{}
	owner := map[float64]int{}
	var starts []time.Time
	for i := 0; i < 3; i++ {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i)))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("shard %d line %d: %v", i, n+1, err)
			}
			n++
			if h, ok := v["header"].(map[string]any); ok {
				st, _ := time.Parse(time.RFC3339Nano, h["started"].(string))
				starts = append(starts, st)
				if h["shard"] != fmt.Sprintf("%d/3", i) {
					t.Errorf("shard %d header says shard %v", i, h["shard"])
				}
				continue
			}
			if _, ok := v["summary"]; ok {
				continue
			}
			s := v["s"].(float64)
			if o, ok := owner[s]; ok && o != i {
				t.Errorf("session %v replayed by shards %d and %d", s, o, i)
			}
			owner[s] = i
			seen[fmt.Sprint(s, "/", v["i"])]++
			if v["sqlstate"] != nil {
				t.Errorf("shard %d: statement failed: %v", i, v)
			}
		}
		f.Close()
	}
	if len(seen) != sessions*perSession || len(owner) != sessions {
		t.Fatalf("%d distinct statements in %d sessions, want %d in %d", len(seen), len(owner), sessions*perSession, sessions)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("statement %s replayed %d times", k, n)
		}
	}
	for _, st := range starts {
		if d := st.Sub(starts[0]); d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("shard clocks started %v apart", d)
		}
	}
	checkShardClocks(t, dir, w, 3)
}
