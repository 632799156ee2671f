package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/replay"
)

// namesServer starts a cluster with a database names under locale, and a
// table of names C and ICU en-US sort differently.
func namesServer(t *testing.T, locale string) string {
	t.Helper()
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	for _, step := range []struct{ db, sql string }{
		{"postgres", "CREATE DATABASE names TEMPLATE template0 " + locale},
		{"names", "CREATE TABLE people (name text)"},
		{"names", "INSERT INTO people VALUES ('b'), ('_x'), ('Z'), ('a'), ('B')"},
		{"names", "CREATE INDEX people_name ON people (name)"},
	} {
		if err := execSQL(ctx, c.DSN("postgres", step.db), step.sql); err != nil {
			t.Fatal(err)
		}
	}
	return c.DSN("postgres", "postgres")
}

func namesLog(t *testing.T, dir string) string {
	t.Helper()
	log := filepath.Join(dir, "names.log")
	lines := []string{"2026-11-22 12:00:00.000 UTC|postgres|names|1.a|LOG:  connection authorized: user=postgres database=names"}
	for i, st := range []string{"SELECT name FROM people ORDER BY name", "SELECT count(*) FROM people WHERE name < 'a'", "SELECT count(*) FROM people", "SELECT now()"} {
		lines = append(lines, "2026-11-22 12:00:00.0"+string(rune('1'+i))+"0 UTC|postgres|names|1.a|LOG:  duration: 0.100 ms  statement: "+st)
	}
	lines = append(lines, "2026-11-22 12:00:00.090 UTC|postgres|names|1.a|LOG:  disconnection: session time: 0:00:00.090")
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return log
}

func resultsHeader(t *testing.T, path string) *replay.ResultsHeader {
	t.Helper()
	rr, f, err := replay.OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return rr.Header()
}

// TestReplayWithControl: replay --control writes the control's results
// beside the candidate's, says at the start what the collation pre-flight
// found, and compare --control-results finds the divergence; with
// --control-after the same, one replay after the other; run --control
// does it all in its directory.
func TestReplayWithControl(t *testing.T) {
	dir := t.TempDir()
	ctl, cand := namesServer(t, "LOCALE 'C'"), namesServer(t, "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
	log := namesLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	for _, mode := range []string{"concurrent", "after"} {
		res := filepath.Join(dir, mode+".jsonl")
		args := []string{"replay", "-q", "--target", cand, "--control", ctl, "--check-indexes", "-o", res, w}
		if mode == "after" {
			args = append(args, "--control-after")
		}
		code, _, stderr := run(t, nil, args...)
		if code != exitOK {
			t.Fatalf("replay %s: exit %d\n%s", mode, code, stderr)
		}
		if !strings.Contains(stderr, "warning: collation: database names: default collation ICU en-US (LC_COLLATE C) on the candidate, libc C on the control") ||
			!strings.Contains(stderr, "control: replayed 4 of 4 statements") {
			t.Errorf("replay %s said:\n%s", mode, stderr)
		}
		ctlRes := filepath.Join(dir, "control."+mode+".jsonl")
		h, ch := resultsHeader(t, res), resultsHeader(t, ctlRes)
		if h.Role != "" || ch.Role != "control" || h.ControlMode != mode || ch.ControlMode != mode || !h.Checksums || !ch.Checksums ||
			h.Collation == nil || len(h.Collation.Indexes) != 1 || h.Collation.Indexes[0].Check != "ok" {
			t.Errorf("%s: headers %+v / %+v", mode, h, ch)
		}
		out := filepath.Join(dir, mode+".comparison.json")
		code, stdout, stderr := run(t, nil, "compare", "--workload", w, "--results", res, "--control-results", ctlRes, "-o", out)
		if code != exitNoGo || !strings.Contains(stdout, "order only") || !strings.Contains(stdout, "Collations") {
			t.Fatalf("compare %s: exit %d\n%s\n%s", mode, code, stdout, stderr)
		}
		var c compare.Comparison
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if d := c.Divergence; d == nil || d.Compared != 4 || d.Results != 2 || d.OrderOnly != 1 || d.NonDeterministic != 1 || c.Control.Mode != mode {
			t.Errorf("%s: divergence %+v", mode, c.Divergence)
		}
	}

	// run --control: every file in its directory.
	d := filepath.Join(dir, "run")
	code, stdout, stderr := run(t, nil, "run", "--target", cand, "--control", ctl, "--dir", d, log)
	if code != exitNoGo || !strings.Contains(stdout, "Divergence") || !strings.Contains(stderr, "--control-results "+filepath.Join(d, "control.results.jsonl")) {
		t.Fatalf("run --control: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if h := resultsHeader(t, filepath.Join(d, "control.results.jsonl")); h.Role != "control" {
		t.Errorf("run's control results: %+v", h)
	}
}

func TestControlUsage(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, namesLog(t, dir)); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	dsn := pgtest.DSN(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--target", dsn, "--control-output", filepath.Join(dir, "c.jsonl"), w}, "--control-output needs --control"},
		{[]string{"replay", "--target", dsn, "--control", dsn, "-o", filepath.Join(dir, "r.jsonl"), w}, "the same server"},
		{[]string{"replay", "--target", dsn, "--control", dsn, "--control-after", "-o", filepath.Join(dir, "r.jsonl"), "-"}, "standard input"},
		{[]string{"compare", "--workload", w, "--results", w, "--control-metrics", "pg:" + dsn}, "needs --control-results"},
	} {
		code, _, stderr := run(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d\n%s", tc.args, code, stderr)
		}
	}
	// The candidate as its own control is refused before anything runs.
	if _, err := os.Stat(filepath.Join(dir, "r.jsonl")); err == nil {
		t.Error("a results file was written")
	}
}
