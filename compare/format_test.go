package compare

import (
	"strings"
	"testing"
)

// TestVerdictNumbers: a verdict's reason prints counts as integers, not
// in exponent notation (96690 read 9.669e+04).
func TestVerdictNumbers(t *testing.T) {
	tests := []struct {
		observed, threshold float64
		want                string
	}{
		{96690, 0, "observed 96690, threshold 0"},
		{1234567, 1000000, "observed 1234567, threshold 1000000"},
		{812.345, 700, "observed 812.35, threshold 700"},
		{0.0123, 0.01, "observed 0.0123, threshold 0.01"},
	}
	for _, tc := range tests {
		g, err := ParseGate("errors.total == 0")
		if err != nil {
			t.Fatal(err)
		}
		c := &Comparison{Gates: []GateResult{{Gate: g, Status: Fail, Observed: &tc.observed, Threshold: &tc.threshold}}}
		c.decide()
		if !strings.Contains(c.Verdict.Reason, tc.want) || strings.Contains(c.Verdict.Reason, "e+") {
			t.Errorf("reason %q, want %q", c.Verdict.Reason, tc.want)
		}
	}
}
