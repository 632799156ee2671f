package cloudwatch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// localAWS is an RDS instance (with a replica) and an Aurora cluster,
// both with Enhanced Monitoring at interval (0: off) and Performance
// Insights on; procs sizes the events' process lists.
func localAWS(t *testing.T, interval, procs int) *cloudwatchtest.Server {
	streams := map[string]cloudwatchtest.Stream{}
	if interval > 0 {
		iv := time.Duration(interval) * time.Second
		streams["db-RDSPROD"] = cloudwatchtest.Stream{Interval: iv, Processes: procs}
		streams["db-AURORAW"] = cloudwatchtest.Stream{Interval: iv, Aurora: true, Processes: procs}
	}
	f := &cloudwatchtest.Server{
		RDS: &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{
			"rds-prod":   {ResourceID: "db-RDSPROD", MonitoringInterval: interval, PerformanceInsights: true},
			"aurora-w-1": {ResourceID: "db-AURORAW", Engine: "aurora-postgresql", MonitoringInterval: interval, PerformanceInsights: true},
		}, Writers: map[string]string{"aurora-c": "aurora-w-1"}},
		PI: &cloudwatchtest.PI{Load: map[string]cloudwatchtest.PILoad{
			"db-RDSPROD": {Events: map[string]float64{"CPU": 1, "IO:WALSync": 0.5}, SQL: map[string]float64{"COMMIT": 0.5}},
			"db-AURORAW": {Events: map[string]float64{"CPU": 1, "IO:XactSync": 0.5}, SQL: map[string]float64{"COMMIT": 0.5}},
		}},
		Logs: &cloudwatchtest.Logs{Streams: streams},
	}
	f.Start(t)
	return f
}

// TestCallBudget: two hours of every metric of both clusters, with
// one-second Enhanced Monitoring and Performance Insights: at most two
// GetMetricData calls per cluster; the other services' calls counted
// as the figures the documentation gives.
func TestCallBudget(t *testing.T) {
	localAWS(t, 1, 30) // 30 backends: events of about 7 KB
	start := window.Start.Add(11 * time.Second)
	w := metrics.Window{Start: start, End: start.Add(2 * time.Hour)}
	var lines []string
	for _, spec := range []string{"cloudwatch:instance=rds-prod,replicas=rds-r1", "cloudwatch:cluster=aurora-c"} {
		s := newSource(t, spec)
		set, err := s.Fetch(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		if set.Waits == nil || set.Get(metrics.CPU).Period != time.Second {
			t.Fatalf("%s: no Performance Insights or no one-second CPU", spec)
		}
		want := map[string][3]int{"cloudwatch:instance=rds-prod,replicas=rds-r1": {1, 1, 1}, "cloudwatch:cluster=aurora-c": {2, 2, 1}}[spec]
		if s.Calls != want[0] || s.RDSCalls != want[1] || s.PICalls != want[2] || s.LogsCalls < 2 {
			t.Errorf("%s: GetMetricData %d, RDS %d, PI %d, Logs %d; want %v", spec, s.Calls, s.RDSCalls, s.PICalls, s.LogsCalls, want)
		}
		lines = append(lines, fmt.Sprintf("%s: GetMetricData %d, DescribeDB* %d, GetResourceMetrics %d, GetLogEvents %d", spec, s.Calls, s.RDSCalls, s.PICalls, s.LogsCalls))
	}
	t.Logf("calls for a two-hour window:\n%s", strings.Join(lines, "\n"))
}

// TestPointsPerSide: the points each side has in the comparison, for
// windows starting 11 s into a minute, as compare aligns them (the
// default warm-up: 10 % of the window, at most a minute).
func TestPointsPerSide(t *testing.T) {
	type row struct {
		window             time.Duration
		enhanced           bool
		cpu, cpuAfter, vol int
	}
	want := []row{
		{37 * time.Second, false, 1, 1, 1}, {37 * time.Second, true, 37, 33, 1},
		{10 * time.Minute, false, 10, 9, 2}, {10 * time.Minute, true, 600, 540, 2},
		{2 * time.Hour, false, 120, 119, 24}, {2 * time.Hour, true, 7200, 7140, 24},
	}
	var lines []string
	for _, em := range []bool{false, true} {
		interval := 0
		if em {
			interval = 1
		}
		t.Run(fmt.Sprintf("enhanced=%v", em), func(t *testing.T) {
			localAWS(t, interval, 1) // small events: only the count matters here
			for _, wr := range want {
				if wr.enhanced != em {
					continue
				}
				start := window.Start.Add(11 * time.Second)
				w := metrics.Window{Start: start, End: start.Add(wr.window)}
				warm := min(time.Minute, wr.window/10)
				got := row{window: wr.window, enhanced: em}
				for _, spec := range []string{"cloudwatch:instance=rds-prod", "cloudwatch:cluster=aurora-c"} {
					set, err := newSource(t, spec).Fetch(context.Background(), w)
					if err != nil {
						t.Fatal(err)
					}
					c := metrics.AlignWindow(set.Get(metrics.CPU), w, set.Get(metrics.CPU).Period, 1, warm)
					got.cpu, got.cpuAfter = len(c.Values), len(c.Points())
					if v := set.Get(metrics.VolumeReadIOPS); v != nil {
						got.vol = len(metrics.AlignWindow(v, w, v.Period, 1, warm).Values)
					}
					if got.cpu != wr.cpu || got.cpuAfter != wr.cpuAfter {
						t.Errorf("%s %v enhanced=%v: cpu %d points, %d after the warm-up; want %d, %d", spec, wr.window, em, got.cpu, got.cpuAfter, wr.cpu, wr.cpuAfter)
					}
				}
				if got.vol != wr.vol {
					t.Errorf("%v: volume_read_iops %d points, want %d", wr.window, got.vol, wr.vol)
				}
				lines = append(lines, fmt.Sprintf("%v enhanced=%v: cpu/read_iops/write_iops %d per side (%d after the %v warm-up), volume I/O %d", wr.window, em, got.cpu, got.cpuAfter, warm, got.vol))
			}
		})
	}
	t.Logf("points per side:\n%s", strings.Join(lines, "\n"))
}
