package cloudwatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/enhanced"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// TestShortWindow: a 37 s capture inside one minute gets that minute's
// point for every one-minute metric, and the five-minute volume sum it
// falls in.
func TestShortWindow(t *testing.T) {
	f := &cloudwatchtest.Server{}
	f.Start(t)
	s := newSource(t, "cloudwatch:cluster=aurora-1")
	start := time.Date(2026, 11, 22, 12, 21, 11, 0, time.UTC)
	w := metrics.Window{Start: start, End: start.Add(37 * time.Second)}
	set, err := s.Fetch(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{metrics.CPU, metrics.ReadIOPS, metrics.WriteIOPS, metrics.ReplicaLag, metrics.VolumeReadIOPS} {
		sr := set.Get(m)
		if sr == nil || len(sr.Points) != 1 {
			t.Errorf("%s: %v, want one point", m, sr)
			continue
		}
		a := metrics.AlignWindow(sr, w, sr.Period, 1, 3700*time.Millisecond)
		if len(a.Points()) != 1 || a.Periods != 1 {
			t.Errorf("%s aligned: %+v", m, a)
		}
	}
	if p := set.Get(metrics.CPU).Points[0].T; !p.Equal(start.Truncate(time.Minute)) {
		t.Errorf("cpu point at %v, want the minute the window starts in", p)
	}
	if p := set.Get(metrics.VolumeReadIOPS).Points[0].T; !p.Equal(time.Date(2026, 11, 22, 12, 20, 0, 0, time.UTC)) {
		t.Errorf("volume point at %v, want 12:20:00", p)
	}
}

// TestDBLoad: DB load of both kinds of cluster, gaps counted as no
// load; an instance without Performance Insights and without a
// datapoint gets no series, and a warning saying why.
func TestDBLoad(t *testing.T) {
	idle := func(name string, ts time.Time) bool { return strings.HasPrefix(name, "DBLoad") && ts.Minute()%2 == 1 }
	f := &cloudwatchtest.Server{Gap: idle, RDS: &cloudwatchtest.RDS{
		Instances: map[string]cloudwatchtest.Instance{"prod-db": {PerformanceInsights: true}, "aurora-1-writer": {Engine: "aurora-postgresql", PerformanceInsights: true}},
		Writers:   map[string]string{"aurora-1": "aurora-1-writer"},
	}}
	f.Start(t)
	for _, spec := range []string{"cloudwatch:instance=prod-db,pi=off", "cloudwatch:cluster=aurora-1,pi=off"} {
		s := newSource(t, spec)
		set, err := s.Fetch(context.Background(), window)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{metrics.DBLoad, metrics.DBLoadCPU, metrics.DBLoadNonCPU} {
			sr := set.Get(m)
			if sr == nil || len(sr.Points) != 120 || sr.Unit != "AAS" {
				t.Fatalf("%s %s: %v", spec, m, sr)
			}
			zeros := 0
			for _, p := range sr.Points {
				if p.V == 0 {
					zeros++
				}
			}
			if zeros != 60 {
				t.Errorf("%s %s: %d zero periods, want the 60 without a datapoint", spec, m, zeros)
			}
		}
	}
	for _, q := range f.Queries {
		if q.Name == "DBLoad" && q.Dims["DBInstanceIdentifier"] != "prod-db" && q.Dims["DBInstanceIdentifier"] != "aurora-1-writer" {
			t.Errorf("DBLoad asked of %v", q.Dims)
		}
	}
	// No Performance Insights, no datapoint: no series of zeros.
	f.Empty = func(name string, _ map[string]string) bool { return strings.HasPrefix(name, "DBLoad") }
	s := newSource(t, "cloudwatch:instance=other-db")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	if set.Get(metrics.DBLoad) != nil || !strings.Contains(strings.Join(set.Warnings, "\n"), "Performance Insights or Database Insights is off") {
		t.Errorf("db_load without Performance Insights: %v, warnings %v", set.Get(metrics.DBLoad), set.Warnings)
	}
}

// TestEnhancedMonitoring: an RDS instance with one-second Enhanced
// Monitoring: CPU and IOPS at 1 s from every page of its log stream,
// the data volume as read_iops and every device on its own; CloudWatch's
// one-minute figures kept beside them.
func TestEnhancedMonitoring(t *testing.T) {
	rid := "db-PRODRESOURCE"
	f := &cloudwatchtest.Server{
		RDS:  &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{"prod-db": {ResourceID: rid, MonitoringInterval: 1}}},
		Logs: &cloudwatchtest.Logs{Streams: map[string]cloudwatchtest.Stream{rid: {Interval: time.Second}}, MaxBytes: 256 << 10},
	}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=prod-db")
	w := metrics.Window{Start: window.Start, End: window.Start.Add(10 * time.Minute)}
	set, err := s.Fetch(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	cpu := set.Get(metrics.CPU)
	if cpu == nil || cpu.Period != time.Second || len(cpu.Points) != 600 || !strings.Contains(cpu.Source, "enhanced monitoring RDSOSMetrics/"+rid) {
		t.Fatalf("cpu: %d points, period %v, source %q", len(cpu.Points), cpu.Period, cpu.Source)
	}
	// A point is stamped with the start of the second it covers.
	if p := cpu.Points[0]; !p.T.Equal(w.Start) || !near(p.V, cloudwatchtest.EMValue("cpu", w.Start.Add(time.Second))) {
		t.Errorf("first cpu point %+v", p)
	}
	r := set.Get(metrics.ReadIOPS)
	if r == nil || !strings.Contains(r.Source, "diskIO rdsdev readIOsPS") || !near(r.Points[10].V, cloudwatchtest.EMValue("rdsdev read", r.Points[10].T.Add(time.Second))) {
		t.Fatalf("read_iops %v", r.Source)
	}
	for _, m := range []string{"read_iops:rdsdev", "write_iops:filesystem", "cpu:cloudwatch", "read_iops:cloudwatch"} {
		if set.Get(m) == nil {
			t.Errorf("no %s series", m)
		}
	}
	if c := set.Get("cpu:cloudwatch"); c != nil && (c.Period != time.Minute || len(c.Points) != 10) {
		t.Errorf("CloudWatch cpu kept: %d points", len(c.Points))
	}
	// Pages of at most 256 KB here (7 KB events): every event read once,
	// across the pages, the last one answering with the token it was
	// given. The server may see more requests than calls: the SDK retries
	// a read cut by a connection it closed itself (aws-sdk-go-v2 #2737).
	if s.LogsCalls < 18 || f.Logs.Requests < s.LogsCalls || f.Logs.Events < 600 {
		t.Errorf("%d events served in %d requests (%d calls)", f.Logs.Events, f.Logs.Requests, s.LogsCalls)
	}
}

// TestEnhancedMonitoringAurora: Aurora's storage device (listed without
// a name) is read_iops and write_iops; its local device is apart.
func TestEnhancedMonitoringAurora(t *testing.T) {
	f := &cloudwatchtest.Server{
		RDS: &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{"aur-w": {ResourceID: "db-AURW", Engine: "aurora-postgresql", MonitoringInterval: 5}},
			Writers: map[string]string{"aur": "aur-w"}},
		Logs: &cloudwatchtest.Logs{Streams: map[string]cloudwatchtest.Stream{"db-AURW": {Interval: 5 * time.Second, Aurora: true}}},
	}
	f.Start(t)
	s := newSource(t, "cloudwatch:cluster=aur")
	w := metrics.Window{Start: window.Start, End: window.Start.Add(10 * time.Minute)}
	set, err := s.Fetch(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	r := set.Get(metrics.WriteIOPS)
	if r == nil || r.Period != 5*time.Second || len(r.Points) != 120 || !strings.Contains(r.Source, enhanced.AuroraStorage) ||
		!strings.Contains(strings.Join(r.Caveats, " "), "log records") {
		t.Fatalf("write_iops %v", r)
	}
	if l := set.Get("write_iops:nvme1n1"); l == nil || !near(l.Points[0].V, cloudwatchtest.EMValue("local write", l.Points[0].T.Add(5*time.Second))) {
		t.Errorf("local device %v", l)
	}
	if got := strings.Join(f.RDS.Actions, ","); got != "DescribeDBClusters,DescribeDBInstances" {
		t.Errorf("RDS actions %s", got)
	}
}

// TestEnhancedMonitoringOff: an instance without Enhanced Monitoring is
// a caveat on CPU and IOPS, not an error; asked for explicitly with
// enhanced=on, a missing log stream says so too.
func TestEnhancedMonitoringOff(t *testing.T) {
	f := &cloudwatchtest.Server{}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=plain-db")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	c := set.Get(metrics.CPU)
	if c.Period != time.Minute || !strings.Contains(strings.Join(c.Caveats, " "), "Enhanced Monitoring is off on plain-db") || f.Logs.Requests != 0 {
		t.Errorf("cpu %v caveats %v, %d log requests", c.Period, c.Caveats, f.Logs.Requests)
	}
	s = newSource(t, "cloudwatch:instance=plain-db,enhanced=on")
	set, err = s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatalf("enhanced=on without a stream: %v", err)
	}
	if c := set.Get(metrics.CPU); c.Period != time.Minute || !strings.Contains(strings.Join(c.Caveats, " "), "no log stream "+cloudwatchtest.ResourceID("plain-db")) {
		t.Errorf("caveats %v", c.Caveats)
	}
}

