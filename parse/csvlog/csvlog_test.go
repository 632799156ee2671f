package csvlog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"io"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

func corpusB(tb testing.TB) []byte { return corpus.Load(tb, "B-csvlog.csv.gz") }

func readAll(t testing.TB, data []byte) (entries []logentry.Entry, malformed int) {
	r := NewReader(bytes.NewReader(data), &logentry.TimeParser{})
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if logentry.IsMalformed(err) {
			malformed++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		c := *e
		for _, f := range []*[]byte{&c.Message, &c.Detail, &c.Query, &c.User, &c.Application, &c.SQLState, &c.BackendType} {
			*f = append([]byte(nil), (*f)...)
		}
		entries = append(entries, c)
	}
}

// TestCorpusB checks the reader against encoding/csv on the real log and
// against the corpus README's counts.
func TestCorpusB(t *testing.T) {
	data := corpusB(t)
	want, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got, malformed := readAll(t, data)
	if malformed != 0 || len(got) != len(want) || len(got) != 156477 {
		t.Fatalf("%d entries, %d malformed; encoding/csv reads %d, the README says 156477", len(got), malformed, len(want))
	}
	statements, params := 0, 0
	for i, e := range got {
		w := want[i]
		if string(e.Message) != w[colMessage] || string(e.Detail) != w[colDetail] || string(e.Query) != w[colQuery] ||
			string(e.User) != w[colUser] || string(e.Application) != w[colApplication] || string(e.BackendType) != w[colBackendType] {
			t.Fatalf("record %d differs from encoding/csv", i)
		}
		if bytes.HasPrefix(e.Message, []byte("statement: ")) || bytes.HasPrefix(e.Message, []byte("execute ")) {
			statements++
		}
		if bytes.HasPrefix(e.Detail, []byte("parameters: ")) {
			params++
		}
	}
	if statements != 156278 || params != 70874 {
		t.Errorf("statements %d, parameter lists %d; want 156278 and 70874", statements, params)
	}
}

func TestColumnSets(t *testing.T) {
	base := `2026-11-22 12:18:14.151 UTC,"u","d",17157,"127.0.0.1:39004",6b02dd86.4305,3,"SELECT",2026-11-22 12:18:14 UTC,3/1,0,LOG,00000,"statement: SELECT 'a ""quoted""
multi-line'",,,,,,,,`
	tests := []struct {
		name, tail string
		app, bt    string
		bad        bool
	}{
		{"22 columns (8.4)", "", "", "", false},
		{"23 columns (9.0-12)", `,"app"`, "app", "", false},
		{"24 columns (13)", `,"app","client backend"`, "app", "client backend", false},
		{"26 columns (14+)", `,"app","client backend",,0`, "app", "client backend", false},
		{"25 columns", `,"app","client backend",`, "", "", true},
	}
	for _, tc := range tests {
		got, malformed := readAll(t, []byte(base+tc.tail+"\n"))
		if tc.bad {
			if malformed != 1 || len(got) != 0 {
				t.Errorf("%s: %d entries %d malformed, want a malformed record", tc.name, len(got), malformed)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d entries (%d malformed)", tc.name, len(got), malformed)
		}
		e := got[0]
		if string(e.Message) != "statement: SELECT 'a \"quoted\"\nmulti-line'" || string(e.Application) != tc.app || string(e.BackendType) != tc.bt || e.PID != 17157 || string(e.User) != "u" {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
}

func TestTruncated(t *testing.T) {
	data := "2026-11-22 12:18:14.151 UTC,u,d,1,,1.a,1,,2026-11-22 12:18:14 UTC,,0,LOG,00000,\"statement: SELECT 1\",,,,,,,,,\"\"\n" +
		"2026-11-22 12:18:14.152 UTC,u,d,1,,1.a,2,,2026-11-22 12:18:14 UTC,,0,LOG,00000,\"statement: SELECT 'cut"
	got, malformed := readAll(t, []byte(data))
	if len(got) != 1 || malformed != 1 {
		t.Fatalf("%d entries %d malformed, want 1 and 1", len(got), malformed)
	}
}

func TestLooks(t *testing.T) {
	if !Looks(corpusB(t)[:2000]) {
		t.Error("corpus B does not look like csvlog")
	}
	for _, s := range []string{"", "hello", `{"timestamp":"2026-11-22 07:18:54.000 EST"}`, "2026-11-22 12:17:33.137 UTC|u|d|1.a|LOG:  x"} {
		if Looks([]byte(s)) {
			t.Errorf("%q looks like csvlog", s)
		}
	}
}

func BenchmarkCSVCorpusB(b *testing.B) {
	data := corpusB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), &logentry.TimeParser{})
		for {
			if _, err := r.Next(); err != nil && !logentry.IsMalformed(err) {
				break
			}
		}
	}
}

func FuzzCSVReader(f *testing.F) {
	data := corpusB(f)
	f.Add(data[:3000])
	f.Add([]byte("a,\"b\"\"\nc\",d\n\"unterminated"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), &logentry.TimeParser{})
		for i := 0; i < 100000; i++ {
			_, err := r.Next()
			if err != nil && !logentry.IsMalformed(err) {
				return
			}
		}
		if strings.Count(string(b), "\n") < 100000 {
			t.Fatal("reader did not end")
		}
	})
}
