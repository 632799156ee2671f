package reports

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/replay"
)

// fixture is a fixed comparison document: a NO-GO (new errors, CPU), with
// an inconclusive gate, a regressed query, a metric missing on one side, warnings
// and caveats, so every section of every format has something to show.
func fixture() *compare.Comparison {
	start := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	series := func(name, src string, base, amp float64, warm time.Duration) *metrics.Aligned {
		a := &metrics.Aligned{Metric: name, Unit: metrics.Unit(name), Period: 10 * time.Second, Source: src, Warmup: warm}
		for i := 0; i < 36; i++ {
			a.Offsets = append(a.Offsets, time.Duration(i)*10*time.Second)
			a.Values = append(a.Values, math.Round((base+amp*math.Sin(float64(i)/4))*100)/100)
		}
		return a
	}
	warm := 30 * time.Second
	c := &compare.Comparison{
		Format: "pgrehearse-comparison", Version: compare.FormatVersion, Generated: "2026-11-20T15:10:00Z",
		Fidelity: compare.Fidelity{
			Workload: "capture.pgrw", CaptureStart: start, CaptureEnd: start.Add(6 * time.Minute),
			ReplayStart: start.Add(time.Hour), ReplayEnd: start.Add(time.Hour + 6*time.Minute + 2*time.Second),
			Speed: 1, Shards: 2, Statements: 163397, ResultStatements: 163397, Replayed: 163392, Skipped: map[string]int64{"copy": 5},
			Sessions: 38, OriginalSessions: 38, PeakSessions: 21, OriginalPeakActive: 19, ReplayPeakActive: 19, LatenessP99MS: 54.2, LatenessMaxMS: 693, LateShare: 0.0009,
			DurationS: 362, OriginalS: 360, Pipelined: 1204, Retyped: 3,
			LockWaits: []replay.LockWait{{BlockedBy: "session 7", Sessions: 3, Statements: 12, MaxS: 0.4}},
			Sync: &compare.SyncFidelity{Mode: "objects", Waited: 4210, WaitS: 38.5, TimedOut: 2, Cycles: 17, MaxWaitMS: 1000.4,
				Sessions: []replay.SessionSync{{Session: 12, Waited: 310, WaitS: 4.2, TimedOut: 1, On: []uint64{7, 3}}}},
		},
		Latency: compare.Latency{
			Basis:     "baseline: server-side durations from the log; candidate: client-side latency minus the round trip measured before the replay",
			Baseline:  &compare.Pcts{Count: 163000, P50: 0.18, P95: 1.9, P99: 5.1},
			Candidate: &compare.Pcts{Count: 163392, P50: 0.21, P95: 2.4, P99: 7.9},
			Top: []compare.Query{
				{Fingerprint: "8f3a1c2b4d5e6f70", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = ?", Calls: 81000, TotalMS: 24300,
					Baseline: &compare.Pcts{Count: 81000, P50: 0.12, P95: 0.4, P99: 0.9}, Candidate: &compare.Pcts{Count: 81000, P50: 0.15, P95: 0.5, P99: 1.2}, RatioP99: 1.33},
				{Fingerprint: "0a1b2c3d4e5f6071", Text: "UPDATE orders SET status = ? WHERE id = ?", Calls: 20000, TotalMS: 18000,
					Baseline: &compare.Pcts{Count: 20000, P50: 0.6, P95: 2, P99: 4}, Candidate: &compare.Pcts{Count: 20000, P50: 0.7, P95: 2.2, P99: 4.1}, RatioP99: 1.025},
				{Fingerprint: "1122334455667788", Text: "INSERT INTO audit (at, who, what) VALUES (now(), ?, ?)", Calls: 9000, TotalMS: 3100,
					Candidate: &compare.Pcts{Count: 9000, P50: 0.3, P95: 0.5, P99: 0.8}},
			},
			Regressed: []compare.Query{
				{Fingerprint: "8f3a1c2b4d5e6f70", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = ?", Calls: 81000, TotalMS: 24300,
					Baseline: &compare.Pcts{Count: 81000, P50: 0.12, P95: 0.4, P99: 0.9}, Candidate: &compare.Pcts{Count: 81000, P50: 0.15, P95: 0.5, P99: 1.2}, RatioP99: 1.33},
			},
		},
		Errors: compare.Errors{
			New:     []compare.ErrorCount{{SQLState: "42883", Fingerprint: "99aa88bb77cc66dd", Query: "SELECT to_tsvector(?, body) FROM docs WHERE id = ?", Count: 12}},
			Both:    []compare.ErrorCount{{SQLState: "23505", Fingerprint: "5566778899aabbcc", Query: "INSERT INTO users (email) VALUES (?)", Count: 4}},
			Missing: []compare.ErrorCount{{SQLState: "40P01", Fingerprint: "2233445566778899", Query: "UPDATE accounts SET balance = balance + ? WHERE id = ?", Count: 1, Reason: "succeeded"}},
			Total:   16, NewN: 12, MissingN: 1, Reproduced: 4, StandIns: 1, Outside: 1,
		},
		DefaultGates: false,
		Warnings:     []string{"baseline: CloudWatch returned 5-minute points for read_iops: the window is older than 15 days"},
	}
	add := func(name, bsrc, csrc string, b, cnd *metrics.Aligned, caveats ...string) {
		m := compare.Metric{Name: name, Unit: metrics.Unit(name), BaselineSource: bsrc, CandidateSource: csrc, Caveats: caveats, WarmupS: warm.Seconds(),
			BaselineSeries: b, CandidateSeries: cnd}
		if b != nil {
			st := metrics.Summarize(b.Points())
			m.Baseline = &st
		}
		if cnd != nil {
			st := metrics.Summarize(cnd.Points())
			m.Candidate = &st
		}
		c.Metrics = append(c.Metrics, m)
	}
	add(metrics.CPU, "cloudwatch:instance=prod-db", "pg:samples", series("cpu", "cloudwatch", 50, 6, warm), series("cpu", "pg", 62, 9, warm))
	add(metrics.ReadIOPS, "cloudwatch:instance=prod-db", "pg:samples", series("read_iops", "cloudwatch", 900, 200, warm), series("read_iops", "pg", 400, 80, warm),
		"pg_stat_database blocks read count reads that missed shared buffers, not device reads")
	add(metrics.WriteIOPS, "cloudwatch:instance=prod-db", "pg:samples", series("write_iops", "cloudwatch", 300, 50, warm), series("write_iops", "pg", 310, 60, warm))
	add(metrics.ReplicaLag, "cloudwatch:instance=prod-db", "", series("replica_lag", "cloudwatch", 40, 20, warm), nil)
	f := func(v float64) *float64 { return &v }
	c.Waits = &compare.Waits{
		BaselineSource: "performance insights db-BASE (prod-db) db.load.avg at 1s", BaselineEngine: "postgres", BaselineTotal: f(3.1),
		CandidateSource: "performance insights db-CAND (aurora-w) db.load.avg at 1s", CandidateEngine: "aurora-postgresql", CandidateTotal: f(3.6),
		Events: []compare.LoadRow{
			{Name: "CPU", Type: "CPU", Baseline: f(1.8), Candidate: f(1.9), Change: f(0.1), Note: compare.AuroraWaitNote("CPU")},
			{Name: "IO:XactSync", Type: "IO", Candidate: f(0.9), Note: compare.AuroraWaitNote("IO:XactSync")},
			{Name: "IO:WALSync", Type: "IO", Baseline: f(0.6), Note: compare.AuroraWaitNote("IO:WALSync")},
			{Name: "Lock:transactionid", Type: "Lock", Baseline: f(0.4), Candidate: f(0.3), Change: f(-0.1)},
		},
		SQL: []compare.LoadRow{
			{Name: "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?", Baseline: f(1.2), Candidate: f(1.5), Change: f(0.3)},
			{Name: "COMMIT", Baseline: f(0.7), Candidate: f(1.1), Change: f(0.4)},
		},
		Caveats: []string{"statements as Performance Insights tokenizes them, cut at 500 bytes", "a row missing on one side was not among that side's top 10"},
	}
	c.ServerQueries = &compare.ServerQueries{BaselineSource: "pg host=prod port=5432 user=postgres database=app pg_stat_statements 1.10",
		CandidateSource: "pg host=cand port=5432 user=postgres database=app pg_stat_statements 1.10",
		Rows: []compare.ServerQuery{
			{Fingerprint: "8f3a1c2b4d5e6f70", Query: "SELECT abalance FROM pgbench_accounts WHERE aid = ?",
				Baseline:  &compare.ServerStat{Calls: 81000, ExecMS: 9720, MeanMS: 0.12, SharedBlksRead: 1200, SharedBlksHit: 242000},
				Candidate: &compare.ServerStat{Calls: 81000, ExecMS: 12150, MeanMS: 0.15, SharedBlksRead: 5400, SharedBlksHit: 237800}, RatioMean: 1.25},
			{Fingerprint: "1122334455667788", Query: "INSERT INTO audit (at, who, what) VALUES (now(), ?, ?)",
				Candidate: &compare.ServerStat{Calls: 9000, ExecMS: 2700, MeanMS: 0.3, SharedBlksHit: 27000}},
		},
		Caveats: []string{"pg_stat_statements between its snapshots at 14:00:00 and 14:06:01, the nearest to the window"},
	}
	var gates []compare.Gate
	for _, expr := range []string{"errors.new == 0", "cpu.p95 <= baseline * 1.10", "replay.lateness.p99 < 100ms", "replica_lag.max < 1s"} {
		g, err := compare.ParseGate(expr)
		if err != nil {
			panic(err)
		}
		gates = append(gates, g)
	}
	c.Judge(gates)
	return c
}

// golden compares got with testdata/NAME, or rewrites it with -update.
// The files are generated by the renderers and reviewed, never edited by
// hand.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it, then review it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the renderer's output; if the change is intended, run go test ./reports -update and review the diff\n--- got ---\n%s", path, got)
	}
}
