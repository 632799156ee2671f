package replay

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// namesCluster starts a cluster whose database "names" has the given
// locale clause and a table of names that sort differently under C and
// under ICU en-US (C: B Z _x a b; ICU: _x a b B Z).
func namesCluster(t *testing.T, locale string) *pgconn.Config {
	t.Helper()
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	admin, err := pgconn.Connect(ctx, c.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(ctx, t, admin, "CREATE DATABASE names TEMPLATE template0 "+locale)
	admin.Close(ctx)
	db, err := pgconn.Connect(ctx, c.DSN("postgres", "names"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	mustExec(ctx, t, db, "CREATE TABLE people (name text)")
	mustExec(ctx, t, db, "INSERT INTO people VALUES ('b'), ('_x'), ('Z'), ('a'), ('B'), ('bb')")
	mustExec(ctx, t, db, "CREATE INDEX people_name ON people (name)")
	cfg, err := pgconn.ParseConfig(c.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const (
	localeC   = "LOCALE 'C'"
	localeICU = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
)

func execOn(t *testing.T, cfg *pgconn.Config, db string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	c, err := connectTo(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range sqls {
		mustExec(ctx, t, c, q)
	}
}

// TestCheckCollations: a C control and an ICU candidate differ in one
// database, whose index on text is listed; amcheck passes an index built
// under the candidate's collation and catches one built in another order.
func TestCheckCollations(t *testing.T) {
	ctx := context.Background()
	control := namesCluster(t, localeC)
	candidate := namesCluster(t, localeICU)
	cc, err := CheckCollations(ctx, candidate, control, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Differences) != 1 || !strings.Contains(cc.Differences[0], "database names: default collation ICU en-US (LC_COLLATE C) on the candidate, libc C on the control") {
		t.Errorf("differences %q", cc.Differences)
	}
	if len(cc.Indexes) != 1 || cc.Indexes[0].Index != "people_name" || cc.Indexes[0].Database != "names" || cc.Indexes[0].Check != "" || cc.IndexesChecked {
		t.Errorf("indexes %+v", cc.Indexes)
	}
	if d := cc.Candidate.database("names"); d == nil || d.Provider != "icu" || d.ICULocale != "en-US" || d.Version == "" || d.Version != d.ActualVersion {
		t.Errorf("candidate's names database %+v", d)
	}
	if cc.Candidate.ICUVersion == "" || cc.Candidate.ICUVersion != cc.Control.ICUVersion || cc.Candidate.ServerVersion == "" {
		t.Errorf("library versions: candidate %+v, control %+v", cc.Candidate, cc.Control)
	}
	w := strings.Join(cc.Warnings(), "\n")
	if !strings.Contains(w, "1 indexes on text use a collation that differs: names.people_name") || !strings.Contains(w, "--check-indexes") {
		t.Errorf("warnings:\n%s", w)
	}

	// An index whose items are in C order, declared in the database's
	// ICU order: what a changed collation library leaves behind.
	execOn(t, candidate, "names", `CREATE INDEX people_c ON people (name COLLATE "C")`,
		"INSERT INTO people SELECT (ARRAY['B', 'Z', '_x', 'a', 'b'])[1 + g % 5] || g FROM generate_series(1, 3000) g",
		"UPDATE pg_index SET indcollation = '100' WHERE indexrelid = 'people_c'::regclass")
	cc, err = CheckCollations(ctx, candidate, control, true)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{}
	for _, ix := range cc.Indexes {
		checks[ix.Index] = ix.Check
	}
	if len(checks) != 2 || checks["people_name"] != "ok" || !strings.Contains(checks["people_c"], "item order invariant violated") || !cc.IndexesChecked {
		t.Errorf("amcheck: %q", checks)
	}
	if w := strings.Join(cc.Warnings(), "\n"); !strings.Contains(w, "index names.people_c on the candidate is corrupt") {
		t.Errorf("warnings:\n%s", w)
	}
}

// TestCheckCollationsStale: the same collation on both sides finds
// nothing; a version the library no longer has is found on the candidate
// alone, without a control.
func TestCheckCollationsStale(t *testing.T) {
	ctx := context.Background()
	a := namesCluster(t, localeICU)
	b := namesCluster(t, localeICU)
	cc, err := CheckCollations(ctx, a, b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Differences) != 0 || len(cc.Indexes) != 0 || len(cc.Warnings()) != 0 || len(cc.Notes) != 0 {
		t.Errorf("same collations: %+v", cc)
	}
	execOn(t, a, "postgres", "UPDATE pg_database SET datcollversion = '1.0' WHERE datname = 'names'")
	execOn(t, a, "names", `CREATE TABLE tags (tag text COLLATE "en-US-x-icu" PRIMARY KEY)`,
		"UPDATE pg_collation SET collversion = '2.0' WHERE collname = 'en-US-x-icu'")
	cc, err = CheckCollations(ctx, a, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	d := strings.Join(cc.Differences, "\n")
	if !strings.Contains(d, "database names on the candidate: collation version 1.0 recorded") || !strings.Contains(d, "collation en-US-x-icu has version 2.0 recorded") {
		t.Errorf("differences:\n%s", d)
	}
	got := map[string]string{}
	for _, ix := range cc.Indexes {
		got[ix.Index] = ix.Check
	}
	if len(got) != 2 || got["people_name"] != "ok" || got["tags_pkey"] != "ok" {
		t.Errorf("indexes %+v", cc.Indexes)
	}
}
