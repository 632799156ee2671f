package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

// run runs the command in-process and returns its exit code and output.
func run(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environment{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errb}
	ctx := context.Background()
	err := dispatch(ctx, env, args)
	return exitCode(ctx, env, err), out.String(), errb.String()
}

func TestParseJSONSummaryKeys(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "w.pgrw")
	code, stdout, stderr := run(t, nil, "parse", "--json", "-o", out, corpus.Path("C-jsonlog.json.gz"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("--json output is not one JSON object: %v", err)
	}
	for _, k := range []string{"sessions", "statements", "errors", "first", "last", "databases", "users", "skipped"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks key %q", k)
		}
	}
	mf := corpus.LoadManifest(t, "C-jsonlog")
	if int64(m["statements"].(float64)) != mf.ExpectedLogEntries.Statements.Value || int64(m["sessions"].(float64)) != mf.Connections.ClientSessions || int64(m["errors"].(float64)) != mf.Errors.Total {
		t.Errorf("statements=%v sessions=%v errors=%v; the manifest says %d, %d, %d", m["statements"], m["sessions"], m["errors"],
			mf.ExpectedLogEntries.Statements.Value, mf.Connections.ClientSessions, mf.Errors.Total)
	}
	if !strings.HasSuffix(m["first"].(string), "Z") {
		t.Errorf("first = %v, want RFC 3339 UTC", m["first"])
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestParseSummaryTableAndNoSecrets(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, nil, "parse", "-o", filepath.Join(dir, "w"), corpus.Path("A-stderr.log.gz"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"capture window", "163,397", "peak concurrent sessions", "skipped entries"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	// The corpus creates roles with passwords; nothing of them may show.
	if strings.Contains(stderr, "not-a-secret") {
		t.Errorf("summary shows a password:\n%s", stderr)
	}
}

// TestRoundTrip parses a log and reads the workload back with inspect: the
// statements and parameter values come back, parameter values only when
// asked for.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, corpus.Path("B-csvlog.csv.gz")); code != exitOK {
		t.Fatalf("parse exit %d: %s", code, stderr)
	}
	code, stdout, stderr := run(t, nil, "inspect", "--events", "--show-params", w)
	if code != exitOK {
		t.Fatalf("inspect exit %d: %s", code, stderr)
	}
	var statements, withParams int
	var sawInjected, sawLong, sawQuote bool
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var ev eventJSON
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != "statement" {
			continue
		}
		statements++
		if strings.Contains(ev.Text, "SELECT 'injected'") {
			t.Errorf("a parameter value became a statement: %.80q", ev.Text)
		}
		if ev.ParamCount > 0 {
			withParams++
			if len(ev.Params) != ev.ParamCount {
				t.Fatalf("param_count %d but %d values", ev.ParamCount, len(ev.Params))
			}
		}
		for _, p := range ev.Params {
			if p == nil {
				continue
			}
			if strings.Contains(*p, "\nLOG:  statement: SELECT 'injected';") || strings.Contains(*p, "|LOG:  statement: SELECT 'injected';") {
				sawInjected = true
			}
			if len(*p) >= 100_000 {
				sawLong = true
			}
			if strings.Contains(*p, "'") && !strings.Contains(*p, "''''") {
				sawQuote = true
			}
		}
	}
	mf := corpus.LoadManifest(t, "B-csvlog")
	if want := mf.ExpectedLogEntries; int64(statements) != want.Statements.Value || int64(withParams) != want.Params.Value {
		t.Errorf("inspect gave %d statements, %d with parameters; the manifest says %d and %d", statements, withParams, want.Statements.Value, want.Params.Value)
	}
	if !sawInjected || !sawLong || !sawQuote {
		t.Errorf("parameter values lost: fake log line %v, 100 KB value %v, quote %v", sawInjected, sawLong, sawQuote)
	}

	// Without --show-params no value leaves the file.
	_, stdout, _ = run(t, nil, "inspect", "--events", w)
	if strings.Contains(stdout, "SELECT 'injected'") || strings.Contains(stdout, `"params"`) {
		t.Errorf("inspect without --show-params printed parameter values")
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	notALog := filepath.Join(dir, "notes.txt")
	os.WriteFile(notALog, []byte("dear diary,\ntoday I migrated a database\n"), 0o644)

	// A gzip file cut in the middle: what was read before the cut is kept.
	full, err := os.ReadFile(corpus.Path("A-stderr.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.log.gz")
	os.WriteFile(cut, full[:len(full)/2], 0o644)

	// A real log with one line of junk in the middle.
	junky := filepath.Join(dir, "junky.log")
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("2026-11-22 12:17:33.%03d UTC|postgres|postgres|6b02dd5d.41da|LOG:  statement: SELECT %d", 100+i, i))
		if i == 0 {
			lines = append(lines, "this line is junk")
		}
	}
	os.WriteFile(junky, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	// A stderr log with a csvlog appended: half of it is not stderr.
	mixed := filepath.Join(dir, "mixed.log")
	os.WriteFile(mixed, append(corpusHead(t, "A-stderr.log.gz", 5000), corpusHead(t, "B-csvlog.csv.gz", 5000)...), 0o644)
	// A log cut in the middle of its last line.
	cutLine := filepath.Join(dir, "cutline.log")
	os.WriteFile(cutLine, []byte(strings.Join(lines, "\n")+"\n2026-11-22 12:17:34.000 UTC|postgres|postgres|6b02dd5d.41da|LOG:  statement: SELECT * FR"), 0o644)

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"malformed line, strict", []string{"parse", "--strict", "-o", filepath.Join(dir, "w3"), junky}, exitError, "junky.log:2"},
		{"malformed line, counted", []string{"parse", "-o", filepath.Join(dir, "w4"), junky}, exitOK, "junky.log:2"},
		{"no args", []string{"parse"}, exitUsage, "name at least one log"},
		{"unknown flag", []string{"parse", "--bogus", "x"}, exitUsage, "bogus"},
		{"bad format", []string{"parse", "--format", "xml", notALog}, exitUsage, "--format"},
		{"missing file", []string{"parse", filepath.Join(dir, "nope.log")}, exitUsage, "nope.log does not exist"},
		{"mixed formats", []string{"parse", "-o", filepath.Join(dir, "w5"), mixed}, exitUsage, "entries (50.1 %) match no format"},
		{"wrong --format", []string{"parse", "--format", "csvlog", "-o", filepath.Join(dir, "w7"), junky}, exitUsage, `--format csvlog was given, but the file looks like stderr (log_line_prefix "%m|%u|%d|%c|")`},
		{"window outside the log", []string{"parse", "--begin", "2030-01-01T00:00:00Z", "-o", filepath.Join(dir, "w8"), junky}, exitUsage, "the log's entries run from 2026-11-22T12:17:33.100Z to 2026-11-22T12:17:33.119Z"},
		{"cut last line", []string{"parse", "-o", filepath.Join(dir, "w6"), cutLine}, exitOK, "cutline.log:22: the file ends in the middle of a line"},
		{"not a log", []string{"parse", "-o", filepath.Join(dir, "w1"), notALog}, exitUsage, "--log-line-prefix"},
		{"truncated gzip", []string{"parse", "-o", filepath.Join(dir, "w2"), cut}, exitError, "cut.log.gz"},
		{"bad begin", []string{"parse", "--begin", "yesterday", notALog}, exitUsage, "--begin"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.msg)
			}
		})
	}

	// The cut file still produced a valid workload with a trailer that
	// says what happened.
	n, tr := readWorkloadFile(t, filepath.Join(dir, "w2"))
	if tr == nil || tr.Complete || tr.Damage == "" || tr.Statements == 0 || n == 0 {
		t.Fatalf("workload of a cut log: trailer %+v, %d events", tr, n)
	}
}

