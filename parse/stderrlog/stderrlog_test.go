package stderrlog

import (
	"bytes"
	"errors"
	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

func TestPrefixMatch(t *testing.T) {
	tests := []struct {
		prefix, line string
		want         map[string]string // field -> value; "sev" and "msg" too
	}{
		{"%m|%u|%d|%c|", "2026-11-22 12:17:33.137 UTC|postgres|postgres|6b02dd5d.41da|LOG:  statement: SELECT 1",
			map[string]string{"user": "postgres", "db": "postgres", "sid": "6b02dd5d.41da", "pid": "16858", "sev": "LOG", "msg": "statement: SELECT 1"}},
		{"%m|%u|%d|%c|", "2026-11-22 12:17:32.935 UTC|||6b02dd5c.41c5|LOG:  checkpoint starting: time",
			map[string]string{"user": "", "db": "", "msg": "checkpoint starting: time"}},
		{"%t:%r:%u@%d:[%p]:", "2026-11-22 12:17:33 UTC:10.0.0.7(52144):app@shop:[4242]:LOG:  statement: SELECT 1",
			map[string]string{"host": "10.0.0.7", "port": "52144", "user": "app", "db": "shop", "pid": "4242"}},
		{"%t:%r:%u@%d:[%p]:", "2026-11-22 12:17:33 UTC:[local]:app@shop:[4242]:LOG:  statement: SELECT 1",
			map[string]string{"host": "[local]", "user": "app"}},
		{"%t:%r:%u@%d:[%p]:", "2026-11-22 12:17:33 UTC:2001:db8::1(5432):app@shop:[7]:ERROR:  boom",
			map[string]string{"host": "2001:db8::1", "port": "5432", "sev": "ERROR"}},
		{"%m [%p] %q%u@%d ", "2026-11-22 12:17:33.137 UTC [42] app@shop LOG:  statement: SELECT 1",
			map[string]string{"user": "app", "db": "shop", "pid": "42"}},
		{"%m [%p] %q%u@%d ", "2026-11-22 12:17:33.137 UTC [41] LOG:  checkpoint starting: time",
			map[string]string{"user": "", "pid": "41", "msg": "checkpoint starting: time"}},
		{"%-10u|%5p|", "bob       |   12|LOG:  statement: SELECT 1", map[string]string{"user": "bob", "pid": "12"}},
		{"%n [%p] %e %a: ", "1763813853.113 [9] 22012 my app: ERROR:  division by zero",
			map[string]string{"pid": "9", "state": "22012", "app": "my app", "sev": "ERROR"}},
		{"%m %x %v %l %i %b %Q %%: ", "2026-11-22 12:17:33.137 EST 0 3/12 7 SELECT client backend -42 %: LOG:  x",
			map[string]string{"line": "7", "tag": "SELECT", "btype": "client backend"}},
		{"%s %c %h ", "2026-11-22 12:17:33 CET 6b02dd5d.41da 127.0.0.1 LOG:  x", map[string]string{"host": "127.0.0.1", "sid": "6b02dd5d.41da"}},
	}
	for _, tc := range tests {
		p, err := CompilePrefix(tc.prefix)
		if err != nil {
			t.Fatalf("%q: %v", tc.prefix, err)
		}
		r := &Reader{p: p, tp: &logentry.TimeParser{}, lr: logentry.NewLineReader(strings.NewReader(""), 0)}
		var e logentry.Entry
		if !r.start([]byte(tc.line), &e) {
			t.Errorf("%q does not match %q", tc.prefix, tc.line)
			continue
		}
		got := map[string]string{"user": string(e.User), "db": string(e.Database), "sid": string(e.SessionID),
			"pid": itoa(e.PID), "sev": e.Severity.String(), "msg": string(e.Message), "host": string(e.RemoteHost),
			"port": string(e.RemotePort), "state": string(e.SQLState), "app": string(e.Application),
			"line": itoa(e.LineNum), "tag": string(e.CommandTag), "btype": string(e.BackendType)}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q on %q: %s = %q, want %q", tc.prefix, tc.line, k, got[k], v)
			}
		}
		if e.Time == 0 && strings.ContainsAny(tc.prefix, "mtn") && strings.Contains(tc.prefix, "%m") {
			t.Errorf("%q: no time", tc.line)
		}
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

func TestDetectPrefix(t *testing.T) {
	tests := []struct{ want, lines string }{
		{"%m|%u|%d|%c|", "2026-11-22 12:17:32.935 UTC|||6b02dd5c.41c5|LOG:  starting\n2026-11-22 12:17:33.137 UTC|a|b|6b02dd5d.41da|LOG:  statement: SELECT 1\n\tFROM t\n"},
		{"%t:%r:%u@%d:[%p]:", "2026-11-22 12:17:33 UTC:10.0.0.7(52144):app@shop:[4242]:LOG:  statement: SELECT 1\n2026-11-22 12:17:33 UTC::@:[4240]:LOG:  checkpoint starting: time\n"},
		{"%m [%p] %q%u@%d ", "2026-11-22 12:17:33.137 UTC [42] app@shop LOG:  statement: SELECT 1\n2026-11-22 12:17:33.137 UTC [41] LOG:  checkpoint starting: time\n"},
		{"%t-%c-", "2026-11-22 12:17:33 UTC-6b02dd5d.41da-LOG:  statement: SELECT 1\n"},
		{"%m [%p] %e %c ", "2026-11-22 15:28:36.808 UTC [12586] 00000 6b030a24.312a LOG:  statement: SELECT 1\n2026-11-22 15:28:36.808 UTC [12586] 22012 6b030a24.312a ERROR:  division by zero\n"},
		// The README's recommended prefixes, as PostgreSQL 15 writes them
		// (%q ends the prefix of background processes).
		{"%m [%p] %q%u@%d %c %e ", "2026-12-01 22:41:02.113 UTC [5012] LOG:  checkpoint starting: time\n2026-12-01 22:41:02.118 UTC [5020] app@shop 6b0f4d8e.139c 00000 LOG:  statement: SELECT 1\n2026-12-01 22:41:02.119 UTC [5020] app@shop 6b0f4d8e.139c 22012 ERROR:  division by zero\n"},
		{"%m [%p] %q%u@%d %c %e %v %x ", "2026-12-01 22:41:02.113 UTC [5012] LOG:  checkpoint starting: time\n2026-12-01 22:41:02.118 UTC [5020] app@shop 6b0f4d8e.139c 00000 3/7 0 LOG:  statement: SELECT 1\n2026-12-01 22:41:02.119 UTC [5020] app@shop 6b0f4d8e.139c 00000 3/8 731 LOG:  statement: INSERT INTO t VALUES (1)\n"},
	}
	for _, tc := range tests {
		got, err := DetectPrefix(bytes.Split([]byte(tc.lines), []byte("\n")))
		if err != nil || got != tc.want {
			t.Errorf("DetectPrefix = %q, %v; want %q", got, err, tc.want)
		}
	}
	_, err := DetectPrefix([][]byte{[]byte("hello world"), []byte("LOG:  nope, no prefix here")})
	if err == nil || !strings.Contains(err.Error(), "--log-line-prefix") {
		t.Errorf("error %v does not say which flag to pass", err)
	}
}

func TestReaderFoldsAttachments(t *testing.T) {
	log := "2026-11-22 12:00:00.000 UTC|u|d|1.a|LOG:  execute <unnamed>: SELECT $1\n" +
		"2026-11-22 12:00:00.000 UTC|u|d|1.a|DETAIL:  parameters: $1 = 'two\n" +
		"\t2026-01-01 00:00:00.000 UTC|u|d|1.a|LOG:  statement: SELECT 'injected';'\n" +
		"2026-11-22 12:00:00.001 UTC|u|d|1.a|ERROR:  boom\n" +
		"2026-11-22 12:00:00.001 UTC|u|d|1.a|STATEMENT:  SELECT\n" +
		"\t  1\n" +
		"2026-11-22 12:00:00.002 UTC|u|d|1.b|LOG:  statement: SELECT 2\n" +
		"garbage line\n" +
		"2026-11-22 12:00:00.003 UTC|u|d|1.b|LOG:  statement: SELECT 3\n"
	p, _ := CompilePrefix("%m|%u|%d|%c|")
	r := NewReader(strings.NewReader(log), p, &logentry.TimeParser{})
	type got struct{ sev, msg, detail, query string }
	var all []got
	malformed := 0
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if logentry.IsMalformed(err) {
			malformed++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got{e.Severity.String(), string(e.Message), string(e.Detail), string(e.Query)})
	}
	want := []got{
		{"LOG", "execute <unnamed>: SELECT $1", "parameters: $1 = 'two\n2026-01-01 00:00:00.000 UTC|u|d|1.a|LOG:  statement: SELECT 'injected';'", ""},
		{"ERROR", "boom", "", "SELECT\n  1"},
		{"LOG", "statement: SELECT 2", "", ""},
		{"LOG", "statement: SELECT 3", "", ""},
	}
	if len(all) != len(want) || malformed != 1 {
		t.Fatalf("got %d entries %+v and %d malformed; want %d and 1", len(all), all, malformed, len(want))
	}
	for i := range want {
		if all[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, all[i], want[i])
		}
	}
}

