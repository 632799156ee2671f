package calibrate

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }

var base = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// stmt is one statement of a test log: session, time (ms), text.
type stmt struct {
	session int
	ms      int
	text    string
}

// workload parses a stderr log of the statements (sessions connect at 0
// and leave after their last statement) into a workload file.
func workload(t *testing.T, sessions int, stmts []stmt) []byte {
	t.Helper()
	var b strings.Builder
	line := func(ms, s int, msg string) {
		fmt.Fprintf(&b, "%s [%d] %x.%x 00000 LOG:  %s\n", base.Add(time.Duration(ms)*time.Millisecond).Format("2006-01-02 15:04:05.000 MST"), 4000+s, base.Unix(), 4000+s, msg)
	}
	last := 0
	for s := 0; s < sessions; s++ {
		line(0, s, "connection authorized: user=postgres database=postgres")
	}
	for _, st := range stmts {
		line(st.ms, st.session, "statement: "+st.text)
		last = max(last, st.ms)
	}
	for s := 0; s < sessions; s++ {
		line(last+100, s, "disconnection: session time: 0:00:10.000")
	}
	var out bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &out, parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true, Prefix: "%m [%p] %c %e "}); err != nil {
		t.Fatalf("parse the test log: %v", err)
	}
	return out.Bytes()
}

func config(t *testing.T, raw []byte) Config {
	cfg, err := pgconn.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Open: func() (*parse.Reader, func(), error) {
			r, err := parse.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		},
		Executor: func() Executor { return &replay.PGExecutor{Config: cfg} },
		Step:     time.Second,
	}
}

// TestCalibrateLight replays a light workload whose seconds 3 and 4 are
// busier than the rest: each step replays the busiest stretch of its
// length, speed 1 keeps the schedule, and the plan follows from the
// fastest step that did.
func TestCalibrateLight(t *testing.T) {
	var stmts []stmt
	busy := 0
	for s := 0; s < 4; s++ {
		for ms := 0; ms < 6000; {
			stmts = append(stmts, stmt{s, ms, fmt.Sprintf("SELECT %d", ms)})
			if ms >= 3000 && ms < 5000 {
				busy++
				ms += 10
			} else {
				ms += 50
			}
		}
	}
	cfg := config(t, workload(t, 4, stmts))
	cfg.Speeds = []float64{1, 2}
	var done []Step
	cfg.Done = func(s Step) { done = append(done, s) }
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Steps) == 0 || len(done) != len(rep.Steps) {
		t.Fatalf("%d steps, %d reported", len(rep.Steps), len(done))
	}
	first := rep.Steps[0]
	// Speed 1, one second: the first busy second, 4 sessions x 100.
	if !first.Begin.Equal(base.Add(3*time.Second)) || first.Statements != 400 {
		t.Errorf("speed 1 replayed %d statements from %v, want 400 from %v", first.Statements, first.Begin, base.Add(3*time.Second))
	}
	if !first.Kept || first.LatenessP99MS >= 100 || first.CPUUSPerStatement <= 0 || first.StatementsPerS <= 0 {
		t.Fatalf("speed 1 on a light load: %+v", first)
	}
	if len(rep.Steps) > 1 {
		second := rep.Steps[1]
		if !second.Begin.Equal(base.Add(3*time.Second)) || second.Statements != int64(busy) {
			t.Errorf("speed 2 replayed %d statements from %v, want the two busy seconds' %d", second.Statements, second.Begin, busy)
		}
	}
	best := rep.Best
	if best == nil || (rep.Limit == "none") != (best.Speed == 2) {
		t.Fatalf("best %+v with limit %q", best, rep.Limit)
	}
	// The trailer's peak is a busy second's 400.
	if rep.PeakPerS != 400 || rep.SustainedPerS != best.StatementsPerS {
		t.Errorf("peak %d, sustained %v (best %v)", rep.PeakPerS, rep.SustainedPerS, best.StatementsPerS)
	}
	if want := int(math.Ceil(400 / rep.SustainedPerS)); rep.Shards != want || rep.CoresPerShard < 1 {
		t.Errorf("shards %d (want %d), cores per shard %d", rep.Shards, want, rep.CoresPerShard)
	}
}

// TestCalibrateTargetLimit: statements that take the target longer than
// the gaps between them make even speed 1 fall behind, held back by the
// target; the ladder stops there and says more replayers will not help.
func TestCalibrateTargetLimit(t *testing.T) {
	var stmts []stmt
	for ms := 0; ms < 1000; ms += 10 {
		stmts = append(stmts, stmt{0, ms, "SELECT pg_sleep(0.03)"})
	}
	cfg := config(t, workload(t, 1, stmts))
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Steps) != 1 || rep.Best != nil || rep.Limit != "target" || rep.Shards != 0 {
		t.Fatalf("steps %+v, best %v, limit %q, shards %d", rep.Steps, rep.Best, rep.Limit, rep.Shards)
	}
	if rep.CPUUSPerStatement != rep.Steps[0].CPUUSPerStatement || rep.CPUUSPerStatement <= 0 {
		t.Errorf("CPU per statement %v, speed 1's %v", rep.CPUUSPerStatement, rep.Steps[0].CPUUSPerStatement)
	}
	if !strings.Contains(rep.Note, "target did not keep up") {
		t.Errorf("note %q", rep.Note)
	}
}

func TestBusiest(t *testing.T) {
	p := &workloadProfile{start: base.UnixMicro(), counts: []int64{5, 1, 9, 9, 2, 9}}
	for _, c := range []struct {
		n         int
		from, len int
	}{{1, 2, 1}, {2, 2, 2}, {3, 2, 3}, {10, 0, 6}} {
		b, e := p.busiest(c.n)
		if !b.Equal(base.Add(time.Duration(c.from)*time.Second)) || !e.Equal(base.Add(time.Duration(c.from+c.len)*time.Second-time.Microsecond)) {
			t.Errorf("busiest(%d) = %v..%v, want second %d for %d s", c.n, b, e, c.from, c.len)
		}
	}
}

func TestCores(t *testing.T) {
	// 65 µs a statement at 100,000/s is 6.5 cores busy; at half busy, 13.
	if got := Cores(65, 100_000); got != 13 {
		t.Errorf("Cores(65, 100000) = %d, want 13", got)
	}
	if got := Cores(65, 10); got != 1 {
		t.Errorf("Cores(65, 10) = %d, want 1", got)
	}
}
