package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// TestMetricsCommandCloudWatch: the CLI reaches CloudWatch through
// AWS_ENDPOINT_URL_CLOUDWATCH with the real SDK, as a user's environment
// would route it, and shows the series and their caveats.
func TestMetricsCommandCloudWatch(t *testing.T) {
	f := &cloudwatchtest.Server{}
	f.Start(t)
	code, stdout, stderr := run(t, nil, "metrics", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T12:00:00Z", "cloudwatch:cluster=aurora-prod")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cpu", "read_iops", "write_iops", "replica_lag", "commits", "AuroraReplicaLagMaximum", "log records", "volume_read_iops", "VolumeReadIOPs", "Role=WRITER",
		"Enhanced Monitoring is off on aurora-prod-instance-1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// One call for the one-minute metrics, one for the volume's
	// five-minute sums.
	if f.Calls() != 2 {
		t.Errorf("%d GetMetricData calls (%d requests), want 2", f.Calls(), f.Requests)
	}
	code, stdout, _ = run(t, nil, "metrics", "--json", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T12:00:00Z", "cloudwatch:instance=rds-prod,replicas=rds-r1")
	var set metrics.Set
	if code != exitOK || json.Unmarshal([]byte(stdout), &set) != nil || set.Get(metrics.ReplicaLag) == nil || len(set.Get(metrics.CPU).Points) != 120 {
		t.Fatalf("--json: exit %d\n%s", code, stdout)
	}
	// Denied: the message names the permission to grant.
	f.FailType, f.FailMsg = "AccessDenied", "not authorized"
	code, _, stderr = run(t, nil, "metrics", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T12:00:00Z", "cloudwatch:instance=rds-prod")
	if code != exitError || !strings.Contains(stderr, "cloudwatch:GetMetricData") {
		t.Errorf("access denied: exit %d %s", code, stderr)
	}
	// Bad specs are usage errors before anything is fetched.
	for _, spec := range []string{"cloudwatch:instance=a,cluster=b", "graphite:x", "pg:host=h password=hunter2"} {
		code, _, stderr := run(t, nil, "metrics", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T12:00:00Z", spec)
		if code == exitOK || strings.Contains(stderr, "hunter2") {
			t.Errorf("%s: exit %d %s", spec, code, stderr)
		}
	}
}

// TestMetricsCommandAWSExtras: with Enhanced Monitoring and Performance
// Insights on, the CLI shows one-second CPU, the devices, and the load
// by wait event, all through the real clients.
func TestMetricsCommandAWSExtras(t *testing.T) {
	f := &cloudwatchtest.Server{
		RDS:  &cloudwatchtest.RDS{Instances: map[string]cloudwatchtest.Instance{"rds-prod": {ResourceID: "db-P", MonitoringInterval: 1, PerformanceInsights: true}}},
		Logs: &cloudwatchtest.Logs{Streams: map[string]cloudwatchtest.Stream{"db-P": {}}},
		PI:   &cloudwatchtest.PI{Load: map[string]cloudwatchtest.PILoad{"db-P": {Events: map[string]float64{"CPU": 1.5, "IO:DataFileRead": 0.5}}}},
	}
	f.Start(t)
	code, stdout, stderr := run(t, nil, "metrics", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T10:05:00Z", "cloudwatch:instance=rds-prod")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"enhanced monitoring RDSOSMetrics/db-P cpuUtilization.total", "read_iops:rdsdev", "cpu:cloudwatch", "IO:DataFileRead", "2.00 AAS"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, nil, "metrics", "--json", "--begin", "2026-11-22T10:00:00Z", "--end", "2026-11-22T10:05:00Z", "cloudwatch:instance=rds-prod")
	var set metrics.Set
	if code != exitOK || json.Unmarshal([]byte(stdout), &set) != nil || set.Waits == nil || len(set.Get(metrics.CPU).Points) != 300 {
		t.Fatalf("--json: exit %d", code)
	}
}