func corpusA(tb testing.TB) []byte { return corpus.Load(tb, "A-stderr.log.gz") }

// TestCorpusA counts the entries of the real log against the corpus
// README: 237,514 log entries of all kinds, of which the DETAIL, HINT,
// CONTEXT and STATEMENT lines fold into the entry they belong to.
func TestCorpusA(t *testing.T) {
	data := corpusA(t)
	// Count the attachment lines independently of the reader.
	attached := 0
	for _, l := range bytes.Split(data, []byte("\n")) {
		if f := bytes.SplitN(l, []byte("|"), 5); len(f) == 5 && len(l) > 0 && l[0] != '\t' {
			for _, w := range []string{"DETAIL:  ", "HINT:  ", "CONTEXT:  ", "STATEMENT:  ", "QUERY:  "} {
				if bytes.HasPrefix(f[4], []byte(w)) {
					attached++
				}
			}
		}
	}
	p, _ := CompilePrefix("%m|%u|%d|%c|")
	r := NewReader(bytes.NewReader(data), p, &logentry.TimeParser{})
	var entries, statements, params, withQuery, long int
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries++
		if bytes.HasPrefix(e.Message, []byte("statement: ")) || bytes.HasPrefix(e.Message, []byte("execute ")) {
			statements++
		}
		if bytes.HasPrefix(e.Detail, []byte("parameters: ")) {
			params++
		}
		if len(e.Query) > 0 {
			withQuery++
		}
		if len(e.Message) > 100_000 || len(e.Detail) > 100_000 {
			long++
		}
	}
	if want := 237514 - attached; entries != want || attached < 73899+15 {
		t.Errorf("entries = %d, want %d", entries, want)
	}
	if statements != 163397 || params != 73899 || withQuery != 15 || long != 2 {
		t.Errorf("statements %d params %d with STATEMENT %d long %d; want 163397 73899 15 2", statements, params, withQuery, long)
	}
}

