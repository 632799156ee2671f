package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

func (c *Comparison) addMetrics(ctx context.Context, in Input) error {
	fid := &c.Fidelity
	base := c.fetchMetrics(ctx, in.Baseline, metrics.Window{Start: fid.CaptureStart, End: fid.CaptureEnd}, "baseline")
	cand := c.fetchMetrics(ctx, in.Candidate, metrics.Window{Start: fid.ReplayStart, End: fid.ReplayEnd}, "candidate")
	if base == nil && cand == nil {
		return nil
	}
	c.addWaits(base, cand)
	c.addServerQueries(base, cand, in.Top)
	warm := in.warmup(fid)
	for _, name := range metrics.Names() {
		var bs, cs *metrics.Series
		if base != nil {
			bs = base.Get(name)
		}
		if cand != nil {
			cs = cand.Get(name)
		}
		if bs == nil && cs == nil {
			continue
		}
		period := time.Duration(0)
		for _, s := range []*metrics.Series{bs, cs} {
			if s != nil {
				period = max(period, s.Period)
			}
		}
		m := Metric{Name: name, Unit: metrics.Unit(name), WarmupS: warm.Seconds()}
		if bs != nil {
			a := metrics.AlignWindow(bs, metrics.Window{Start: fid.CaptureStart, End: fid.CaptureEnd}, period, 1, warm)
			st := metrics.Summarize(a.Points())
			m.BaselineSeries, m.BaselineSource, m.Caveats = &a, bs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Baseline = &st
			}
		}
		if cs != nil {
			a := metrics.AlignWindow(cs, metrics.Window{Start: fid.ReplayStart, End: fid.ReplayEnd}, period, fid.Speed, warm)
			st := metrics.Summarize(a.Points())
			m.CandidateSeries, m.CandidateSource, m.Caveats = &a, cs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Candidate = &st
			}
		}
		m.Caveats = dedupe(append(m.Caveats, periodCaveats(&m)...))
		c.Metrics = append(c.Metrics, m)
	}
	return nil
}

// fetchMetrics fetches one side's metrics for its window; a source that
// fails or warns becomes a warning, and nil without a source or on error.
func (c *Comparison) fetchMetrics(ctx context.Context, src metrics.Source, w metrics.Window, side string) *metrics.Set {
	if src == nil {
		return nil
	}
	set, err := src.Fetch(ctx, w)
	if err != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s metrics (%s): %v", side, src, err))
		return nil
	}
	for _, w := range set.Warnings {
		c.Warnings = append(c.Warnings, side+": "+w)
	}
	return set
}

// warmup is how much of each series' start is left out of the figures:
// --warmup, or by default a tenth of the capture, at most a minute.
func (in Input) warmup(fid *Fidelity) time.Duration {
	if in.Warmup >= 0 {
		return in.Warmup
	}
	return min(time.Minute, time.Duration(fid.OriginalS*float64(time.Second)/10))
}

// dedupe drops repeated strings, keeping the first of each: both sides
// often carry the same caveat.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
