package stderrlog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// readAll returns the messages (with detail) of the entries of log, and
// the malformed errors met on the way.
func readAll(t *testing.T, log []byte) ([]string, []*logentry.MalformedError) {
	t.Helper()
	p, _ := CompilePrefix("%m|%u|%d|%c|")
	r := NewReader(bytes.NewReader(log), p, &logentry.TimeParser{})
	var msgs []string
	var bad []*logentry.MalformedError
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return msgs, bad
		}
		var m *logentry.MalformedError
		if errors.As(err, &m) {
			bad = append(bad, m)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(e.Message)+"|"+string(e.Detail))
	}
}

// TestReaderCutLastLine: a log that ends in the middle of a line was cut
// off; the entry that line belongs to is reported as cut, never handed
// on as a (shorter) statement that would replay as a false syntax error.
func TestReaderCutLastLine(t *testing.T) {
	const one = "2026-11-22 12:00:00.000 UTC|u|d|1.a|LOG:  statement: SELECT 1\n"
	tests := []struct {
		name string
		log  string
		want []string // messages of the entries read
		cut  int64    // line of the cut entry, 0 for none
	}{
		{"whole", one + "2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  statement: SELECT 2\n", []string{"statement: SELECT 1|", "statement: SELECT 2|"}, 0},
		{"statement cut", one + "2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  statement: SELECT * FROM ev", []string{"statement: SELECT 1|"}, 2},
		{"continuation cut", one + "2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  statement: SELECT *\n\tFROM ev", []string{"statement: SELECT 1|"}, 2},
		{"parameters cut", one + "2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  execute <unnamed>: SELECT $1\n" +
			"2026-11-22 12:00:00.001 UTC|u|d|1.a|DETAIL:  parameters: $1 = 'ab", []string{"statement: SELECT 1|"}, 2},
		{"prefix cut", one + "2026-11-22 12:00:0", []string{"statement: SELECT 1|"}, 2},
		{"only line cut", "2026-11-22 12:00:00.001 UTC|u|d|1.a|LOG:  statement: SELECT * FROM ev", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, bad := readAll(t, []byte(tc.log))
			if strings.Join(msgs, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("entries %q, want %q", msgs, tc.want)
			}
			var cut []*logentry.MalformedError
			for _, m := range bad {
				if m.Cut {
					cut = append(cut, m)
				}
			}
			switch {
			case tc.cut == 0 && len(bad) > 0:
				t.Errorf("malformed %+v in a whole log", bad[0])
			case tc.cut != 0 && (len(cut) != 1 || len(bad) != 1 || cut[0].Line != tc.cut || !strings.Contains(cut[0].Reason, "cut off")):
				t.Errorf("malformed %+v, want one cut entry at line %d", bad, tc.cut)
			}
		})
	}
}

// TestReaderCRLF: corpus A with every line ended in "\r\n", as a copy
// through Windows leaves it, reads exactly as the original: the same
// entries, all 73,899 parameter lists, no "\r" in any message.
func TestReaderCRLF(t *testing.T) {
	data := corpusA(t)
	crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
	want, _ := readAll(t, data)
	got, bad := readAll(t, crlf)
	if len(bad) != 0 || len(got) != len(want) {
		t.Fatalf("CRLF: %d entries and %d malformed, want %d and 0", len(got), len(bad), len(want))
	}
	params := 0
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: %.120q, want %.120q", i, got[i], want[i])
		}
		if strings.Contains(got[i], "|parameters: ") {
			params++
		}
	}
	if params != 73899 {
		t.Errorf("%d parameter lists, want 73899", params)
	}
	// A "\r" that is data (in an LF log) stays.
	msgs, _ := readAll(t, []byte("2026-11-22 12:00:00.000 UTC|u|d|1.a|LOG:  statement: SELECT 'a\r'\n"))
	if len(msgs) != 1 || msgs[0] != "statement: SELECT 'a\r'|" {
		t.Errorf("LF log with a \\r in a statement: %q", msgs)
	}
}
