package cloudwatch

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

var (
	now    = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	window = metrics.Window{Start: now.Add(-3 * time.Hour), End: now.Add(-1 * time.Hour)}
)

func newSource(t *testing.T, spec string) *Source {
	t.Helper()
	sp, err := metrics.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	return s
}

// TestRDSInstance: two hours of an RDS instance and its two replicas in
// one call, values scaled to the standard units, replica lag merged into
// the worst replica.
func TestRDSInstance(t *testing.T) {
	f := &cloudwatchtest.Server{}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=prod-db,replicas=prod-r1;prod-r2")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 1 || f.Calls() != 1 {
		t.Errorf("%d calls (%d answered, %d requests), want 1 for two hours of every metric", s.Calls, f.Calls(), f.Requests)
	}
	want := map[string]struct {
		name  string
		scale float64
	}{
		metrics.CPU: {"CPUUtilization", 1}, metrics.ReadIOPS: {"ReadIOPS", 1}, metrics.WriteIOPS: {"WriteIOPS", 1},
		metrics.ReplicaLag: {"ReplicaLag", 1000}, metrics.Connections: {"DatabaseConnections", 1},
		metrics.ReadLatency: {"ReadLatency", 1000}, metrics.WriteLatency: {"WriteLatency", 1000}, metrics.FreeableMemory: {"FreeableMemory", 1},
	}
	for m, w := range want {
		sr := set.Get(m)
		if sr == nil {
			t.Errorf("no %s series", m)
			continue
		}
		if len(sr.Points) != 120 || sr.Period != time.Minute || sr.Unit != metrics.Unit(m) {
			t.Errorf("%s: %d points, period %v, unit %q", m, len(sr.Points), sr.Period, sr.Unit)
			continue
		}
		for i, p := range sr.Points {
			if i > 0 && !p.T.After(sr.Points[i-1].T) {
				t.Fatalf("%s: points out of order", m)
			}
			if !near(p.V, cloudwatchtest.Value(w.name, p.T)*w.scale) {
				t.Fatalf("%s at %v = %v, want %v", m, p.T, p.V, cloudwatchtest.Value(w.name, p.T)*w.scale)
			}
		}
	}
	lags := 0
	for _, q := range f.Queries {
		switch q.Name {
		case "ReplicaLag":
			lags++
			if q.Dims["DBInstanceIdentifier"] != "prod-r1" && q.Dims["DBInstanceIdentifier"] != "prod-r2" {
				t.Errorf("ReplicaLag asked of %v", q.Dims)
			}
		case "CPUUtilization":
			if q.Dims["DBInstanceIdentifier"] != "prod-db" || q.Stat != "Average" || q.Period != 60 {
				t.Errorf("CPUUtilization query %+v", q)
			}
		}
	}
	if lags != 2 {
		t.Errorf("%d ReplicaLag queries, want one per replica", lags)
	}
	if set.Get(metrics.Commits) != nil {
		t.Errorf("RDS has no CommitThroughput, yet a commits series came back")
	}
}

// TestAuroraCluster: the writer by Role=WRITER, lag from
// AuroraReplicaLagMaximum in ms, cluster volume I/O at 300 s turned into
// per-second rates with a caveat.
func TestAuroraCluster(t *testing.T) {
	f := &cloudwatchtest.Server{}
	f.Start(t)
	s := newSource(t, "cloudwatch:cluster=aurora-1,region=us-east-1")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range f.Queries {
		switch q.Name {
		case "CPUUtilization", "AuroraReplicaLagMaximum", "CommitThroughput":
			if q.Dims["Role"] != "WRITER" || q.Dims["DBClusterIdentifier"] != "aurora-1" {
				t.Errorf("%s dims %v", q.Name, q.Dims)
			}
		case "ReadIOPS", "WriteIOPS":
			if q.Period != 60 || q.Dims["Role"] != "WRITER" {
				t.Errorf("%s: %+v", q.Name, q)
			}
		case "VolumeReadIOPs", "VolumeWriteIOPs":
			if q.Period != 300 || q.Stat != "Sum" || q.Dims["Role"] != "" {
				t.Errorf("%s: %+v", q.Name, q)
			}
		}
	}
	// read_iops and write_iops are the writer's, at 60 s, like RDS's;
	// the volume's five-minute sums are measures of their own.
	r := set.Get(metrics.ReadIOPS)
	if r == nil || len(r.Points) != 120 || r.Period != time.Minute || !near(r.Points[0].V, cloudwatchtest.Value("ReadIOPS", r.Points[0].T)) {
		t.Fatalf("read_iops %v", r)
	}
	if w := set.Get(metrics.WriteIOPS); w == nil || !strings.Contains(strings.Join(w.Caveats, " "), "log records") || !strings.Contains(w.Source, "Role=WRITER") {
		t.Errorf("write_iops lacks the writer or the Aurora caveat: %v", w)
	}
	v := set.Get(metrics.VolumeReadIOPS)
	if v == nil || len(v.Points) != 24 || v.Period != 5*time.Minute || !near(v.Points[0].V, cloudwatchtest.Value("VolumeReadIOPs", v.Points[0].T)/300) || len(v.Caveats) == 0 {
		t.Fatalf("volume_read_iops %v", v)
	}
	if set.Get(metrics.VolumeWriteIOPS) == nil {
		t.Errorf("no volume_write_iops")
	}
	// 60 s metrics in one call, the volume's 300 s sums in another.
	if s.Calls != 2 {
		t.Errorf("%d GetMetricData calls for two hours of an Aurora cluster, want 2", s.Calls)
	}
	if l := set.Get(metrics.ReplicaLag); l == nil || !near(l.Points[0].V, cloudwatchtest.Value("AuroraReplicaLagMaximum", l.Points[0].T)) {
		t.Errorf("replica_lag %+v", l)
	}
	if set.Get(metrics.Commits) == nil {
		t.Errorf("no commits from CommitThroughput")
	}
}

