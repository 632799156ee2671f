package metrics

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestAlignLeavesOutNonFinite: NaN and ±Inf points (Prometheus returns
// them) are left out of the buckets, with a caveat, so that the figures
// stay numbers.
func TestAlignLeavesOutNonFinite(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	s := &Series{Metric: CPU, Period: time.Second}
	for i, v := range []float64{10, math.NaN(), 20, math.Inf(1), 30, math.Inf(-1)} {
		s.Points = append(s.Points, Point{T: t0.Add(time.Duration(i) * time.Second), V: v})
	}
	a := AlignWindow(s, Window{Start: t0, End: t0.Add(6 * time.Second)}, time.Second, 1, 0)
	st := Summarize(a.Points())
	if st.N != 3 || st.Mean != 20 || st.Max != 30 {
		t.Errorf("stats %+v, want 3 points, mean 20, max 30", st)
	}
	for _, v := range a.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("aligned value %v", v)
		}
	}
	if len(a.Caveats) != 1 || !strings.Contains(a.Caveats[0], "3 of the source's 6 points were NaN or ±Inf") {
		t.Errorf("caveats %q", a.Caveats)
	}
}
