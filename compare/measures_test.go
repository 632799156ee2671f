package compare

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// TestMeasureTable: every standard metric can be gated on with each
// statistic, in its unit, and every measure says what it is and how it
// is read.
func TestMeasureTable(t *testing.T) {
	var gated []string
	for _, cm := range clusterGateMetrics {
		gated = append(gated, cm.metric)
	}
	slices.Sort(gated)
	names := slices.Clone(metrics.Names())
	slices.Sort(names)
	if !slices.Equal(gated, names) {
		t.Errorf("gated metrics %v, standard metrics %v", gated, names)
	}
	for _, m := range Measures() {
		g := measureTable[m.Name]
		if m.Help == "" || g.read == nil {
			t.Errorf("%s: no help or no reader", m.Name)
		}
		if g.naming == namedEach && !strings.Contains(knownNames(), m.Name+",") {
			t.Errorf("%s is not named in %q", m.Name, knownNames())
		}
	}
	for _, tc := range []struct {
		gate string
		ok   bool
	}{
		{"replica_lag.p95 < 1s", true}, {"replay.lateness.max < 5ms", true}, {"cpu.max < 90%", true},
		{"read_iops.p95 < 5ms", false}, {"errors.new < 1%", false}, {"db_load.p95 < 1s", false},
	} {
		if _, err := ParseGate(tc.gate); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.gate, err)
		}
	}
}
