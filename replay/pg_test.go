package replay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

var logSettings = []string{"logging_collector = on", "log_directory = 'log'", "log_filename = 'postgresql.log'",
	"log_statement = 'all'", "log_min_duration_statement = 0", "log_connections = on", "log_disconnections = on",
	"log_line_prefix = '%m [%p] %c %e '", "lc_messages = 'C'"}

func mustExec(ctx context.Context, t *testing.T, c *pgconn.PgConn, sql string) {
	t.Helper()
	if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestReplayAgainstRealServer captures a workload on one cluster and
// replays it on another, then reads the target's own log to see what it
// received.
func TestReplayAgainstRealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := pgtest.StartCluster(t, logSettings...)
	c, err := pgconn.Connect(ctx, src.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(ctx, t, c, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	mustExec(ctx, t, c, "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	if _, err := c.Prepare(ctx, "get_v", "SELECT v FROM t WHERE id = $1", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "1"} {
		if _, err := c.ExecPrepared(ctx, "get_v", [][]byte{[]byte(id)}, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ExecParams(ctx, "UPDATE t SET v = $1 WHERE id = $2", [][]byte{[]byte("it's"), []byte("2")}, nil, nil, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Exec(ctx, "SELECT 1/0").ReadAll()
	mustExec(ctx, t, c, "SELECT v FROM t ORDER BY id")
	c.Close(ctx)
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if _, err := parse.Run(ctx, []string{filepath.Join(src.LogDir(), "postgresql.log")}, &w, parse.Options{}); err != nil {
		t.Fatal(err)
	}

	dst := pgtest.StartCluster(t, logSettings...)
	cfg, err := pgconn.ParseConfig(dst.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse.NewReader(&w)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var results []*Result
	st, err := Run(ctx, r, &PGExecutor{Config: cfg}, Options{Speed: 4}, func(res *Result) {
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 1 || len(results) != 8 || st.OpenErrors != 0 {
		t.Fatalf("sessions %d results %d connect errors %d", st.Sessions, len(results), st.OpenErrors)
	}
	for i, res := range results {
		if res.Index != i {
			t.Errorf("result %d has index %d: out of order", i, res.Index)
		}
		if i == 6 {
			if res.SQLState != "22012" || res.Production != "22012" {
				t.Errorf("1/0: got %q, production %q", res.SQLState, res.Production)
			}
			continue
		}
		if res.Err != nil {
			t.Errorf("statement %d failed on the target: %v", i, res.Err)
		}
		if res.Lateness() > time.Second {
			t.Errorf("statement %d started %v late on an idle target", i, res.Lateness())
		}
	}
	if err := dst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The target saw the named statement prepared once and executed three
	// times, and the parameters as the application sent them.
	raw, err := os.ReadFile(filepath.Join(dst.LogDir(), "postgresql.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	if n := strings.Count(log, "parse get_v: SELECT v FROM t WHERE id = $1"); n != 1 {
		t.Errorf("get_v parsed %d times on the target, want once", n)
	}
	if n := strings.Count(log, "LOG:  execute get_v: SELECT v FROM t WHERE id = $1"); n != 3 {
		t.Errorf("get_v executed %d times on the target, want 3", n)
	}
	if !strings.Contains(log, "parameters: $1 = 'it''s', $2 = '2'") {
		t.Errorf("the unnamed UPDATE did not reach the target with its parameters")
	}
}
