package compare

import (
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// Judge evaluates gates (the defaults when there are none) against the
// comparison and sets the verdict. Default gates on metrics no source
// provides are left out rather than made inconclusive; gates that were
// asked for are always kept.
func (c *Comparison) Judge(gates []Gate) {
	c.Gates, c.DefaultGates, c.DefaultGatesBasis = nil, false, ""
	if len(gates) == 0 {
		c.DefaultGates = true
		gates = c.defaultGates()
	}
	for _, g := range gates {
		cand, base := c.measure(g.Name)
		if g.Against == "control" {
			cand, base = c.measureControl(g.Name)
		}
		r := g.Evaluate(cand, base)
		if cand == nil && strings.HasPrefix(g.Name, "divergence.") {
			r.Note = "divergence needs a control: replay with --control, then give compare --control-results"
			if c.Divergence != nil {
				r.Note = "the results have no checksums of the returned rows: replay with --checksums"
			}
		}
		c.Gates = append(c.Gates, r)
	}
	c.Verdict = Verdict{}
	c.decide()
}

// DefaultGates are used when none are given. Gates on metrics no source
// provides are left out rather than made inconclusive.
var DefaultGates = []string{
	"errors.new == 0",
	"replay.lateness.p99 < 100ms",
	"latency.p99 <= baseline * 1.25",
	"cpu.p95 < 80",
	"cpu.p95 <= baseline * 1.25",
	"replica_lag.max < 1s",
	"db_load.p95 <= baseline * 1.2",
}

// controlDefaultGates replace default gates when a control was replayed:
// latency and CPU are judged against the control, which carried the same
// replay, rather than against production.
var controlDefaultGates = map[string]string{
	"latency.p99 <= baseline * 1.25": "latency.p99 <= control * 1.25",
	"cpu.p95 <= baseline * 1.25":     "cpu.p95 <= control * 1.25",
}

// DivergenceDefaultGates are added to the defaults with a control: the
// candidate must return what the control returns.
var DivergenceDefaultGates = []string{"divergence.rows == 0", "divergence.results == 0"}

// defaultGates are the default gates this comparison can judge.
func (c *Comparison) defaultGates() []Gate {
	var gates []Gate
	var vsControl, vsBaseline []string
	for _, expr := range DefaultGates {
		g, _ := ParseGate(expr)
		if alt, ok := controlDefaultGates[expr]; ok && c.Control != nil {
			ga, _ := ParseGate(alt)
			if cand, ctl := c.measureControl(ga.Name); cand != nil && ctl != nil {
				g = ga
				vsControl = append(vsControl, ga.Name)
			} else {
				vsBaseline = append(vsBaseline, g.Name)
			}
		}
		cand, _ := c.measure(g.Name)
		if cand == nil && c.metric(g.Name) == nil && !isReplayMeasure(g.Name) {
			continue
		}
		gates = append(gates, g)
	}
	if c.Control == nil {
		return gates
	}
	for _, expr := range DivergenceDefaultGates {
		g, _ := ParseGate(expr)
		gates = append(gates, g)
	}
	switch {
	case len(vsControl) > 0 && len(vsBaseline) == 0:
		c.DefaultGatesBasis = "with a control, the default latency and CPU gates compare the candidate with the control (the same replay on a copy of the baseline), not with production"
	case len(vsControl) > 0:
		c.DefaultGatesBasis = fmt.Sprintf("with a control, the default gates on %s compare the candidate with the control, not with production; %s against production, the control having no figure for it",
			strings.Join(vsControl, ", "), strings.Join(vsBaseline, ", "))
	default:
		c.DefaultGatesBasis = "the control has no figures for the default latency and CPU gates (give --control-metrics), so they compare the candidate with production"
	}
	return gates
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
	if m := measureTable[name]; m != nil {
		return m.read(c)
	}
	return c.metricValues(name, false)
}

// measureControl returns the candidate's and the control's value of a
// gate's measure, measured alike on both: latency client-side by the same
// replayer, cluster metrics over each one's replay window.
func (c *Comparison) measureControl(name string) (cand, ctl *float64) {
	if c.Control == nil {
		cand, _ = c.measure(name)
		return cand, nil
	}
	m := measureTable[name]
	switch {
	case m == nil:
		return c.metricValues(name, true)
	case m.control != nil:
		return m.control(c)
	}
	// The control has no figure of its own for it.
	cand, _ = m.read(c)
	return cand, nil
}

// metricValues returns the candidate's value of a cluster metric's
// statistic, and the baseline's (or with control the control's).
func (c *Comparison) metricValues(name string, control bool) (cand, other *float64) {
	m := c.metric(name)
	if m == nil {
		return nil, nil
	}
	stat := name[len(m.Name)+1:]
	if control {
		return statOf(m.Candidate, m.CandidateSeries, stat), statOf(m.Control, m.ControlSeries, stat)
	}
	return statOf(m.Candidate, m.CandidateSeries, stat), statOf(m.Baseline, m.BaselineSeries, stat)
}

// pctOf is latency.p50, .p95 or .p99 of p, nil without p.
func pctOf(p *Pcts, name string) *float64 {
	if p == nil {
		return nil
	}
	v := p.P99
	switch name {
	case "latency.p50":
		v = p.P50
	case "latency.p95":
		v = p.P95
	}
	return &v
}

// statOf is one statistic of a metric's side, nil without it.
func statOf(st *metrics.Stats, a *metrics.Aligned, stat string) *float64 {
	if st == nil {
		return nil
	}
	var v float64
	switch stat {
	case "mean":
		v = st.Mean
	case "p95":
		v = st.P95
	case "p99":
		v = metrics.Percentile(a.Points(), 99)
	case "max":
		v = st.Max
	default:
		return nil
	}
	return &v
}

// decide sets the verdict: a failed gate is NO-GO (with a lost target,
// only one on the errors: outage.go); otherwise a replay that fell
// behind, lost its target, or a gate that could not be evaluated, is
// INCONCLUSIVE; only then GO.
func (c *Comparison) decide() {
	if c.connectionsVerdict() {
		return
	}
	v := &c.Verdict
	var failed []GateResult
	for _, g := range c.Gates {
		if g.Status == Fail {
			failed = append(failed, g)
		}
	}
	lost := c.Fidelity.TargetUnreachableSince != ""
	if lost {
		var across []GateResult
		if failed, across = splitOutage(failed); len(failed) == 0 {
			c.targetLostVerdict(across)
			return
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
			next := c.nextStep(g)
			if !seen[next] {
				seen[next] = true
				v.Next = append(v.Next, next)
			}
		}
		if lost {
			v.Next = append(v.Next, c.targetLost()+": "+outageNext)
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
	if c.coverageVerdict() {
		return
	}
	if ctl := c.Control; ctl != nil && (ctl.Fidelity.BehindSchedule || ctl.Fidelity.Interrupted) {
		v.Result, v.Reason = INCONCLUSIVE, "the control's replay fell behind schedule or was interrupted, so the figures against it do not hold"
		v.Next = append(v.Next, ctl.Fidelity.Diagnosis...)
		v.Next = append(v.Next, "replay the whole workload onto the control too, on a replayer that keeps up with both (or with --control-after)")
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