func BenchmarkReaderCorpusA(b *testing.B) {
	data := corpusA(b)
	p, _ := CompilePrefix("%m|%u|%d|%c|")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), p, &logentry.TimeParser{})
		for {
			if _, err := r.Next(); err != nil && !logentry.IsMalformed(err) {
				break
			}
		}
	}
}

func FuzzCompilePrefix(f *testing.F) {
	for _, s := range append(knownPrefixes, "%-10u%5p%%%", "%q%Q%z") {
		f.Add(s, "2026-11-22 12:17:33.137 UTC [42] app@shop LOG:  statement: SELECT 1")
	}
	f.Fuzz(func(t *testing.T, prefix, line string) {
		p, err := CompilePrefix(prefix)
		if err != nil {
			return
		}
		again, err := CompilePrefix(p.String())
		if err != nil || !reflect.DeepEqual(again.items, p.items) {
			t.Fatalf("%q compiles to %+v, its String %q to %+v (%v)", prefix, p.items, p.String(), again.items, err)
		}
		var e logentry.Entry
		p.match([]byte(line), &e, &logentry.TimeParser{})
	})
}

func FuzzReader(f *testing.F) {
	data := corpusA(f)
	f.Add(data[:4000])
	f.Add([]byte("\t\tx\n2026-11-22 12:00:00.000 UTC|u|d|1.a|DETAIL:  y\n"))
	p, _ := CompilePrefix("%m|%u|%d|%c|")
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), p, &logentry.TimeParser{})
		for i := 0; i < 100000; i++ {
			e, err := r.Next()
			if err != nil && !logentry.IsMalformed(err) {
				return
			}
			if err == nil && e.Time == 0 {
				t.Fatal("entry without time")
			}
		}
	})
}

func FuzzDetectPrefix(f *testing.F) {
	f.Add([]byte("2026-11-22 12:17:33.137 UTC [42] app@shop LOG:  statement: SELECT 1\n2026-11-22 15:28:36.808 UTC [12586] 00000 6b030a24.312a LOG:  x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DetectPrefix(bytes.Split(b, []byte("\n")))
		if err == nil {
			if _, err := CompilePrefix(s); err != nil {
				t.Fatalf("detected prefix %q does not compile: %v", s, err)
			}
		}
	})
}
