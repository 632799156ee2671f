package drivers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestMissingDriverNamesThePackage: a scenario whose driver is missing
// fails with the package to install, not a skip.
func TestMissingDriverNamesThePackage(t *testing.T) {
	sc := Scenario{Name: "imaginary", needs: []need{
		{what: "frobnicator", install: "frob-tools", check: func() error { return errors.New("not found") }},
		commandNeed("sh", "dash"),
	}}
	err := sc.Ready(context.Background())
	if err == nil {
		t.Fatal("a missing driver passed the check")
	}
	for _, want := range []string{"scenario imaginary needs frobnicator", "apt-get install -y frob-tools", ".ci/run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "dash") {
		t.Errorf("error %q names a package that is installed", err)
	}
}

// TestScenariosAreComplete: every scenario has what Capture needs, and the
// names are unique.
func TestScenariosAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios() {
		if seen[sc.Name] {
			t.Errorf("two scenarios called %s", sc.Name)
		}
		seen[sc.Name] = true
		if sc.User == "" || sc.Database == "" || sc.Run == nil || len(sc.Logging) == 0 || len(sc.needs) == 0 {
			t.Errorf("scenario %s lacks a user, database, program, logging style or needs", sc.Name)
		}
		if sc.SetupSQL == "" && sc.Setup == nil {
			t.Errorf("scenario %s has no setup", sc.Name)
		}
		if got, ok := Lookup(sc.Name); !ok || got.Name != sc.Name {
			t.Errorf("Lookup(%q) = %q, %v", sc.Name, got.Name, ok)
		}
	}
	for _, name := range []string{"django", "pgjdbc", "psycopg3", "node-pg", "postgresjs", "sysbench", "pgbench-contended", "pgjdbc-hotrow", "sysbench-contended"} {
		if !seen[name] {
			t.Errorf("no scenario %s", name)
		}
	}
}
