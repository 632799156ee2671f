package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// TestInspectPrivacy: inspect --events shows statements normalised and
// error messages with their values masked; with --show-params it shows
// them as logged, but a password never (corpus A creates two roles with
// passwords).
func TestInspectPrivacy(t *testing.T) {
	w := filepath.Join(t.TempDir(), "a.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, corpus.Path("A-stderr.log.gz")); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	_, plain, _ := run(t, nil, "inspect", "--events", w)
	_, shown, _ := run(t, nil, "inspect", "--events", "--show-params", w)
	for name, out := range map[string]string{"plain": plain, "--show-params": shown} {
		if strings.Contains(out, "not-a-secret") {
			t.Errorf("%s: a password reached stdout", name)
		}
		if !strings.Contains(out, "CREATE ROLE app_user LOGIN PASSWORD") {
			t.Errorf("%s: the CREATE ROLE statement is missing", name)
		}
	}
	if !strings.Contains(shown, `PASSWORD '***'`) || !strings.Contains(plain, "PASSWORD ?") {
		t.Errorf("passwords not shown masked")
	}
	// Values in statements and in error messages only with --show-params.
	for _, value := range []string{"not a number", "it''s", "SELECT 'injected'"} {
		if strings.Contains(plain, value) {
			t.Errorf("inspect without --show-params shows %q", value)
		}
	}
	if !strings.Contains(shown, `\"not a number\"`) {
		t.Errorf("--show-params hides the error message's value")
	}
	if !strings.Contains(plain, `relation \"no_such_table\" does not exist`) || !strings.Contains(plain, `invalid input syntax for type integer: \"?\"`) {
		t.Errorf("error messages lost their object names or kept their values")
	}
}

// TestCompareShowParamsMasksPasswords: the example of a new error shows
// the statement as production sent it, but not its password.
func TestCompareShowParamsMasksPasswords(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// The role exists on the candidate, so CREATE ROLE fails there: a
	// new error, whose example compare --show-params records.
	if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS pgr_masked_role; CREATE ROLE pgr_masked_role").ReadAll(); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Exec(ctx, "DROP ROLE IF EXISTS pgr_masked_role").ReadAll() }()
	dir := t.TempDir()
	log := filepath.Join(dir, "pg.log")
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format("2006-01-02 15:04:05")
	os.WriteFile(log, []byte(strings.Join([]string{
		base + ".000 UTC|postgres|postgres|1.a|LOG:  connection authorized: user=postgres database=postgres",
		base + ".010 UTC|postgres|postgres|1.a|LOG:  statement: CREATE ROLE pgr_masked_role LOGIN PASSWORD 'hunter2-not-a-secret'",
		base + ".020 UTC|postgres|postgres|1.a|LOG:  disconnection: session time: 0:00:00.020",
	}, "\n")+"\n"), 0o600)
	w, res, out, md := filepath.Join(dir, "w.pgrw"), filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "c.json"), filepath.Join(dir, "r.md")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, nil, "replay", "-q", "--target", dsn, "-o", res, w); code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	code, stdout, stderr := run(t, nil, "compare", "--workload", w, "--results", res, "--show-params", "--gate", "errors.new == 0", "-o", out, "--report", md)
	if code != exitNoGo {
		t.Fatalf("compare: exit %d %s %s", code, stdout, stderr)
	}
	doc := string(readFile(t, out))
	if !strings.Contains(doc, `PASSWORD '***'`) {
		t.Errorf("the comparison has no masked example:\n%s", doc)
	}
	for name, s := range map[string]string{"stdout": stdout, "stderr": stderr, "comparison": doc, "report": string(readFile(t, md))} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s shows the password", name)
		}
	}
}
