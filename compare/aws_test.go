package compare

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch"
	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

func cwSource(t *testing.T, spec string) *cloudwatch.Source {
	t.Helper()
	sp, err := metrics.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cloudwatch.New(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// awsComparison compares an RDS baseline with an Aurora candidate over
// windows of length d, each starting 11 s into a minute, through the
// real SDK clients and the local AWS.
func awsComparison(t *testing.T, f *cloudwatchtest.Server, d time.Duration, gates ...string) *Comparison {
	t.Helper()
	f.Start(t)
	capture := time.Now().Add(-3 * time.Hour).Truncate(time.Minute).Add(11 * time.Second)
	replay := capture.Add(time.Hour + 26*time.Second)
	c := &Comparison{Fidelity: Fidelity{CaptureStart: capture, CaptureEnd: capture.Add(d), ReplayStart: replay, ReplayEnd: replay.Add(d),
		Speed: 1, OriginalS: d.Seconds(), Replayed: 1, Statements: 1}}
	in := Input{Baseline: cwSource(t, "cloudwatch:instance=rds-prod"), Candidate: cwSource(t, "cloudwatch:cluster=aurora-cand"), Warmup: -1}
	if err := c.addMetrics(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var gs []Gate
	for _, g := range gates {
		gs = append(gs, mustGate(t, g))
	}
	c.Judge(gs)
	return c
}

// TestShortCaptureCloudWatch: a 37 s capture and its replay, each inside
// one CloudWatch minute, get one point per side; an impossible gate
// fails, as it must, instead of being inconclusive.
func TestShortCaptureCloudWatch(t *testing.T) {
	c := awsComparison(t, &cloudwatchtest.Server{}, 37*time.Second, "cpu.p95 < 1", "read_iops.p95 <= baseline * 100")
	m := c.metric("cpu.p95")
	if m == nil || m.Baseline == nil || m.Candidate == nil || m.Baseline.N != 1 || m.Candidate.N != 1 {
		t.Fatalf("cpu side by side: %+v", m)
	}
	if !strings.Contains(strings.Join(m.Caveats, " "), "few periods: baseline 1 of 1m (longer than its 37s window") {
		t.Errorf("caveats %v", m.Caveats)
	}
	if c.Gates[0].Status != Fail || c.Gates[1].Status != Pass || c.Verdict.Result != NOGO {
		t.Errorf("gates %+v, verdict %s", c.Gates, c.Verdict.Result)
	}
	if v := c.metric("volume_read_iops.p95"); v == nil || v.Candidate == nil || v.Baseline != nil {
		t.Errorf("Aurora's volume I/O on the candidate only: %+v", v)
	}
}

// TestAWSDefaultsAndWaits: DB load on both sides with its default gate,
// the writer's IOPS beside RDS's at one minute, and the wait events side
// by side with what they mean on Aurora.
func TestAWSDefaultsAndWaits(t *testing.T) {
	f := &cloudwatchtest.Server{
		RDS: &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{
			"rds-prod":               {ResourceID: "db-BASE", PerformanceInsights: true},
			"aurora-cand-instance-1": {ResourceID: "db-CAND", Engine: "aurora-postgresql", PerformanceInsights: true},
		}},
		PI: &cloudwatchtest.PI{Load: map[string]cloudwatchtest.PILoad{
			"db-BASE": {Events: map[string]float64{"CPU": 1.0, "IO:WALSync": 0.5, "IO:DataFileRead": 0.25}, SQL: map[string]float64{"COMMIT": 0.5}},
			"db-CAND": {Events: map[string]float64{"CPU": 1.25, "IO:XactSync": 0.75, "IO:DataFileRead": 0.5}, SQL: map[string]float64{"COMMIT": 0.8}},
		}},
	}
	c := awsComparison(t, f, 10*time.Minute)
	load := c.metric("db_load.p95")
	if load == nil || load.Baseline == nil || load.Candidate == nil || load.Baseline.N != 9 {
		t.Fatalf("db_load %+v", load)
	}
	found := false
	for _, g := range c.Gates {
		found = found || g.Expr == "db_load.p95 <= baseline * 1.2" && g.Status != Inconclusive
	}
	if !found {
		t.Errorf("default DB load gate missing or inconclusive: %+v", c.Gates)
	}
	w := c.Waits
	if w == nil || *w.BaselineTotal != 1.75 || *w.CandidateTotal != 2.5 || w.Events[0].Name != "CPU" || *w.Events[0].Change != 0.25 {
		t.Fatalf("waits %+v", w)
	}
	byName := map[string]LoadRow{}
	for _, r := range w.Events {
		byName[r.Name] = r
	}
	if x := byName["IO:XactSync"]; x.Baseline != nil || *x.Candidate != 0.75 || !strings.Contains(x.Note, "storage quorum") {
		t.Errorf("IO:XactSync %+v", x)
	}
	if x := byName["IO:WALSync"]; x.Candidate != nil || x.Note == "" {
		t.Errorf("IO:WALSync %+v", x)
	}
	if len(w.SQL) != 1 || *w.SQL[0].Change < 0.29 || *w.SQL[0].Change > 0.31 {
		t.Errorf("top SQL %+v", w.SQL)
	}
}
