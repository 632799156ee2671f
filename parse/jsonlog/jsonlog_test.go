package jsonlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"io"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

func corpusC(tb testing.TB) []byte { return corpus.Load(tb, "C-jsonlog.json.gz") }

// TestCorpusC compares every line with encoding/json and checks the
// corpus README's counts and the EST time zone.
func TestCorpusC(t *testing.T) {
	data := corpusC(t)
	r := NewReader(bytes.NewReader(data), &logentry.TimeParser{})
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	n, statements, params := 0, 0, 0
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(lines[n], &want); err != nil {
			t.Fatal(err)
		}
		str := func(k string) string { s, _ := want[k].(string); return s }
		if string(e.Message) != str("message") || string(e.Detail) != str("detail") || string(e.Query) != str("statement") ||
			string(e.User) != str("user") || string(e.Application) != str("application_name") || float64(e.PID) != want["pid"].(float64) {
			t.Fatalf("line %d differs from encoding/json", n+1)
		}
		if n == 0 {
			// 07:18:54.000 EST is 12:18:54 UTC.
			if got := time.UnixMicro(e.Time).UTC().Format("15:04:05.000"); got != "12:18:54.000" {
				t.Errorf("first stamp = %s UTC, want 12:18:54.000", got)
			}
		}
		if bytes.HasPrefix(e.Message, []byte("statement: ")) || bytes.HasPrefix(e.Message, []byte("execute ")) {
			statements++
		}
		if bytes.HasPrefix(e.Detail, []byte("parameters: ")) {
			params++
		}
		n++
	}
	if n != 154201 || statements != 154003 || params != 70114 {
		t.Errorf("%d lines, %d statements, %d parameter lists; want 154201, 154003, 70114", n, statements, params)
	}
}

func TestEscapesAndErrors(t *testing.T) {
	line := `{"timestamp":"2026-11-22 07:18:54.000 EST","pid":1,"message":"a\nb\t\"c\"\\ \u00e9 \ud83d\ude00 \/","error_severity":"LOG","unknown_key":[1,2]}`
	r := NewReader(bytes.NewReader([]byte(line+"\n")), &logentry.TimeParser{})
	_, err := r.Next()
	if !logentry.IsMalformed(err) {
		t.Fatalf("a nested array must be malformed, got %v", err)
	}
	line = `{"timestamp":"2026-11-22 07:18:54.000 EST","pid":1,"message":"a\nb\t\"c\"\\ \u00e9 \ud83d\ude00 \/","error_severity":"LOG","null_key":null}`
	r = NewReader(bytes.NewReader([]byte(line+"\n{\"timestamp\":\"2026-11-22 07:18:54.000 EST\",\"message\":\"cut")), &logentry.TimeParser{})
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Message) != "a\nb\t\"c\"\\ é 😀 /" {
		t.Errorf("message = %q", e.Message)
	}
	if _, err := r.Next(); !logentry.IsMalformed(err) {
		t.Errorf("cut line: %v, want malformed", err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the cut line: %v, want EOF", err)
	}
}

func BenchmarkJSONCorpusC(b *testing.B) {
	data := corpusC(b)
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

// FuzzJSONReader checks the scanner against encoding/json: when both
// accept a line, the strings they read must agree.
func FuzzJSONReader(f *testing.F) {
	for _, l := range bytes.SplitN(corpusC(f), []byte("\n"), 30)[:29] {
		f.Add(l)
	}
	f.Add([]byte(`{"timestamp":"2026-11-22 07:18:54.000 EST","message":"\ud800x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := NewReader(bytes.NewReader(line), &logentry.TimeParser{})
		e, err := r.Next()
		if err != nil || bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			return
		}
		if s, ok := m["message"].(string); ok && bytes.ContainsRune([]byte(s), 0xFFFD) == false && s != string(e.Message) {
			t.Fatalf("message %q, encoding/json reads %q", e.Message, s)
		}
	})
}