// TestPaging: a server that returns 50 datapoints per response is read
// to the end.
func TestPaging(t *testing.T) {
	f := &cloudwatchtest.Server{PageSize: 50}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=prod-db")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	// 10 metrics (DB load's three included) × 120 points = 1,200
	// datapoints: 24 pages.
	if s.Calls != 24 {
		t.Errorf("%d calls, want 24", s.Calls)
	}
	for _, sr := range set.Series {
		if len(sr.Points) != 120 {
			t.Errorf("%s: %d points after paging, want 120", sr.Metric, len(sr.Points))
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		f    *cloudwatchtest.Server
		spec string
		want string // in the error; "" for success
	}{
		{"permission", &cloudwatchtest.Server{FailType: "AccessDenied", FailMsg: "User: arn:aws:iam::1:user/x is not authorized to perform: cloudwatch:GetMetricData"}, "cloudwatch:instance=db", "needs cloudwatch:GetMetricData"},
		{"bad parameter", &cloudwatchtest.Server{FailType: "InvalidParameterValueException", FailMsg: "The parameter StartTime must be less than EndTime"}, "cloudwatch:instance=db", "StartTime must be less than EndTime"},
		{"unknown identifier", &cloudwatchtest.Server{Empty: func(string, map[string]string) bool { return true }}, "cloudwatch:instance=typo-db", "no datapoints at all for instance=typo-db in region eu-west-1"},
		{"throttled then fine", &cloudwatchtest.Server{Throttle: 2}, "cloudwatch:instance=db", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Start(t)
			s := newSource(t, tt.spec)
			_, err := s.Fetch(context.Background(), window)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestPartialData: a metric with no data is a named warning, not an
// error, and not a series of zeros.
func TestPartialData(t *testing.T) {
	f := &cloudwatchtest.Server{Empty: func(name string, dims map[string]string) bool { return name == "ReplicaLag" }}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=prod-db,replicas=gone-replica")
	set, err := s.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	if set.Get(metrics.ReplicaLag) != nil {
		t.Errorf("a replica_lag series without datapoints")
	}
	if !strings.Contains(strings.Join(set.Warnings, "\n"), "no datapoints for ReplicaLag DBInstanceIdentifier=gone-replica") {
		t.Errorf("warnings %v", set.Warnings)
	}
}

func TestPeriod(t *testing.T) {
	for _, tt := range []struct {
		age  time.Duration
		want int32
	}{{time.Hour, 60}, {14 * 24 * time.Hour, 60}, {16 * 24 * time.Hour, 300}, {62 * 24 * time.Hour, 300}, {64 * 24 * time.Hour, 3600}} {
		if got := Period(now.Add(-tt.age), now); got != tt.want {
			t.Errorf("Period(%v old) = %d, want %d", tt.age, got, tt.want)
		}
	}
	f := &cloudwatchtest.Server{}
	f.Start(t)
	s := newSource(t, "cloudwatch:instance=prod-db")
	old := metrics.Window{Start: now.Add(-20 * 24 * time.Hour), End: now.Add(-20*24*time.Hour + 2*time.Hour)}
	set, err := s.Fetch(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if c := set.Get(metrics.CPU); c == nil || c.Period != 5*time.Minute || len(c.Points) != 24 {
		t.Errorf("cpu of a 20-day-old window: %+v", c)
	}
	if !strings.Contains(strings.Join(set.Warnings, " "), "300 s points") {
		t.Errorf("no coarse-resolution warning: %v", set.Warnings)
	}
}

func TestExplainSSO(t *testing.T) {
	s := &Source{Instance: "db", Profile: "prod"}
	err := s.explain(errors.New("operation error CloudWatch: GetMetricData, get identity: get credentials: failed to refresh cached credentials, refresh cached SSO token failed, unable to refresh SSO token, operation error SSO OIDC: CreateToken, https response error StatusCode: 400, InvalidGrantException"))
	if !strings.Contains(err.Error(), "aws sso login --profile prod") {
		t.Errorf("%v", err)
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	cloudwatchtest.Env(t, "http://127.0.0.1:1")
	for _, spec := range []string{"cloudwatch:", "cloudwatch:instance=a,cluster=b", "cloudwatch:cluster=a,replicas=b", "cloudwatch:instance=a,colour=blue",
		"cloudwatch:instance=a,enhanced=yes", "cloudwatch:instance=a,pi=maybe", "cloudwatch:instance=a,writer=b"} {
		sp, err := metrics.ParseSpec(spec)
		if err != nil {
			continue
		}
		if _, err := New(context.Background(), sp); err == nil {
			t.Errorf("New(%q) accepted", spec)
		}
	}
}
