package drivers

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
)

// The load scenarios: a benchmark tool or several threads for a few
// seconds. Their loads are rate-limited so a capture stays at a few
// thousand statements on a shared two-core machine.

func sysbenchScenario() Scenario {
	args := func(d DSN, more ...string) []string {
		return append([]string{"--db-driver=pgsql", "--pgsql-host=" + d.Host, "--pgsql-port=" + strconv.Itoa(d.Port),
			"--pgsql-user=" + d.User, "--pgsql-db=" + d.Database, "--tables=2", "--table-size=10000"}, more...)
	}
	// 10,000 rows a table make it rare for two threads to delete and
	// insert the same id at once (23505, which sysbench retries): who wins
	// such a race on replay is down to scheduling, and lock-order fidelity
	// has its own scenario (pgjdbc-hotrow).
	return Scenario{
		Name: "sysbench", User: "app", Database: "shop", Replayed: true,
		Setup: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "sysbench prepare", command(ctx, d, "", "sysbench", args(d, "oltp_read_write", "prepare")...))
		},
		Logging: []string{"log_destination = 'jsonlog'", "log_min_duration_statement = 0"},
		Run: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "sysbench run", command(ctx, d, "", "sysbench",
				args(d, "--threads=4", "--time=3", "--rate=40", "--report-interval=0", "oltp_read_write", "run")...))
		},
		needs:  []need{commandNeed("sysbench", "sysbench")},
		Expect: Expect{MinSessions: 4, MinStatements: 1000, Named: true},
	}
}

// pgbenchScenario is tpcb-like with 8 clients on a scale-1 database: one
// branch row that every transaction updates. Speed tests replay it at
// --speed 1, 2, 4, 8.
func pgbenchScenario() Scenario {
	return Scenario{
		Name: "pgbench-contended", User: "app", Database: "shop",
		Setup: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "pgbench -i", command(ctx, d, "", pgbenchPath(), "-i", "-s", "1", "-q",
				"-h", d.Host, "-p", strconv.Itoa(d.Port), "-U", d.User, d.Database))
		},
		// Durations and lock waits, for the sync tests (contended.go).
		Logging: append([]string{"log_destination = 'stderr'", "log_line_prefix = " + stderrPrefix, "log_statement = 'all'",
			"log_min_duration_statement = 0"}, lockLogging...),
		Run: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "pgbench", command(ctx, d, "", pgbenchPath(), "-n", "-c", "8", "-j", "2", "-T", "5", "-R", "150",
				"-h", d.Host, "-p", strconv.Itoa(d.Port), "-U", d.User, d.Database))
		},
		needs:  []need{{what: "pgbench", install: "postgresql (pgbench is in the server package)", check: checkPgbench}},
		Expect: Expect{MinSessions: 8, MinStatements: 1500},
	}
}

// pgjdbcHotrowScenario has four pgJDBC threads updating the same three
// account rows in explicit transactions with short think times, so
// sessions wait for each other's row locks. Lock-order tests replay it.
func pgjdbcHotrowScenario() Scenario {
	dir := testdata("pgjdbc-hotrow")
	return Scenario{
		Name: "pgjdbc-hotrow", User: "app", Database: "shop", SetupSQL: shopSchema,
		Logging: append([]string{"log_destination = 'csvlog'", "log_statement = 'all'", "log_min_duration_statement = 0"}, lockLogging...),
		Run:     func(ctx context.Context, d DSN) error { return runJava(ctx, d, dir, "HotRow") },
		needs:   javaNeeds(),
		ready:   []func(context.Context) error{func(ctx context.Context) error { _, err := compileJava(ctx, dir); return err }},
		Expect:  Expect{MinSessions: 4, MinStatements: 400, Named: true},
	}
}

// pgbenchPath is the pgbench next to the server binaries the clusters
// use, else the one on PATH.
func pgbenchPath() string {
	if dir, err := pgcluster.FindBinDir(); err == nil {
		p := filepath.Join(dir, "pgbench")
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	return "pgbench"
}

func checkPgbench() error {
	if _, err := exec.LookPath(pgbenchPath()); err != nil {
		return fmt.Errorf("no pgbench next to the server binaries nor on PATH")
	}
	return nil
}
