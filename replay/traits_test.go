package replay

import (
	"testing"
)

func TestScanTraits(t *testing.T) {
	for _, tc := range []struct {
		text     string
		ordered  bool
		volatile string
	}{
		{"SELECT name FROM products ORDER BY name", true, ""},
		{"select name from products order by name limit 5", true, ""},
		{"SELECT count(*) FROM products WHERE name < 'a'", false, ""},
		// ORDER BY below the top level orders nothing the client sees.
		{"SELECT * FROM (SELECT name FROM t ORDER BY name) s", false, ""},
		{"SELECT array_agg(name ORDER BY name) FROM t", false, ""},
		{"SELECT id, rank() OVER (ORDER BY score) FROM t", false, ""},
		{"WITH x AS (SELECT * FROM t ORDER BY 1) SELECT * FROM x", false, ""},
		{"SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", true, ""},
		// Keywords inside literals, identifiers and comments are not keywords.
		{"SELECT 'ORDER BY x' FROM t", false, ""},
		{`SELECT "order by" FROM t -- ORDER BY a`, false, ""},
		{"SELECT $q$ now() $q$", false, ""},
		{"SELECT random()", false, "random()"},
		{"SELECT * FROM t ORDER BY random() LIMIT 1", true, "random()"},
		{"SELECT now()", false, "now()"},
		{"SELECT pg_catalog.now ()", false, "now()"},
		{"INSERT INTO audit VALUES (current_timestamp, $1)", false, "current_timestamp"},
		{"SELECT gen_random_uuid()", false, "gen_random_uuid()"},
		{"SELECT nextval('s')", false, "nextval()"},
		{"SELECT txid_current()", false, "txid_current()"},
		{"SELECT * FROM t LIMIT 10", false, "LIMIT without ORDER BY"},
		{"SELECT * FROM t FETCH FIRST 3 ROWS ONLY", false, "LIMIT without ORDER BY"},
		{"SELECT * FROM t ORDER BY id LIMIT 10", true, ""},
		{"SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 3) ORDER BY id", true, ""},
		{"INSERT INTO t (name) VALUES ($1) RETURNING id", false, "INSERT … RETURNING"},
		{"UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n", false, ""},
		{"SELECT xmin, * FROM t", false, "system column xmin"},
		{"SELECT t.ctid FROM t", false, "system column ctid"},
		{"SELECT * FROM t TABLESAMPLE SYSTEM (10)", false, "TABLESAMPLE"},
		{"SHOW work_mem", false, "SHOW"},
		{"SELECT * FROM pg_stat_activity", false, "statistics view pg_stat_activity"},
		{"SELECT version FROM schema_migrations", false, ""},
		{"SELECT version()", false, "version()"},
		// Several statements in one simple query.
		{"SELECT 1; SELECT name FROM t ORDER BY name", true, ""},
		{"SELECT * FROM t LIMIT 1; SELECT 2", false, "LIMIT without ORDER BY"},
		{"", false, ""},
		{"SELECT 'unterminated", false, ""},
	} {
		got := scanTraits(tc.text)
		if got.ordered != tc.ordered || got.volatile != tc.volatile {
			t.Errorf("%q: ordered %v volatile %q, want %v %q", tc.text, got.ordered, got.volatile, tc.ordered, tc.volatile)
		}
	}
}

func TestTraitCache(t *testing.T) {
	var c traitCache
	a := c.of(7, "SELECT now()")
	// The cache answers by fingerprint: the same normalised query.
	if b := c.of(7, "SELECT now( )"); b != a || a.volatile != "now()" {
		t.Errorf("cached %+v, first %+v", b, a)
	}
	if got := c.of(0, "SELECT 1 ORDER BY 1"); !got.ordered {
		t.Errorf("no fingerprint: %+v", got)
	}
}

// FuzzScanTraits: any text is read without a panic or an endless loop.
func FuzzScanTraits(f *testing.F) {
	for _, s := range []string{"SELECT * FROM t ORDER BY a LIMIT 1", "SELECT now(); SHOW x", "((( ORDER BY", ")))) LIMIT", "$$", "'", "\"", "/*", "SELECT $1::text COLLATE \"C\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		scanTraits(text)
	})
}
