package drivers

import (
	"context"
	"strconv"
	"strings"
)

// Contended captures: sessions that race for the same rows, for the
// commit-order synchronisation tests (replay --sync). Each logs every
// statement with its duration, so that the tests can set the target's
// lock waits against production's, and its lock waits (past 1 ms where
// no deadlock can happen), so that the replay knows who waited for whom.

// ContendedScenarios are the captures the sync tests replay.
var ContendedScenarios = []string{"pgbench-contended", "pgjdbc-hotrow", "sysbench-contended"}

// lockLogging logs lock waits past 1 ms, with who held the lock; a
// deadlock is then detected after 1 ms too, which keeps a deadlock from
// holding up the sessions queued behind it for a second.
var lockLogging = []string{"log_lock_waits = on", "deadlock_timeout = '1ms'"}

// ContendedTarget is the replay target's logging for the sync tests:
// TargetLogging with the capture's lock settings, so that a deadlock is
// detected as fast as in production.
func ContendedTarget(sc Scenario) []string {
	out := append([]string{}, TargetLogging...)
	for _, l := range sc.Logging {
		if strings.HasPrefix(l, "deadlock_timeout") || strings.HasPrefix(l, "log_lock_waits") {
			out = append(out, l)
		}
	}
	return out
}

// sysbenchContendedScenario is oltp_read_write on one table of 100 rows
// (instead of 10,000) with eight threads (instead of four): their index
// and non-index UPDATEs and their DELETE and INSERT of one id meet on the
// same rows, so sessions wait for each other, and production's order
// decides whether two of them deadlock or insert the same id.
func sysbenchContendedScenario() Scenario {
	sc := sysbenchScenario()
	args := func(d DSN, more ...string) []string {
		return append([]string{"--db-driver=pgsql", "--pgsql-host=" + d.Host, "--pgsql-port=" + strconv.Itoa(d.Port),
			"--pgsql-user=" + d.User, "--pgsql-db=" + d.Database, "--tables=1", "--table-size=100"}, more...)
	}
	sc.Name, sc.Replayed = "sysbench-contended", false
	sc.Setup = func(ctx context.Context, d DSN) error {
		return runProgram(ctx, "sysbench prepare", command(ctx, d, "", "sysbench", args(d, "oltp_read_write", "prepare")...))
	}
	// A deadlock fails the transaction whose deadlock_timeout runs out
	// first: 50 ms is a window a replay on a busy machine can keep (1 ms
	// is not), and short enough that a deadlock does not hold up the
	// sessions queued behind it for long (1 s does).
	sc.Logging = []string{"log_destination = 'jsonlog'", "log_min_duration_statement = 0", "log_lock_waits = on", "deadlock_timeout = '50ms'"}
	sc.Run = func(ctx context.Context, d DSN) error {
		return runProgram(ctx, "sysbench run", command(ctx, d, "", "sysbench",
			args(d, "--threads=8", "--time=4", "--rate=40", "--report-interval=0", "oltp_read_write", "run")...))
	}
	sc.Expect = Expect{MinSessions: 8, MinStatements: 1500, Named: true}
	return sc
}
