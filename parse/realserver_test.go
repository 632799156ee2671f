package parse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

// These tests make their logs with a real PostgreSQL: each starts a
// throwaway cluster with the logging settings under test, runs a known
// client workload against it, stops it, and parses what it wrote. What the
// client did is the expected result.

// capture runs work against a fresh cluster logging with settings and
// returns the paths of the log files it wrote.
func capture(t *testing.T, settings []string, work func(ctx context.Context, t *testing.T, dsn string)) []string {
	t.Helper()
	base := []string{"logging_collector = on", "log_directory = 'log'", "lc_messages = 'C'",
		"log_connections = on", "log_disconnections = on", "log_timezone = 'UTC'"}
	c := pgtest.StartCluster(t, append(base, settings...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	work(ctx, t, c.DSN("postgres", "postgres"))
	// A client's Close does not wait for its backend to exit: stopping
	// the server at once may terminate the backend first, which logs a
	// FATAL 57P01 the workload did not cause. Wait until every session
	// has logged its disconnection.
	waitForDisconnections(t, c.LogDir())
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(c.LogDir())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(c.LogDir(), e.Name()))
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("the server wrote no log file")
	}
	return files
}

func waitForDisconnections(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var authorized, ended int
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			authorized += bytes.Count(b, []byte("connection authorized: "))
			ended += bytes.Count(b, []byte("disconnection: "))
		}
		if ended >= authorized || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connect(ctx context.Context, t *testing.T, dsn string) *pgconn.PgConn {
	t.Helper()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func simple(ctx context.Context, t *testing.T, c *pgconn.PgConn, sql string) {
	t.Helper()
	if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// standardWork is the client workload most tests run; wantStandard is what
// the workload must then hold for its session.
func standardWork(ctx context.Context, t *testing.T, dsn string) {
	c := connect(ctx, t, dsn)
	defer c.Close(ctx)
	simple(ctx, t, c, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	// Unnamed extended statements with parameters, quotes and newlines.
	for i, v := range []string{"plain", "it's", "two\nlines\n\tand a tab", ""} {
		rr := c.ExecParams(ctx, "INSERT INTO t VALUES ($1, $2)", [][]byte{[]byte(strings.Repeat("1", 1) + string(rune('0'+i))), []byte(v)}, nil, nil, nil)
		if _, err := rr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	rr := c.ExecParams(ctx, "SELECT $1::text IS NULL", [][]byte{nil}, nil, nil, nil)
	if _, err := rr.Close(); err != nil {
		t.Fatal(err)
	}
	// A named statement prepared once and executed three times.
	if _, err := c.Prepare(ctx, "get_v", "SELECT v FROM t WHERE id = $1", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"10", "11", "12"} {
		if _, err := c.ExecPrepared(ctx, "get_v", [][]byte{[]byte(id)}, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A failing statement.
	if _, err := c.Exec(ctx, "SELECT 1/0").ReadAll(); err == nil {
		t.Fatal("1/0 did not fail")
	}
	// Extended statements that fail when they execute: a log of
	// durations has only the bind entry and the error for them.
	if _, err := c.ExecParams(ctx, "INSERT INTO t VALUES ($1, $2)", [][]byte{[]byte("10"), []byte("dup")}, nil, nil, nil).Close(); err == nil {
		t.Fatal("duplicate insert did not fail")
	}
	if _, err := c.Prepare(ctx, "ins", "INSERT INTO t VALUES ($1, 'again')", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecPrepared(ctx, "ins", [][]byte{[]byte("11")}, nil, nil).Close(); err == nil {
		t.Fatal("duplicate named insert did not fail")
	}
	simple(ctx, t, c, "SELECT 'done'")
}

type wantStmt struct {
	proto  parse.Protocol
	name   string
	text   string
	params []parse.Param
	state  string
}

var wantStandard = []wantStmt{
	{parse.Simple, "", "CREATE TABLE t (id int PRIMARY KEY, v text)", nil, ""},
	{parse.Unnamed, "", "INSERT INTO t VALUES ($1, $2)", []parse.Param{{Value: "10"}, {Value: "plain"}}, ""},
	{parse.Unnamed, "", "INSERT INTO t VALUES ($1, $2)", []parse.Param{{Value: "11"}, {Value: "it's"}}, ""},
	{parse.Unnamed, "", "INSERT INTO t VALUES ($1, $2)", []parse.Param{{Value: "12"}, {Value: "two\nlines\n\tand a tab"}}, ""},
	{parse.Unnamed, "", "INSERT INTO t VALUES ($1, $2)", []parse.Param{{Value: "13"}, {Value: ""}}, ""},
	{parse.Unnamed, "", "SELECT $1::text IS NULL", []parse.Param{{Null: true}}, ""},
	{parse.Named, "get_v", "SELECT v FROM t WHERE id = $1", []parse.Param{{Value: "10"}}, ""},
	{parse.Named, "get_v", "SELECT v FROM t WHERE id = $1", []parse.Param{{Value: "11"}}, ""},
	{parse.Named, "get_v", "SELECT v FROM t WHERE id = $1", []parse.Param{{Value: "12"}}, ""},
	{parse.Simple, "", "SELECT 1/0", nil, "22012"},
	{parse.Unnamed, "", "INSERT INTO t VALUES ($1, $2)", []parse.Param{{Value: "10"}, {Value: "dup"}}, "23505"},
	{parse.Named, "ins", "INSERT INTO t VALUES ($1, 'again')", []parse.Param{{Value: "11"}}, "23505"},
	{parse.Simple, "", "SELECT 'done'", nil, ""},
}

// readWorkload parses files and returns the summary and the statements
// per session key, with late updates folded in.
func readWorkload(t *testing.T, files []string, opt parse.Options) (*parse.Summary, map[string][]*parse.Event) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := parse.Run(context.Background(), files, &buf, opt)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := parse.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string][]*parse.Event{}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case parse.Statement:
			out[ev.Session.Key] = append(out[ev.Session.Key], ev)
		case parse.Update:
			st := out[ev.Session.Key][ev.Index]
			if ev.Duration >= 0 {
				st.Duration = ev.Duration
			}
			if ev.Err != nil {
				st.Err = ev.Err
			}
		}
	}
	return sum, out
}

// only returns the statements of the one session that has any.
func only(t *testing.T, bySession map[string][]*parse.Event) []*parse.Event {
	t.Helper()
	if len(bySession) != 1 {
		t.Fatalf("%d sessions with statements, want 1", len(bySession))
	}
	for _, v := range bySession {
		return v
	}
	return nil
}

func checkStatements(t *testing.T, got []*parse.Event, want []wantStmt, wantDurations bool) {
	t.Helper()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("got %v %q %q", g.Protocol, g.Name, g.Text)
		}
		t.Fatalf("%d statements, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Protocol != w.proto || g.Name != w.name || g.Text != w.text {
			t.Errorf("statement %d: %v %q %q, want %v %q %q", i, g.Protocol, g.Name, g.Text, w.proto, w.name, w.text)
		}
		if len(g.Params) != len(w.params) {
			t.Errorf("statement %d: %d parameters, want %d", i, len(g.Params), len(w.params))
		} else {
			for j := range w.params {
				if g.Params[j] != w.params[j] {
					t.Errorf("statement %d parameter %d: %+v, want %+v", i, j+1, g.Params[j], w.params[j])
				}
			}
		}
		switch {
		case w.state == "" && g.Err != nil:
			t.Errorf("statement %d: error %+v, want none", i, g.Err)
		case w.state != "" && (g.Err == nil || g.Err.SQLState != w.state):
			t.Errorf("statement %d: error %+v, want %s", i, g.Err, w.state)
		}
		// A failed statement has no duration line.
		if wantDurations && w.state == "" && g.Duration < 0 {
			t.Errorf("statement %d (%q): no duration", i, g.Text)
		}
		if !wantDurations && g.Duration >= 0 {
			t.Errorf("statement %d: duration %d without duration logging", i, g.Duration)
		}
		if i > 0 && g.Time < got[i-1].Time {
			t.Errorf("statement %d starts before statement %d", i, i-1)
		}
	}
}

func TestRealServerLogStyles(t *testing.T) {
	tests := []struct {
		name      string
		settings  []string
		durations bool
	}{
		{"stderr pgreplay prefix, log_statement", []string{"log_statement = 'all'", "log_line_prefix = '%m|%u|%d|%c|'"}, false},
		{"stderr Debian prefix without %c, log_min_duration_statement only", []string{"log_min_duration_statement = 0", "log_line_prefix = '%m [%p] %q%u@%d '"}, true},
		{"stderr RDS prefix, log_statement and log_duration", []string{"log_statement = 'all'", "log_duration = on", "log_line_prefix = '%t:%r:%u@%d:[%p]:'"}, true},
		{"stderr with %e, log_statement and log_min_duration_statement", []string{"log_statement = 'all'", "log_min_duration_statement = 0", "log_line_prefix = '%m [%p] %e %c '"}, true},
		{"csvlog, log_min_duration_statement", []string{"log_destination = 'csvlog'", "log_min_duration_statement = 0"}, true},
		{"jsonlog, log_statement and log_duration", []string{"log_destination = 'jsonlog'", "log_statement = 'all'", "log_duration = on"}, true},
		{"jsonlog in another zone", []string{"log_destination = 'jsonlog'", "log_statement = 'all'", "log_timezone = 'Asia/Tokyo'"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			files := capture(t, tc.settings, standardWork)
			after := time.Now()
			sum, got := readWorkload(t, files, parse.Options{})
			checkStatements(t, only(t, got), wantStandard, tc.durations)
			if sum.Sessions != 1 || sum.Errors != 3 {
				t.Errorf("sessions %d errors %d, want 1 and 3", sum.Sessions, sum.Errors)
			}
			first, last := sum.Window()
			// %t has whole seconds only.
			if first.Before(before.Add(-time.Second)) || last.After(after.Add(time.Second)) {
				t.Errorf("capture window %s..%s outside the test's %s..%s: time zone misread?", first, last, before, after)
			}
		})
	}
}

func TestRealServerRotatedLogs(t *testing.T) {
	files := capture(t, []string{"log_statement = 'all'", "log_line_prefix = '%m [%p] %c '", "log_filename = 'postgresql-%H%M%S.log'"},
		func(ctx context.Context, t *testing.T, dsn string) {
			c := connect(ctx, t, dsn)
			defer c.Close(ctx)
			for i := 0; i < 3; i++ {
				simple(ctx, t, c, "SELECT 'part "+string(rune('a'+i))+"'")
				simple(ctx, t, c, "SELECT pg_rotate_logfile()")
				// Rotated file names have a one-second resolution.
				time.Sleep(1100 * time.Millisecond)
			}
		})
	if len(files) < 3 {
		t.Fatalf("%d log files, want at least 3 after rotation", len(files))
	}
	// Given in reverse order, they still merge into one time line.
	rev := append([]string(nil), files...)
	sort.Sort(sort.Reverse(sort.StringSlice(rev)))
	_, got := readWorkload(t, rev, parse.Options{})
	var texts []string
	for _, ev := range only(t, got) {
		texts = append(texts, ev.Text)
	}
	want := "SELECT 'part a'|SELECT pg_rotate_logfile()|SELECT 'part b'|SELECT pg_rotate_logfile()|SELECT 'part c'|SELECT pg_rotate_logfile()"
	if strings.Join(texts, "|") != want {
		t.Fatalf("statements across rotated files:\n%s\nwant\n%s", strings.Join(texts, "|"), want)
	}
}

func TestRealServerCornerCases(t *testing.T) {
	files := capture(t, []string{"log_statement = 'all'", "log_line_prefix = '%m [%p] %c %e '", "log_parameter_max_length = 8"},
		func(ctx context.Context, t *testing.T, dsn string) {
			c := connect(ctx, t, dsn)
			defer c.Close(ctx)
			// A long parameter is cut by log_parameter_max_length.
			if _, err := c.ExecParams(ctx, "SELECT length($1)", [][]byte{[]byte(strings.Repeat("x", 100))}, nil, nil, nil).Close(); err != nil {
				t.Fatal(err)
			}
			// A statement name reused for another text.
			if _, err := c.Prepare(ctx, "s1", "SELECT 1 WHERE $1::int > 0", nil); err != nil {
				t.Fatal(err)
			}
			c.ExecPrepared(ctx, "s1", [][]byte{[]byte("1")}, nil, nil).Close()
			if err := c.Deallocate(ctx, "s1"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Prepare(ctx, "s1", "SELECT 2 WHERE $1::int > 0", nil); err != nil {
				t.Fatal(err)
			}
			c.ExecPrepared(ctx, "s1", [][]byte{[]byte("2")}, nil, nil).Close()
			// COPY FROM STDIN: the data never reaches the log.
			simple(ctx, t, c, "CREATE TABLE ct (a int)")
			if _, err := c.CopyFrom(ctx, strings.NewReader("1\n2\n"), "COPY ct FROM STDIN"); err != nil {
				t.Fatal(err)
			}
			// A bind error: the execute never runs, so no statement.
			c.ExecParams(ctx, "SELECT $1::int", [][]byte{[]byte("not a number")}, nil, nil, nil).Close()
		})
	sum, got := readWorkload(t, files, parse.Options{})
	st := only(t, got)
	if len(st) != 5 {
		for _, s := range st {
			t.Logf("%v %q %q", s.Protocol, s.Name, s.Text)
		}
		t.Fatalf("%d statements, want 5", len(st))
	}
	if st[0].Skip != parse.SkipTruncatedParams || sum.NotReplayable["truncated_parameters"] != 1 {
		t.Errorf("cut parameter: skip %v, summary %v", st[0].Skip, sum.NotReplayable)
	}
	if st[1].Name != "s1" || st[2].Name != "s1" || st[1].Text == st[2].Text || st[2].Text != "SELECT 2 WHERE $1::int > 0" {
		t.Errorf("reused name: %q %q / %q %q", st[1].Name, st[1].Text, st[2].Name, st[2].Text)
	}
	if st[4].Skip != parse.SkipCopyFromStdin {
		t.Errorf("COPY FROM STDIN not marked: %+v", st[4])
	}
	if sum.Errors != 1 || sum.ErrorsBySQLState["22P02"] != 1 {
		t.Errorf("bind error: errors %d by state %v", sum.Errors, sum.ErrorsBySQLState)
	}
	for _, s := range st {
		if s.Err != nil {
			t.Errorf("the bind error was attached to %q", s.Text)
		}
	}
}

// TestRealServerPortalFetch: a portal executed in several round trips
// (JDBC's fetch size, a row limit on Execute) is one statement; the log
// shows "execute fetch from" for the continuations.
func TestRealServerPortalFetch(t *testing.T) {
	files := capture(t, []string{"log_statement = 'all'", "log_duration = on", "log_line_prefix = '%m [%p] %c '"},
		func(ctx context.Context, t *testing.T, dsn string) {
			c := connect(ctx, t, dsn)
			defer c.Close(ctx)
			fe := c.Frontend()
			fe.Send(&pgproto3.Parse{Query: "SELECT g FROM generate_series(1, 5) g"})
			fe.Send(&pgproto3.Bind{})
			fe.Send(&pgproto3.Execute{MaxRows: 2})
			fe.Send(&pgproto3.Execute{MaxRows: 2})
			fe.Send(&pgproto3.Execute{})
			fe.Send(&pgproto3.Sync{})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			suspended := 0
			for {
				msg, err := fe.Receive()
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := msg.(*pgproto3.PortalSuspended); ok {
					suspended++
				}
				if e, ok := msg.(*pgproto3.ErrorResponse); ok {
					t.Fatalf("server error: %s", e.Message)
				}
				if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
					break
				}
			}
			if suspended != 2 {
				t.Fatalf("%d PortalSuspended, want 2", suspended)
			}
			simple(ctx, t, c, "SELECT 'after'")
		})
	sum, got := readWorkload(t, files, parse.Options{})
	st := only(t, got)
	if len(st) != 2 || st[0].Text != "SELECT g FROM generate_series(1, 5) g" || st[1].Text != "SELECT 'after'" {
		for _, s := range st {
			t.Logf("%v %q", s.Protocol, s.Text)
		}
		t.Fatalf("%d statements, want the fetched query once and SELECT 'after'", len(st))
	}
	if sum.Skipped["fetch_continuation"] != 2 {
		t.Errorf("fetch continuations counted %d, want 2", sum.Skipped["fetch_continuation"])
	}
	if st[0].Duration < 0 {
		t.Errorf("the fetched statement has no duration")
	}
}
