package compare

import (
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/replay"
)

// Judge evaluates gates (the defaults when there are none) against the
// comparison and sets the verdict. Default gates on metrics no source
// provides are left out rather than made inconclusive; gates that were
// asked for are always kept.
func (c *Comparison) Judge(gates []Gate) {
	c.Gates, c.DefaultGates = nil, false
	if len(gates) == 0 {
		c.DefaultGates = true
		for _, expr := range DefaultGates {
			g, _ := ParseGate(expr)
			cand, _ := c.measure(g.Name)
			if cand == nil && c.metric(g.Name) == nil && !isReplayMeasure(g.Name) {
				continue
			}
			gates = append(gates, g)
		}
	}
	for _, g := range gates {
		cand, base := c.measure(g.Name)
		c.Gates = append(c.Gates, g.Evaluate(cand, base))
	}
	c.Verdict = Verdict{}
	c.decide()
}

func isReplayMeasure(name string) bool {
	_, ok := GateNames[name]
	return ok && (strings.HasPrefix(name, "replay.") || strings.HasPrefix(name, "errors.") || strings.HasPrefix(name, "latency."))
}

func (c *Comparison) metric(name string) *Metric {
	for i := range c.Metrics {
		if strings.HasPrefix(name, c.Metrics[i].Name+".") {
			return &c.Metrics[i]
		}
	}
	return nil
}

// measure returns the candidate's and the baseline's value of a gate's
// measure, nil where unknown.
func (c *Comparison) measure(name string) (cand, base *float64) {
	f := func(v float64) *float64 { return &v }
	fid := &c.Fidelity
	switch name {
	case "replay.lateness.p99":
		return f(fid.LatenessP99MS), nil
	case "replay.lateness.max":
		return f(fid.LatenessMaxMS), nil
	case "replay.late_share":
		return f(100 * fid.LateShare), nil
	case "replay.skipped":
		n := int64(0)
		for _, v := range fid.Skipped {
			n += v
		}
		return f(float64(n)), nil
	case "errors.new":
		return f(float64(c.Errors.NewN)), nil
	case "errors.total":
		return f(float64(c.Errors.Total)), nil
	case "errors.missing":
		return f(float64(c.Errors.MissingN)), nil
	case "latency.p50", "latency.p95", "latency.p99":
		get := func(p *Pcts) *float64 {
			if p == nil {
				return nil
			}
			switch name {
			case "latency.p50":
				return f(p.P50)
			case "latency.p95":
				return f(p.P95)
			}
			return f(p.P99)
		}
		return get(c.Latency.Candidate), get(c.Latency.Baseline)
	}
	m := c.metric(name)
	if m == nil {
		return nil, nil
	}
	stat := name[len(m.Name)+1:]
	get := func(st *metrics.Stats, a *metrics.Aligned) *float64 {
		if st == nil {
			return nil
		}
		switch stat {
		case "mean":
			return f(st.Mean)
		case "p95":
			return f(st.P95)
		case "p99":
			return f(metrics.Percentile(a.Points(), 99))
		case "max":
			return f(st.Max)
		}
		return nil
	}
	return get(m.Candidate, m.CandidateSeries), get(m.Baseline, m.BaselineSeries)
}

// decide sets the verdict: a failed gate is NO-GO; otherwise a replay
// that fell behind, or a gate that could not be evaluated, is
// INCONCLUSIVE; only then GO.
func (c *Comparison) decide() {
	v := &c.Verdict
	var failed []GateResult
	for _, g := range c.Gates {
		if g.Status == Fail {
			failed = append(failed, g)
		}
	}
	if len(failed) > 0 {
		g := failed[0]
		v.Result = NOGO
		v.Reason = fmt.Sprintf("gate %q failed: observed %s, threshold %s", g.Expr, fmtp(g.Observed), fmtp(g.Threshold))
		if len(failed) > 1 {
			v.Reason += fmt.Sprintf(" (and %d more failed gates)", len(failed)-1)
		}
		seen := map[string]bool{}
		for _, g := range failed {
			var next string
			switch {
			case g.Name == "errors.new" || g.Name == "errors.total":
				next = "look at the new errors: each is a statement that worked in production and fails on the candidate"
			case g.Name == "errors.missing":
				next = "look at the errors production had that the candidate did not: the replay diverged there, or the candidate behaves otherwise"
			case strings.HasPrefix(g.Name, "latency."):
				next = "look at the regressed queries, and EXPLAIN (ANALYZE, BUFFERS) them on both clusters"
			case strings.HasPrefix(g.Name, "replay.") && c.Fidelity.Bottleneck == replay.CauseLock:
				next = "statements started late because their sessions waited for locks on the candidate: see lock_waits in the replay fidelity section for who held them before trusting the other figures"
			case strings.HasPrefix(g.Name, "replay.") && c.Fidelity.Bottleneck == "target":
				next = "statements started late because their session's previous statement was still running on the candidate: the candidate is slower than production under this load; see the regressed queries"
			case strings.HasPrefix(g.Name, "replay."):
				next = "the replayer could not keep to the schedule: see the replay fidelity section before trusting the other figures"
			default:
				next = "look at the " + g.Name[:strings.IndexByte(g.Name, '.')] + " chart: is it a sustained rise or a spike, and does it start after the warm-up?"
			}
			if !seen[next] {
				seen[next] = true
				v.Next = append(v.Next, next)
			}
		}
		return
	}
	if c.Fidelity.BehindSchedule {
		v.Result, v.Reason = INCONCLUSIVE, "the replay fell behind schedule, so the candidate did not carry the production load"
		v.Next = append(v.Next, c.Fidelity.Diagnosis...)
		return
	}
	if c.Fidelity.Interrupted {
		v.Result, v.Reason = INCONCLUSIVE, "the replay was interrupted before the end of the workload"
		v.Next = append(v.Next, "replay the whole workload")
		return
	}
	for _, g := range c.Gates {
		if g.Status == Inconclusive {
			v.Result, v.Reason = INCONCLUSIVE, fmt.Sprintf("gate %q could not be evaluated: %s", g.Expr, g.Note)
			v.Next = append(v.Next, g.Note)
			return
		}
	}
	if len(c.Gates) == 0 {
		v.Result, v.Reason = INCONCLUSIVE, "no gate could be evaluated"
		return
	}
	v.Result, v.Reason = GO, fmt.Sprintf("all %d gates passed", len(c.Gates))
}
