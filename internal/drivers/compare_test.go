package drivers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

// side is one half of the comparison test: the capture or the target.
type side struct {
	capture bool
}

// script runs the same session on both sides, with one deliberate
// difference of each kind on the target.
func (s side) script(ctx context.Context, t *testing.T, dsn string) {
	c := connectApp(ctx, t, dsn, "cmp-a")
	defer c.Close(ctx)
	pick := func(capture, target string) string {
		if s.capture {
			return capture
		}
		return target
	}
	simple := func(sql string) { c.Exec(ctx, sql).ReadAll() }
	unnamed := func(sql string, args ...[]byte) { c.ExecParams(ctx, sql, args, nil, nil, nil).Close() }
	named := func(name, sql string, args ...[]byte) {
		if _, err := c.Prepare(ctx, name, sql, nil); err != nil {
			t.Fatalf("prepare %s: %v", name, err)
		}
		c.ExecPrepared(ctx, name, args, nil, nil).Close()
	}

	simple("SELECT 1")
	if s.capture { // protocol: unnamed in production, simple on the target
		unnamed("SELECT 42")
	} else {
		simple("SELECT 42")
	}
	unnamed("SELECT $1::int", []byte(pick("1", "2")))       // parameters
	named(pick("s1", "s9"), "SELECT $1::text", []byte("x")) // name
	if s.capture {                                          // missing on the target
		simple("SELECT 'only in production'")
	}
	simple("SELECT 1/0") // 22012 on both: reproduced
	if !s.capture {      // extra on the target
		simple("SELECT 'only on the target'")
	}
	simple("SELECT 3")
	simple(pick("SELECT 'a'", "SELECT 'b'")) // text
	simple("SELECT 4")
	simple("SELECT * FROM t1")        // the target has t1: production's 42P01 not reproduced
	simple("SELECT * FROM t2")        // the target lacks t2: a new 42P01
	unnamed("SELECT $1 IS NULL", nil) // 42P18 at Parse on both: reproduced
	named("s2", "SELECT 5")
	if !s.capture { // prepared again on the target
		if err := c.Deallocate(ctx, "s2"); err != nil {
			t.Fatal(err)
		}
		named("s2", "SELECT 5")
	} else {
		c.ExecPrepared(ctx, "s2", nil, nil, nil).Close()
	}

	if s.capture {
		other := connectApp(ctx, t, dsn, "cmp-only-capture")
		other.Exec(ctx, "SELECT 'not replayed'").ReadAll()
		other.Close(ctx)
	} else {
		other := connectApp(ctx, t, dsn, "cmp-only-target")
		other.Exec(ctx, "SELECT 'extra session'").ReadAll()
		other.Close(ctx)
	}
}

func connectApp(ctx context.Context, t *testing.T, dsn, app string) *pgconn.PgConn {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logOf runs work on a fresh cluster that logs as a replay target does and
// reads its log back.
func logOf(ctx context.Context, t *testing.T, setup string, work func(dsn string)) *Log {
	t.Helper()
	c := pgtest.StartCluster(t, TargetLogging...)
	dsn := c.DSN("postgres", "postgres")
	admin, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, setup).ReadAll(); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	work(dsn)
	if err := c.StopSmart(ctx); err != nil {
		t.Fatal(err)
	}
	paths, err := logFiles(c.LogDir(), ".csv")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no csvlog in %s: %v", c.LogDir(), err)
	}
	l, err := ReadLog(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	// The setup session is no part of either side.
	var kept []*Session
	for _, s := range l.Sessions {
		if strings.HasPrefix(s.Application, "cmp-") {
			kept = append(kept, s)
		}
	}
	l.Sessions = kept
	return l
}

