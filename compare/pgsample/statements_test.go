package pgsample

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func exec(t *testing.T, c *pgconn.PgConn, sql string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestStatements samples a real cluster with pg_stat_statements while a
// load runs: the window's figures per query come out, the sampler's own
// statements do not.
func TestStatements(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := pgtest.StartCluster(t, "shared_preload_libraries = 'pg_stat_statements'")
	cfg, err := pgconn.ParseConfig(cl.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	exec(t, c, "CREATE EXTENSION pg_stat_statements")
	exec(t, c, "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g")

	sctx, stop := context.WithCancel(ctx)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := (&Sampler{Config: cfg, Interval: 200 * time.Millisecond}).Run(sctx, &out)
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	for i := 0; i < 40; i++ {
		if _, err := c.ExecParams(ctx, "SELECT count(*) FROM items WHERE id > $1", [][]byte{[]byte("10")}, nil, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	end := time.Now()
	time.Sleep(300 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(path, out.Bytes(), 0o600)
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.Header.Statements, "pg_stat_statements 1.") || len(f.Snapshots) != 2 || f.Trailer == nil {
		t.Fatalf("header %+v, %d snapshots, trailer %v", f.Header, len(f.Snapshots), f.Trailer)
	}
	set := f.Series(metrics.Window{Start: start, End: end})
	st := set.Statements
	if st == nil || len(st.Rows) == 0 {
		t.Fatalf("no statements: %v", set.Warnings)
	}
	var q *metrics.QueryStat
	for i, r := range st.Rows {
		if strings.Contains(r.Query, "pgrehearse-sample") || strings.Contains(r.Query, "pg_stat_database") {
			t.Errorf("the sampler's own statement in the figures: %q", r.Query)
		}
		if r.Query == "SELECT count(*) FROM items WHERE id > $1" {
			q = &st.Rows[i]
		}
	}
	if q == nil || q.Calls != 40 || q.ExecMS <= 0 || q.SharedBlksHit+q.SharedBlksRead == 0 || q.Rows != 40 {
		t.Errorf("the load's query: %+v (rows %+v)", q, st.Rows)
	}
	if !st.From.Before(start) || !st.To.After(end) {
		t.Errorf("snapshots %v – %v do not span the window %v – %v", st.From, st.To, start, end)
	}
}

// TestStatementsAbsent: without the extension the header says why, and
// the series say it as a warning.
func TestStatementsAbsent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := pgconn.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	go func() { time.Sleep(700 * time.Millisecond); cancel() }()
	if _, err := (&Sampler{Config: cfg, Interval: 200 * time.Millisecond}).Run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(path, out.Bytes(), 0o600)
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Statements != "" || !strings.Contains(f.Header.StatementsWhyNot, "not installed") || len(f.Snapshots) != 0 {
		t.Errorf("header %+v", f.Header)
	}
	set := f.Series(metrics.Window{Start: time.Now().Add(-time.Minute), End: time.Now()})
	if set.Statements != nil || !strings.Contains(strings.Join(set.Warnings, "\n"), "shared_preload_libraries") {
		t.Errorf("warnings %v", set.Warnings)
	}
}

// TestQueryByVersion: each server version gets the views it has:
// pg_stat_io only from 16 (and never on this machine's 15),
// pg_stat_checkpointer from 17, total_exec_time from 13.
func TestQueryByVersion(t *testing.T) {
	q15, q16, q17 := query(150018), query(160000), query(170000)
	if strings.Contains(q15, "pg_stat_io") || strings.Contains(q15, "pg_stat_checkpointer") || !strings.Contains(q15, "buffers_backend") {
		t.Errorf("15 query: %s", q15)
	}
	if !strings.Contains(q16, "FROM pg_stat_io WHERE object IN ('relation', 'temp relation')") || !strings.Contains(q16, "GROUP BY backend_type") || strings.Contains(q16, "pg_stat_checkpointer") {
		t.Errorf("16 query: %s", q16)
	}
	if !strings.Contains(q17, "pg_stat_checkpointer") || strings.Contains(q17, "buffers_backend") {
		t.Errorf("17 query: %s", q17)
	}
	for _, q := range []string{q15, q16, q17, statementsQuery(150000)} {
		if !strings.HasPrefix(q, Tag) {
			t.Errorf("a sampler statement without its tag: %.60s", q)
		}
	}
	if !strings.Contains(statementsQuery(120000), "sum(total_time)") || !strings.Contains(statementsQuery(130000), "sum(total_exec_time)") {
		t.Errorf("pg_stat_statements' time column by version")
	}
}

// TestPgStatIOQuery runs the 16+ query on this machine's PostgreSQL 15
// against a stand-in table of pg_stat_io's documented columns (16),
// which the unqualified name resolves to: the query parses, its shape
// is what the sampler reads, and the figures by backend type come out;
// WAL rows (18) are left out.
func TestPgStatIOQuery(t *testing.T) {
	ctx := context.Background()
	cl := pgtest.StartCluster(t)
	c, err := pgconn.Connect(ctx, cl.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	exec(t, c, `CREATE TABLE public.pg_stat_io (backend_type text, object text, context text, reads bigint, read_time float8, writes bigint,
  write_time float8, writebacks bigint, writeback_time float8, extends bigint, extend_time float8, op_bytes bigint, hits bigint,
  evictions bigint, reuses bigint, fsyncs bigint, fsync_time float8, stats_reset timestamptz)`)
	exec(t, c, `INSERT INTO public.pg_stat_io (backend_type, object, context, reads, writes) VALUES
  ('client backend', 'relation', 'normal', 100, 7), ('client backend', 'relation', 'bulkread', 20, NULL),
  ('client backend', 'temp relation', 'normal', 5, 3), ('checkpointer', 'relation', 'normal', NULL, 400),
  ('walwriter', 'wal', 'normal', 1, 900)`)
	cfg, _ := pgconn.ParseConfig(cl.DSN("postgres", "postgres"))
	smp, err := (&Sampler{Config: cfg}).sample(ctx, &c, query(160000))
	if err != nil {
		t.Fatal(err)
	}
	cb, ck := smp.IOByBackend["client backend"], smp.IOByBackend["checkpointer"]
	if cb != [2]int64{125, 10} || ck != [2]int64{0, 400} || len(smp.IOByBackend) != 2 || smp.IOReads != 125 || smp.IOWrites != 410 {
		t.Errorf("by backend %v, totals %d/%d", smp.IOByBackend, smp.IOReads, smp.IOWrites)
	}
	// The series: one pair per backend type.
	a, b := *smp, *smp
	b.T = a.T.Add(time.Second)
	b.IOByBackend = map[string][2]int64{"client backend": {135, 12}, "checkpointer": {0, 410}}
	series := ioByBackend([]Sample{a, b}, time.Second, "pg x ")
	if len(series) != 4 || series[2].Metric != "read_iops:client backend" || series[2].Points[0].V != 10 || series[3].Points[0].V != 2 {
		t.Errorf("series %+v", series)
	}
}
