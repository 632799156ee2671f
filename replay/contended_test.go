package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/drivers"
	"github.com/pgrehearse/pgrehearse/parse"
)

// TestContendedReplay replays a contended pgbench capture (eight clients
// on one branch row) at speeds 1 to 8, where sessions wait for each
// other's row locks on the target, and once at speed 1 while a session
// outside the replay holds a lock on a table the workload uses for 10 s.
// Every replay must finish with every statement replayed, and the lock
// wait must be named.
func TestContendedReplay(t *testing.T) {
	sc, ok := drivers.Lookup("pgbench-contended")
	if !ok {
		t.Fatal("no pgbench-contended scenario")
	}
	capt := drivers.Capture(t, sc)
	var workload bytes.Buffer
	sum, err := parse.Run(context.Background(), capt.Logs, &workload, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dsn := capt.Target.DSN("postgres", "postgres")
	for _, speed := range []float64{1, 2, 4, 8} {
		t.Run(fmt.Sprintf("speed %g", speed), func(t *testing.T) {
			st, res := contendedRun(t, workload.Bytes(), dsn, Options{Speed: speed}, sum.Statements)
			t.Logf("speed %g: %d statements in %v (workload %v at this speed); lateness p99 %.1f ms, max %.1f ms; %d late by cause %v",
				speed, res.Statements, st.Finished.Sub(st.Started).Round(time.Millisecond), st.Scheduled.Round(time.Millisecond),
				res.LatenessP99MS, res.LatenessMaxMS, res.Errors, res.LateByCause)
		})
	}
	t.Run("outside lock", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		locker, err := pgconn.Connect(ctx, capt.Target.DSN(sc.User, sc.Database)+" application_name=locker")
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Close(ctx)
		if _, err := locker.Exec(ctx, "BEGIN; LOCK TABLE pgbench_branches IN ACCESS EXCLUSIVE MODE").ReadAll(); err != nil {
			t.Fatal(err)
		}
		released := make(chan time.Time, 1)
		go func() {
			time.Sleep(10 * time.Second)
			locker.Exec(context.Background(), "ROLLBACK").ReadAll()
			released <- time.Now()
		}()
		var warnings []string
		var mu sync.Mutex
		opt := Options{Speed: 1, MemoryBudget: 128 << 10, SpillDir: t.TempDir(), Warn: func(s string) {
			mu.Lock()
			warnings = append(warnings, s)
			mu.Unlock()
		}}
		st, res := contendedRun(t, workload.Bytes(), dsn, opt, sum.Statements)
		if st.Finished.Before(<-released) {
			t.Error("the replay finished before the lock was released")
		}
		if len(st.LockWaits) == 0 || !strings.Contains(st.LockWaits[0].BlockedBy, `outside the replay (application "locker"`) || st.LockWaits[0].MaxS < 5 {
			t.Fatalf("lock waits %+v: want the outside session named, with a wait of several seconds", st.LockWaits)
		}
		if res.Bottleneck != CauseLock || !strings.Contains(res.Diagnosis, "locker") {
			t.Errorf("diagnosis %q (%s): want the lock and its holder", res.Diagnosis, res.Bottleneck)
		}
		mu.Lock()
		defer mu.Unlock()
		found := false
		for _, w := range warnings {
			found = found || strings.Contains(w, "stalled") && strings.Contains(w, "waits for a lock") && strings.Contains(w, "locker")
		}
		if !found {
			t.Errorf("no warning names a stalled session and the lock it waits for: %q", warnings)
		}
		t.Logf("outside lock: %d statements in %v; lock waits %+v; stalls %d; %d warnings", res.Statements, st.Finished.Sub(st.Started).Round(time.Millisecond), st.LockWaits, len(st.Stalls), len(warnings))
	})
}

// contendedRun replays workload onto dsn and checks that every statement
// ran and none failed.
func contendedRun(t *testing.T, workload []byte, dsn string, opt Options, statements int64) (*Stats, *Summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse.NewReader(bytes.NewReader(workload))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	rw, err := NewResultsWriter(&out, ResultsHeader{})
	if err != nil {
		t.Fatal(err)
	}
	ex := &PGExecutor{Config: cfg}
	defer ex.Close(ctx)
	st, err := Run(ctx, r, ex, opt, rw.Add)
	if err != nil {
		t.Fatalf("replay did not finish: %v", err)
	}
	res, err := rw.Close(st, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Statements != statements || res.Replayed != statements || res.Errors != 0 {
		t.Errorf("replayed %d of %d statements (%d in the workload), %d errors", res.Replayed, res.Statements, statements, res.Errors)
	}
	return st, res
}