// TestPerformanceInsights: load by wait event and statement, with the
// Aurora caveat, read in one request for a two-hour window.
func TestPerformanceInsights(t *testing.T) {
	f := &cloudwatchtest.Server{
		RDS: &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{"aur-w": {ResourceID: "db-AURW", Engine: "aurora-postgresql", PerformanceInsights: true}},
			Writers: map[string]string{"aur": "aur-w"}},
		PI: &cloudwatchtest.PI{Load: map[string]cloudwatchtest.PILoad{"db-AURW": {
			Events: map[string]float64{"CPU": 1.5, "IO:XactSync": 0.75, "Client:ClientRead": 0.25},
			SQL:    map[string]float64{"UPDATE accounts SET balance = balance + ? WHERE id = ?": 1.2, "SELECT * FROM accounts WHERE id = ?": 0.8},
		}}},
	}
	f.Start(t)
	s := newSource(t, "cloudwatch:cluster=aur")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	wt := set.Waits
	if wt == nil || !near(wt.TotalAAS, 2.5) || len(wt.Events) != 3 || wt.Events[0].Name != "CPU" || wt.Events[1].Name != "IO:XactSync" || wt.Events[1].Type != "IO" ||
		!near(wt.Events[1].AAS, 0.75) || len(wt.SQL) != 2 || !near(wt.SQL[0].AAS, 1.2) || wt.Engine != "aurora-postgresql" {
		t.Fatalf("waits %+v", wt)
	}
	if !strings.Contains(strings.Join(wt.Caveats, " "), "Aurora") || s.PICalls != 1 || f.PI.Periods[0] != 60 {
		t.Errorf("caveats %v, %d calls, periods %v", wt.Caveats, s.PICalls, f.PI.Periods)
	}
	// Idle periods are no load: half the periods idle halves the average.
	f.PI.Idle = func(ts time.Time) bool { return ts.Minute()%2 == 0 }
	set, err = s.Fetch(context.Background(), window)
	if err != nil || !near(set.Waits.TotalAAS, 1.25) {
		t.Errorf("with idle periods: %v %+v", err, set.Waits)
	}
}

