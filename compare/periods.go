package compare

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// fewPeriods is the number of periods below which a side's statistics
// are said to rest on few values.
const fewPeriods = 30

// periodCaveats says, for a metric whose sides have few periods, how
// many each has and whether the source's period is coarser than the
// window (the figure then includes time outside it): a one-minute
// CloudWatch point is the whole story of a 37 s capture.
func periodCaveats(m *Metric) []string {
	var parts []string
	few := false
	for _, side := range []struct {
		name string
		a    *metrics.Aligned
	}{{"baseline", m.BaselineSeries}, {"candidate", m.CandidateSeries}} {
		a := side.a
		if a == nil || a.SourcePeriod <= 0 {
			continue
		}
		s := fmt.Sprintf("%s %d of %s", side.name, a.Periods, short(a.SourcePeriod))
		if a.Window > 0 && a.SourcePeriod > a.Window {
			s += fmt.Sprintf(" (longer than its %s window, so the figure includes time outside it)", short(a.Window))
		}
		parts = append(parts, s)
		few = few || a.Periods < fewPeriods
	}
	if !few {
		return nil
	}
	return []string{"few periods: " + strings.Join(parts, ", ") + ": mean, p95 and max are of that many values"}
}

// short formats a duration without trailing zero units: 1m, 37s, 1m30s.
func short(d time.Duration) string {
	if d < time.Second {
		// Enhanced Monitoring and the sampler go below a second.
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
