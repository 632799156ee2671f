package replay

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/drivers"
	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
	"github.com/pgrehearse/pgrehearse/parse"
)

// TestDrivers proves replay fidelity with real client libraries: each
// scenario drives a capture cluster with a real driver (Django, pgJDBC,
// psycopg 3, node-postgres, postgres.js, sysbench), the capture is parsed
// and replayed onto a clone of the starting state that logs every
// statement, and the two logs are compared session by session.
func TestDrivers(t *testing.T) {
	for _, sc := range drivers.Scenarios() {
		if !sc.Replayed {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) { testDriver(t, sc) })
	}
}

func testDriver(t *testing.T, sc drivers.Scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	capt := drivers.Capture(t, sc)
	capLog, err := drivers.ReadLog(ctx, capt.Logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := capLog.Check(sc.Expect); err != nil {
		t.Fatalf("the capture does not show what the %s program was written to do:\n%v", sc.Name, err)
	}
	var workload bytes.Buffer
	if _, err := parse.Run(ctx, capt.Logs, &workload, parse.Options{}); err != nil {
		t.Fatal(err)
	}
	st := replayOnto(ctx, t, workload.Bytes(), capt.Target)
	// Smart: the replayed sessions end by their own disconnection, not
	// by a FATAL of the shutdown.
	if err := capt.Target.StopSmart(ctx); err != nil {
		t.Fatal(err)
	}
	targetLogs, err := capt.TargetLogs()
	if err != nil {
		t.Fatal(err)
	}
	drivers.KeepLogs(t, sc.Name, "capture", capt.Logs)
	drivers.KeepLogs(t, sc.Name, "target", targetLogs)
	tgtLog, err := drivers.ReadLog(ctx, targetLogs)
	if err != nil {
		t.Fatal(err)
	}
	d := drivers.Compare(capLog, tgtLog)
	t.Logf("%s: driver ran %v; replay ran %v: sessions %d, statements %d, connect errors %d; production errors by SQLSTATE: %s",
		sc.Name, capt.Took.Round(time.Millisecond), st.Finished.Sub(st.Started).Round(time.Millisecond),
		st.Sessions, st.Statements, st.OpenErrors, formatCounts(capLog.Errors()))
	t.Logf("%s: %s", sc.Name, d.Summary())
	for _, c := range []struct {
		what  string
		kinds []drivers.Kind
	}{
		{"same statements in the same order in every session", []drivers.Kind{drivers.SessionNotReplayed, drivers.ExtraSession,
			drivers.MissingStatement, drivers.ExtraStatement, drivers.TextMismatch}},
		{"same protocol kinds (simple / unnamed / named)", []drivers.Kind{drivers.ProtocolMismatch}},
		{"same prepared statement names", []drivers.Kind{drivers.NameMismatch}},
		{"named statements prepared once per session", []drivers.Kind{drivers.PreparedAgain}},
		{"same parameters", []drivers.Kind{drivers.ParamMismatch}},
		{"every production error reproduced with its SQLSTATE", []drivers.Kind{drivers.ErrorNotReproduced}},
		{"no new errors", []drivers.Kind{drivers.NewError}},
		{"statements production sent before one Sync in one implicit transaction", []drivers.Kind{drivers.GroupingMismatch}},
	} {
		if s := d.Format(c.kinds...); s != "" {
			t.Errorf("%s: want %s; got\n%s", sc.Name, c.what, strings.TrimRight(s, "\n"))
		}
	}
}

// replayOnto replays a workload onto the target as pgrehearse replay
// does, at the original speed. It is the one place this test calls the
// replay API.
func replayOnto(ctx context.Context, t *testing.T, workload []byte, target *pgcluster.Cluster) *Stats {
	t.Helper()
	cfg, err := pgconn.ParseConfig(target.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse.NewReader(bytes.NewReader(workload))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	var results int
	ex := &PGExecutor{Config: cfg}
	defer ex.Close(ctx)
	st, err := Run(ctx, r, ex, Options{Speed: 1}, func(*Result) {
		mu.Lock()
		results++
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if st.OpenErrors > 0 {
		t.Errorf("replay: %d sessions could not connect to the target", st.OpenErrors)
	}
	return st
}

func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