// TestPermissions: a missing permission names the API to grant; with
// auto it is a warning and the rest goes on, asked for explicitly it is
// an error.
func TestPermissions(t *testing.T) {
	on := cloudwatchtest.Instance{ResourceID: "db-X", MonitoringInterval: 1, PerformanceInsights: true}
	for _, tt := range []struct {
		name, spec, want string
		wantErr          bool
		f                *cloudwatchtest.Server
	}{
		{"pi auto", "cloudwatch:instance=db", "pi:GetResourceMetrics", false, &cloudwatchtest.Server{PI: &cloudwatchtest.PI{FailType: "NotAuthorizedException"}}},
		{"pi on", "cloudwatch:instance=db,pi=on", "pi:GetResourceMetrics", true, &cloudwatchtest.Server{PI: &cloudwatchtest.PI{FailType: "NotAuthorizedException"}}},
		{"logs auto", "cloudwatch:instance=db", "logs:GetLogEvents", false, &cloudwatchtest.Server{Logs: &cloudwatchtest.Logs{FailType: "AccessDeniedException"}}},
		{"logs on", "cloudwatch:instance=db,enhanced=on", "logs:GetLogEvents", true, &cloudwatchtest.Server{Logs: &cloudwatchtest.Logs{FailType: "AccessDeniedException"}}},
		{"rds auto", "cloudwatch:instance=db", "rds:DescribeDBInstances", false, &cloudwatchtest.Server{RDS: &cloudwatchtest.RDS{FailType: "AccessDenied"}}},
		{"rds cluster on", "cloudwatch:cluster=c,pi=on", "rds:DescribeDBClusters", true, &cloudwatchtest.Server{RDS: &cloudwatchtest.RDS{FailType: "AccessDenied"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.f.RDS == nil {
				tt.f.RDS = &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{"db": on}}
			}
			tt.f.Start(t)
			s := newSource(t, tt.spec)
			set, err := s.Fetch(context.Background(), window)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one naming %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v", err)
			}
			if !strings.Contains(strings.Join(set.Warnings, "\n"), tt.want) || set.Get(metrics.CPU) == nil {
				t.Errorf("warnings %v", set.Warnings)
			}
		})
	}
}
