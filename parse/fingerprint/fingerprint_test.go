package fingerprint

import "testing"

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
		if len(s) != 16 {
			t.Errorf("%d.String() = %q, want 16 digits", id, s)
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
