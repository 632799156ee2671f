package compare

import (
	"strings"
	"testing"
)

// TestLoadAndVolumeGates: DB load and Aurora's volume I/O are measures
// like the others, validated the same way.
func TestLoadAndVolumeGates(t *testing.T) {
	for _, expr := range []string{"db_load.p95 <= baseline * 1.2", "db_load_cpu.max < 4", "db_load_noncpu.mean <= baseline + 0.5",
		"volume_read_iops.p95 <= baseline * 1.5", "volume_write_iops.max < 20000"} {
		if _, err := ParseGate(expr); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
	for expr, msg := range map[string]string{"db_load.p95 < 80ms": "not a time", "db_load.p95 < 2%": "not a percentage",
		"db_load.p90 < 2": "unknown measure", "volume_iops.max < 1": "unknown measure"} {
		if _, err := ParseGate(expr); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", expr, err, msg)
		}
	}
	found := false
	for _, g := range DefaultGates {
		found = found || g == "db_load.p95 <= baseline * 1.2"
	}
	if !found {
		t.Error("no default DB load gate")
	}
	// A default gate on a metric no source has is left out, not
	// inconclusive.
	c := &Comparison{}
	c.Judge(nil)
	for _, g := range c.Gates {
		if strings.HasPrefix(g.Name, "db_load") {
			t.Errorf("default DB load gate without a DB load source: %+v", g)
		}
	}
}