// TestCompareFindsEachKind compares two real logs that differ in one
// known way of each kind, and each log with itself.
func TestCompareFindsEachKind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	capture := logOf(ctx, t, "CREATE TABLE t2 (i int)", func(dsn string) { side{capture: true}.script(ctx, t, dsn) })
	target := logOf(ctx, t, "CREATE TABLE t1 (i int)", func(dsn string) { side{}.script(ctx, t, dsn) })

	d := Compare(capture, target)
	t.Logf("diff:\n%s", d)
	want := map[Kind]int{
		SessionNotReplayed: 1, ExtraSession: 1, MissingStatement: 1, ExtraStatement: 1, TextMismatch: 1,
		ProtocolMismatch: 1, NameMismatch: 1, ParamMismatch: 1, ErrorNotReproduced: 1, NewError: 1, PreparedAgain: 1,
	}
	for k := SessionNotReplayed; k <= PreparedAgain; k++ {
		if got := d.Count(k); got != want[k] {
			t.Errorf("%s: %d findings, want %d:\n%s", k, got, want[k], d.Format(k))
		}
	}
	checks := []struct {
		kind     Kind
		contains string
	}{
		{ProtocolMismatch, "capture: extended: SELECT 42 | target: simple: SELECT 42"},
		{ParamMismatch, "($1='1') | target: ($1='2')"},
		{NameMismatch, "capture: s1: SELECT $1::text | target: s9: SELECT $1::text"},
		{MissingStatement, "SELECT 'only in production'"},
		{ExtraStatement, "SELECT 'only on the target'"},
		{TextMismatch, "capture: simple: SELECT 'a' | target: simple: SELECT 'b'"},
		{ErrorNotReproduced, "42P01 ERROR \"relation \\\"t1\\\" does not exist\""},
		{NewError, "42P01 ERROR \"relation \\\"t2\\\" does not exist\""},
		{PreparedAgain, "capture: s2 prepared 1 time | target: s2 prepared 2 times"},
		{SessionNotReplayed, "cmp-only-capture postgres@postgres #1"},
		{ExtraSession, "cmp-only-target postgres@postgres #1"},
	}
	for _, c := range checks {
		if s := d.Format(c.kind); !strings.Contains(s, c.contains) {
			t.Errorf("%s: want a finding with %q, got:\n%s", c.kind, c.contains, s)
		}
	}
	// 22012 on a statement and 42P18 at Parse were raised on both sides.
	if d.ProductionErrors != 3 || d.Reproduced != 2 {
		t.Errorf("production errors %d, reproduced %d; want 3 and 2", d.ProductionErrors, d.Reproduced)
	}

	for name, l := range map[string]*Log{"capture": capture, "target": target} {
		self := Compare(l, l)
		if !self.Empty() {
			t.Errorf("the %s log compared with itself differs:\n%s", name, self)
		}
		if self.Reproduced != self.ProductionErrors || self.ProductionErrors == 0 {
			t.Errorf("the %s log against itself: %d of %d errors reproduced", name, self.Reproduced, self.ProductionErrors)
		}
	}
}

func session(app string, first int64, texts ...string) *Session {
	s := &Session{Session: &parse.Session{Application: app, User: "u", Database: "d"}, First: first}
	for i, txt := range texts {
		s.Items = append(s.Items, Item{Index: i, Text: txt})
	}
	return s
}

// TestMatchSessions: sessions pair by rank; sessions that started within
// the tie window pair by what they ran.
func TestMatchSessions(t *testing.T) {
	cs := []*Session{
		session("a", 0, "SELECT 1"),
		session("a", 1_000_000, "thread 1", "x"), // four threads at once
		session("a", 1_000_100, "thread 2", "x"),
		session("a", 1_000_200, "thread 3", "x"),
		session("a", 5_000_000, "late"),
	}
	ts := []*Session{
		session("a", 10, "SELECT 1"),
		session("a", 1_000_050, "thread 3", "x"),
		session("a", 1_000_060, "thread 1", "x"),
		session("a", 1_000_070, "thread 2", "x"),
		session("a", 5_000_300, "late"),
	}
	got := matchSessions(cs, ts)
	want := map[int]int{0: 0, 1: 2, 2: 3, 3: 1, 4: 4}
	for i, j := range want {
		if got[i] != j {
			t.Errorf("capture session %d matched target %d, want %d (all: %v)", i, got[i], j, got)
		}
	}
	// A target with fewer sessions leaves the last capture session unmatched.
	got = matchSessions(cs, ts[:4])
	if _, ok := got[4]; ok || len(got) != 4 {
		t.Errorf("with four target sessions: %v", got)
	}
}