func TestParseStdinPipe(t *testing.T) {
	raw, err := os.ReadFile(corpus.Path("C-jsonlog.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, raw, "parse", "-q", "-o", "-", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, out2, stderr := run(t, []byte(stdout), "inspect", "-")
	if code != exitOK || !strings.Contains(out2, fmt.Sprintf(`"statements": %d`, corpus.LoadManifest(t, "C-jsonlog").ExpectedLogEntries.Statements.Value)) {
		t.Fatalf("inspect of piped workload: exit %d %s %.300s", code, stderr, out2)
	}
	// Size target: the workload is at most a quarter of the log.
	var logSize int64 = 74_109_971
	if int64(len(stdout))*4 > logSize {
		t.Errorf("workload is %d bytes, more than a quarter of the %d-byte log", len(stdout), logSize)
	}
}

// TestOutputDevice: -o /dev/null (or any non-regular file) is written
// into, never renamed over.
func TestOutputDevice(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", os.DevNull, corpus.Path("C-jsonlog.json.gz")); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	after, err := os.Stat(os.DevNull)
	if err != nil || after.Mode() != before.Mode() {
		t.Fatalf("%s changed from %v to %v", os.DevNull, before.Mode(), after.Mode())
	}
}

// cancelAfter cancels a context once n bytes have been read through it,
// the way Ctrl-C lands in the middle of a parse.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestInterrupted: Ctrl-C leaves a valid workload whose trailer says it was
// interrupted, and exits 130.
func TestInterrupted(t *testing.T) {
	raw, err := os.ReadFile(corpus.Path("B-csvlog.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "w.pgrw")
	var errb bytes.Buffer
	env := &environment{stdin: &cancelAfter{r: bytes.NewReader(raw), n: len(raw) / 2, cancel: cancel}, stdout: io.Discard, stderr: &errb}
	err = dispatch(ctx, env, []string{"parse", "-o", out, "-"})
	if code := exitCode(ctx, env, err); code != exitInterrupted {
		t.Fatalf("exit %d (%v), want %d", code, err, exitInterrupted)
	}
	_, tr := readWorkloadFile(t, out)
	if tr == nil || !tr.Interrupted || tr.Complete || tr.Statements == 0 || tr.Statements >= corpus.LoadManifest(t, "B-csvlog").ExpectedLogEntries.Statements.Value {
		t.Fatalf("trailer %+v", tr)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("summary does not say the parse was interrupted:\n%s", errb.String())
	}
}

// readWorkloadFile reads a workload file to its end, failing the test on
// any damage, and returns the number of events and the trailer.
func readWorkloadFile(t *testing.T, path string) (int, *parse.Summary) {
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
	n := 0
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, r.Trailer()
		}
		if err != nil {
			t.Fatalf("workload %s unreadable: %v", path, err)
		}
		n++
	}
}
