package parse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

// runBytes parses log from standard input.
func runBytes(t *testing.T, log []byte, opt parse.Options) (*parse.Summary, []byte, error) {
	t.Helper()
	opt.Stdin = bytes.NewReader(log)
	var out bytes.Buffer
	sum, err := parse.Run(context.Background(), []string{"-"}, &out, opt)
	return sum, out.Bytes(), err
}

// statementTexts reads back the statements of a workload.
func statementTexts(t *testing.T, workload []byte) []string {
	t.Helper()
	r, err := parse.NewReader(bytes.NewReader(workload))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var texts []string
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return texts
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == parse.Statement {
			texts = append(texts, ev.Text)
		}
	}
}

// TestCRLFStderrLog: corpus A with "\r\n" line ends parses like the
// original: every statement, all 73,899 bound parameter lists, nothing
// malformed, no statement text ending in "\r".
func TestCRLFStderrLog(t *testing.T) {
	m := loadManifest(t, "A-stderr")
	crlf := bytes.ReplaceAll(corpus.Load(t, "A-stderr.log.gz"), []byte("\n"), []byte("\r\n"))
	sum, workload, err := runBytes(t, crlf, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != m.ExpectedLogEntries.Statements.Value || sum.WithParams != m.ExpectedLogEntries.Params.Value || sum.Skipped["malformed"] != 0 {
		t.Fatalf("statements %d with parameters %d malformed %d; want %d, %d, 0", sum.Statements, sum.WithParams, sum.Skipped["malformed"],
			m.ExpectedLogEntries.Statements.Value, m.ExpectedLogEntries.Params.Value)
	}
	for _, s := range statementTexts(t, workload) {
		if strings.HasSuffix(s, "\r") {
			t.Fatalf("statement ends in \\r: %.80q", s)
		}
	}
}

// TestCutLastLine: a log cut in the middle of its last line keeps
// everything before it; the fragment is counted as cut_off and never
// becomes a statement.
func TestCutLastLine(t *testing.T) {
	head := corpusHead(t, "A-stderr.log.gz", 3000)
	// Cut inside the text of the last statement entry.
	i := bytes.LastIndex(head, []byte("LOG:  statement: "))
	cut := head[:i+len("LOG:  statement: ")+6]
	fragment := string(cut[i+len("LOG:  statement: "):])
	whole, _, err := runBytes(t, head[:bytes.LastIndexByte(cut, '\n')+1], parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum, workload, err := runBytes(t, cut, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped["cut_off"] != 1 || !sum.Files[0].CutLastLine || sum.Statements != whole.Statements {
		t.Errorf("cut_off %d, cut_last_line %v, statements %d (the log without the fragment: %d)",
			sum.Skipped["cut_off"], sum.Files[0].CutLastLine, sum.Statements, whole.Statements)
	}
	for _, s := range statementTexts(t, workload) {
		if s == fragment {
			t.Fatalf("the cut fragment %q became a statement", fragment)
		}
	}
	if len(sum.Problems) == 0 || !strings.Contains(sum.Problems[len(sum.Problems)-1].Reason, "cut off") {
		t.Errorf("problems %+v do not report the cut", sum.Problems)
	}
}

// TestMixedFormats: a stderr log with a csvlog appended (cat a.log b.csv)
// loses the csv half; the parse says so with the share and fails (exit 2
// in the command) above 10 % of unreadable entries, and below it counts
// them per file and goes on.
func TestMixedFormats(t *testing.T) {
	stderr := corpusHead(t, "A-stderr.log.gz", 20000)
	csv := corpusHead(t, "B-csvlog.csv.gz", 20000)
	mixed := append(append([]byte{}, stderr...), csv...)
	_, _, err := runBytes(t, mixed, parse.Options{})
	if !errors.Is(err, parse.ErrUnrecognized) || !strings.Contains(err.Error(), "match no format") || !strings.Contains(err.Error(), "%") {
		t.Fatalf("mixed formats: %v, want the share of unreadable entries", err)
	}
	// A little junk is counted, not fatal.
	junk := append(append([]byte{}, stderr...), "some junk\nmore junk\n"...)
	sum, _, err := runBytes(t, junk, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files[0].Unreadable != 2 || sum.Skipped["malformed"] != 2 {
		t.Errorf("unreadable %d malformed %d, want 2 and 2", sum.Files[0].Unreadable, sum.Skipped["malformed"])
	}
}

// TestAssemblerProblemsAreProblems: malformed entries the assembler finds
// (an execute without its ': ') reach the callback once, and --strict
// stops there like at any other malformed entry.
func TestAssemblerProblemsAreProblems(t *testing.T) {
	log := []byte("2026-11-22 12:00:00.000 UTC|u|d|1.a|LOG:  connection authorized: user=u database=d\n" +
		"2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  statement: SELECT 1\n" +
		"2026-11-22 12:00:00.002 UTC|u|d|1.a|LOG:  execute S_1 SELECT 2\n" +
		"2026-11-22 12:00:00.003 UTC|u|d|1.a|LOG:  statement: SELECT 3\n" +
		"2026-11-22 12:00:00.004 UTC|u|d|1.a|LOG:  disconnection: session time: 0:00:00.004\n")
	for _, strict := range []bool{false, true} {
		var seen []parse.Problem
		sum, _, err := runBytes(t, log, parse.Options{Strict: strict, Prefix: "%m|%u|%d|%c|", Malformed: func(p parse.Problem) { seen = append(seen, p) }})
		if len(seen) != 1 || seen[0].Line != 3 || sum.Skipped["malformed"] != 1 {
			t.Errorf("strict=%v: callback saw %+v, malformed %d; want line 3 once", strict, seen, sum.Skipped["malformed"])
		}
		if strict != errors.Is(err, parse.ErrMalformed) {
			t.Errorf("strict=%v: err = %v", strict, err)
		}
	}
}

// failAfter is a disk that fills up after n bytes.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, syscall.ENOSPC
	}
	f.n -= len(p)
	return len(p), nil
}

// TestOutputFailureStopsParse: when the workload can not be written (a
// full disk), the parse stops at once instead of reading the whole log,
// and says where it stopped.
func TestOutputFailureStopsParse(t *testing.T) {
	sum, err := parse.Run(context.Background(), []string{corpusPath("A-stderr.log.gz")}, &failAfter{n: 64 << 10}, parse.Options{Uncompressed: true})
	if !errors.Is(err, parse.ErrOutput) || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "stopped reading at") {
		t.Fatalf("err = %v, want the write error and where parsing stopped", err)
	}
	if sum == nil || sum.Entries > 237514/4 {
		t.Errorf("read %d entries after the output failed", sum.Entries)
	}
	// A disk full from the start (/dev/full) fails before reading.
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := parse.Run(context.Background(), []string{corpusPath("A-stderr.log.gz")}, f, parse.Options{}); !errors.Is(err, parse.ErrOutput) {
		t.Errorf("/dev/full: %v", err)
	}
}

// TestMessagesSayWhatWasSeen: a --begin window outside the log names the
// log's own window, and a wrong --format names the format detected.
func TestMessagesSayWhatWasSeen(t *testing.T) {
	tomorrow := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	_, err := parse.Run(context.Background(), []string{corpusPath("A-stderr.log.gz")}, io.Discard, parse.Options{Begin: tomorrow})
	if !errors.Is(err, parse.ErrUnrecognized) || !strings.Contains(err.Error(), "2026-11-22T12:17:32.935Z to 2026-11-22T12:18:04.941Z") || !strings.Contains(err.Error(), "--begin 2026-11-23T00:00:00") ||
		strings.Contains(err.Error(), "log_statement") {
		t.Errorf("--begin after the log: %v", err)
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "b.csv")
	os.WriteFile(csv, corpusHead(t, "B-csvlog.csv.gz", 2000), 0o600)
	tests := []struct {
		format parse.Format
		path   string
		want   string
	}{
		{parse.FormatCSV, corpusPath("A-stderr.log.gz"), `looks like stderr (log_line_prefix "%m|%u|%d|%c|")`},
		{parse.FormatJSON, csv, "looks like csvlog"},
		{parse.FormatStderr, csv, "looks like csvlog"},
	}
	for _, tc := range tests {
		_, err := parse.Run(context.Background(), []string{tc.path}, io.Discard, parse.Options{Format: tc.format})
		if !errors.Is(err, parse.ErrUnrecognized) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--format") {
			t.Errorf("--format %s on %s: %v, want %q", tc.format, filepath.Base(tc.path), err, tc.want)
		}
	}
}
