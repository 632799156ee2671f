package fingerprint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
)

func TestNormalizeGroupsValues(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"literal vs literal", "SELECT * FROM t WHERE id = 7", "select *   from t where id = 8", true},
		{"literal vs parameter", "SELECT * FROM t WHERE id = 7", "SELECT * FROM t WHERE id = $1", true},
		{"strings", "UPDATE a SET v = 'x' WHERE k = 'secret'", "UPDATE a SET v = 'y' WHERE k = 'other'", true},
		{"in lists of any length", "SELECT 1 FROM t WHERE id IN (1, 2, 3)", "SELECT 1 FROM t WHERE id IN (4)", true},
		{"different tables", "SELECT * FROM t WHERE id = 1", "SELECT * FROM u WHERE id = 1", false},
		{"different columns", "SELECT a FROM t", "SELECT b FROM t", false},
		{"dollar quoting", "SELECT $$it's$$::text", "SELECT $$other$$::text", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, nb := Normalize(tt.a), Normalize(tt.b)
			if (Of(na) == Of(nb)) != tt.same {
				t.Errorf("Normalize(%q) = %q, Normalize(%q) = %q: same fingerprint = %v, want %v", tt.a, na, tt.b, nb, !tt.same, tt.same)
			}
		})
	}
}

func TestNormalizeHidesValues(t *testing.T) {
	for _, q := range []string{
		"SELECT * FROM users WHERE email = 'alice@example.com' AND pin = 4821",
		"INSERT INTO t (a, b) VALUES ('hunter2', 99.5)",
	} {
		n := Normalize(q)
		for _, secret := range []string{"alice", "4821", "hunter2", "99.5"} {
			if contains(n, secret) {
				t.Errorf("Normalize(%q) = %q still shows %q", q, n, secret)
			}
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestIDString(t *testing.T) {
	for _, id := range []ID{0, 1, 0xdeadbeef, ^ID(0)} {
		s := id.String()
		if want := fmt.Sprintf("%016x", uint64(id)); s != want {
			t.Errorf("%d.String() = %q, want %q", id, s, want)
		}
		if a := string(id.Append([]byte("x"))); a != "x"+s {
			t.Errorf("%d.Append(x) = %q, want %q", id, a, "x"+s)
		}
		back, err := ParseID(s)
		if err != nil || back != id {
			t.Errorf("ParseID(%q) = %v, %v; want %v", s, back, err, id)
		}
	}
}

func TestCache(t *testing.T) {
	c := &Cache{Max: 2}
	q := []string{"SELECT 1", "SELECT 2", "SELECT a FROM t", "SELECT 1"}
	for _, text := range q {
		id, norm := c.Lookup(text)
		if id != Of(Normalize(text)) || norm != Normalize(text) {
			t.Fatalf("Lookup(%q) = %v %q, want %v %q", text, id, norm, Of(Normalize(text)), Normalize(text))
		}
	}
	if len(c.m) > 2 {
		t.Errorf("cache holds %d entries, Max is 2", len(c.m))
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"SELECT 1", "select $$a$$", "INSERT INTO t VALUES ('x', E'\\n')", "/* c */ SELECT \"A\" FROM t -- x", "SELECT '{\"a\":1}'::jsonb->>'a'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(s) != n {
			t.Fatalf("Normalize(%q) not deterministic", s)
		}
	})
}

func BenchmarkCacheLookup(b *testing.B) {
	c := &Cache{}
	q := "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(q)
	}
}

func BenchmarkNormalize(b *testing.B) {
	q := "UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 88123;"
	b.ReportAllocs()
	for b.Loop() {
		Normalize(q)
	}
}

// TestShapesNeverJoinWhatTheLexerParts: two texts of one shape always have
// one fingerprint, over the corpus's statements and variants of them with
// other values; and the cache's answers are the lexer's.
func TestShapesNeverJoinWhatTheLexerParts(t *testing.T) {
	texts := corpusTexts(t)
	texts = append(texts,
		"SELECT 'a\\', 'b'", "SELECT 'x\\', 'y'", "SELECT E'it\\'s'", "SELECT 1else", "SELECT 1e5, 1e, 1.5e-3",
		"SELECT $$a$$, $tag$b$tag$, $1", "SELECT \"col 1\" FROM \"t\"\"x\"", "SELECT 1 -- 2\n, 3", "SELECT /* 1 */ 2",
		"SELECT x::varchar(255)", "SELECT x::varchar(10)", "SELECT a FROM t1 WHERE b IN (1, 2, 3)", "SELECT 'unterminated",
		"SELECT U&'d\\0061t\\+000061'", "SELECT B'101', X'1F'", "select 1", "SELECT 1", "SELECT\t1", "SELECT  1 ")
	byShape := map[string]ID{}
	var cache Cache
	for _, text := range texts {
		want := Of(Normalize(text))
		if got, _ := cache.Lookup(text); got != want {
			t.Fatalf("cache gives %v for %q, the lexer %v", got, text, want)
		}
		key, ok := shape(nil, text)
		if !ok {
			continue
		}
		if id, seen := byShape[string(key)]; seen && id != want {
			t.Fatalf("%q shares its shape with a text of another fingerprint (%v, %v)", text, id, want)
		}
		byShape[string(key)] = want
	}
	if len(byShape) == 0 || len(byShape) > len(texts)/2 {
		t.Errorf("%d shapes for %d texts: the shapes do not group", len(byShape), len(texts))
	}
}

// corpusTexts returns the statement texts of the corpus logs, and each
// again with its numbers changed.
func corpusTexts(t *testing.T) []string {
	t.Helper()
	var out []string
	digits := regexp.MustCompile(`\b[0-9]+\b`)
	for _, name := range []string{"A-stderr.statements.jsonl.gz", "B-csvlog.statements.jsonl.gz"} {
		sc := bufio.NewScanner(bytes.NewReader(corpus.Load(t, name)))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var st struct{ Text string }
			if json.Unmarshal(sc.Bytes(), &st) == nil {
				out = append(out, st.Text, digits.ReplaceAllString(st.Text, "7"))
			}
		}
	}
	return out
}

// fuzzCache lives across the fuzzer's inputs, so that a shape wrongly
// shared by two of them is caught.
var fuzzCache Cache

func FuzzShape(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT 'a''b', $1, 2.5e3 FROM t1", "SELECT $$x$$ -- c\n", "SELECT 'a\\', 'b'", "select \"x\" /* y */"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := func() ID { id, _ := fuzzCache.Lookup(text); return id }(), Of(Normalize(text)); got != want {
			t.Fatalf("the cache gives %v for %q, the lexer %v", got, text, want)
		}
	})
}
