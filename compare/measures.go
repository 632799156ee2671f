package compare

import (
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/replay"
)

// gateMeasure is one quantity a gate may name: the one place that says
// what it is, how its thresholds are written, whether a default gate on it
// stands without a metric source, how to read it from a comparison, and
// what to look at when a gate on it fails. Adding a measure is adding a
// row to replayMeasures or a metric to clusterGateMetrics.
type gateMeasure struct {
	name string
	help string
	unit measureUnit
	// replay is set for measures the replay itself gives (its timing,
	// errors, latency, divergence): a default gate on one is kept even
	// without a metric source.
	replay bool
	// naming is how the unknown-measure error names it.
	naming naming
	// read returns the candidate's and the baseline's value, nil where
	// unknown.
	read func(c *Comparison) (cand, base *float64)
	// control returns the candidate's and the control's value, measured
	// alike on both; nil when the control has no figure of its own (the
	// candidate's value is then read alone).
	control func(c *Comparison) (cand, ctl *float64)
	// next says what to look at when a gate on the measure fails.
	next func(c *Comparison, g GateResult) string
}

// measureUnit is what a threshold may be written in.
type measureUnit int

const (
	unitNone    measureUnit = iota // a plain number
	unitTime                       // milliseconds: ms or s
	unitPercent                    // percent: %
)

// naming is how the unknown-measure error names a measure.
type naming int

const (
	namedEach  naming = iota // by its full name
	namedGroup               // with its metric, in the list of metrics with .mean/.p95/.p99/.max
	namedNot                 // not at all: rarely gated on
)

// replayMeasures are the measures the replay and the comparison give.
var replayMeasures = []gateMeasure{
	{name: "replay.lateness.p99", help: "99th percentile of how late statements started (ms)", unit: unitTime,
		read: fidelityValue(func(f *Fidelity) float64 { return f.LatenessP99MS }), next: nextReplay},
	{name: "replay.lateness.max", help: "latest start (ms)", unit: unitTime,
		read: fidelityValue(func(f *Fidelity) float64 { return f.LatenessMaxMS }), next: nextReplay},
	{name: "replay.late_share", help: "share of statements more than 100 ms late (%)", unit: unitPercent,
		read: fidelityValue(func(f *Fidelity) float64 { return 100 * f.LateShare }), next: nextReplay},
	{name: "replay.skipped", help: "statements not replayed",
		read: fidelityValue(func(f *Fidelity) float64 {
			n := int64(0)
			for _, v := range f.Skipped {
				n += v
			}
			return float64(n)
		}), next: nextReplay},
	{name: "errors.new", help: "statements that failed on the candidate but not in production",
		read: errorsValue(func(e *Errors) int64 { return e.NewN }), next: nextNew},
	{name: "errors.total", help: "statements that failed on the candidate",
		read: errorsValue(func(e *Errors) int64 { return e.Total }), next: nextNew},
	{name: "errors.missing", help: "statements that failed in production but not on the candidate",
		read: errorsValue(func(e *Errors) int64 { return e.MissingN }),
		next: say("look at the errors production had that the candidate did not: the replay diverged there, or the candidate behaves otherwise")},
	latencyMeasure("latency.p50", "median statement latency (ms)"),
	latencyMeasure("latency.p95", "95th percentile statement latency (ms)"),
	latencyMeasure("latency.p99", "99th percentile statement latency (ms)"),
	{name: "divergence.rows", help: "statements that returned or affected another number of rows than on the control",
		read: divergenceValue(false, func(d *Divergence) int64 { return d.Rows }), next: say(nextDivergence)},
	{name: "divergence.results", help: "statements that returned other rows than on the control (or the same rows in another order under ORDER BY)",
		read: divergenceValue(true, func(d *Divergence) int64 { return d.Results }), next: say(nextDivergence)},
	{name: "divergence.errors", help: "statements that failed otherwise than on the control (one failed, or another SQLSTATE)",
		read: divergenceValue(false, func(d *Divergence) int64 { return d.Errors }), next: say(nextDivergence)},
}

// clusterGateMetrics are the cluster metrics a gate may name with one of
// metricStats, and how the unknown-measure error names them (in this
// order). Their units are metrics.Unit's.
var clusterGateMetrics = []struct {
	metric string
	naming naming
}{
	{metrics.CPU, namedEach}, {metrics.ReplicaLag, namedEach}, {metrics.DBLoad, namedEach},
	{metrics.ReadIOPS, namedGroup}, {metrics.WriteIOPS, namedGroup},
	{metrics.VolumeReadIOPS, namedGroup}, {metrics.VolumeWriteIOPS, namedGroup},
	{metrics.DBLoadCPU, namedGroup}, {metrics.DBLoadNonCPU, namedGroup},
	{metrics.Commits, namedGroup}, {metrics.Connections, namedGroup},
	{metrics.ReadLatency, namedNot}, {metrics.WriteLatency, namedNot}, {metrics.FreeableMemory, namedNot},
}

// metricStats are the statistics of a cluster metric a gate may name.
var metricStats = []string{"mean", "p95", "p99", "max"}

// measureTable is every measure, by name.
var measureTable = buildMeasures()

func buildMeasures() map[string]*gateMeasure {
	t := map[string]*gateMeasure{}
	for i := range replayMeasures {
		m := &replayMeasures[i]
		m.replay = true
		t[m.name] = m
	}
	for _, cm := range clusterGateMetrics {
		unit := unitNone
		switch metrics.Unit(cm.metric) {
		case "ms":
			unit = unitTime
		case "%":
			unit = unitPercent
		}
		for _, st := range metricStats {
			name := cm.metric + "." + st
			t[name] = &gateMeasure{name: name, help: st + " of " + cm.metric + " over the window", unit: unit, naming: cm.naming,
				read:    func(c *Comparison) (cand, base *float64) { return c.metricValues(name, false) },
				control: func(c *Comparison) (cand, ctl *float64) { return c.metricValues(name, true) }}
		}
	}
	return t
}

// MeasureInfo is a measure a gate may name, with what it is.
type MeasureInfo struct {
	Name, Help string
}

// Measures lists the measures a gate may name, sorted by name.
func Measures() []MeasureInfo {
	out := make([]MeasureInfo, 0, len(measureTable))
	for _, m := range measureTable {
		out = append(out, MeasureInfo{m.name, m.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// IsMeasure reports whether a gate may name name.
func IsMeasure(name string) bool { return measureTable[name] != nil }

// MeasureHelp says what the measure name is, "" for an unknown one.
func MeasureHelp(name string) string {
	if m := measureTable[name]; m != nil {
		return m.help
	}
	return ""
}

// knownNames lists the measures for the unknown-measure error: the common
// ones by name, the others by their metric.
func knownNames() string {
	var ns []string
	for _, m := range measureTable {
		if m.naming == namedEach {
			ns = append(ns, m.name)
		}
	}
	sort.Strings(ns)
	var group []string
	for _, cm := range clusterGateMetrics {
		if cm.naming == namedGroup {
			group = append(group, cm.metric)
		}
	}
	return strings.Join(ns, ", ") + ", and " + strings.Join(group, "/") + " with ." + strings.Join(metricStats, "/.")
}

func isReplayMeasure(name string) bool {
	m := measureTable[name]
	return m != nil && m.replay
}

func fidelityValue(v func(*Fidelity) float64) func(*Comparison) (*float64, *float64) {
	return func(c *Comparison) (*float64, *float64) { return ptr(v(&c.Fidelity)), nil }
}

func errorsValue(v func(*Errors) int64) func(*Comparison) (*float64, *float64) {
	return func(c *Comparison) (*float64, *float64) { return ptr(float64(v(&c.Errors))), nil }
}

// divergenceValue reads a count of the divergence from the control; nil
// without a control, or without checksums for what needs them.
func divergenceValue(checksums bool, v func(*Divergence) int64) func(*Comparison) (*float64, *float64) {
	return func(c *Comparison) (*float64, *float64) {
		d := c.Divergence
		if d == nil || checksums && !d.Checksums {
			return nil, nil
		}
		return ptr(float64(v(d))), nil
	}
}

func latencyMeasure(name, help string) gateMeasure {
	return gateMeasure{name: name, help: help, unit: unitTime,
		read: func(c *Comparison) (*float64, *float64) {
			return pctOf(c.Latency.Candidate, name), pctOf(c.Latency.Baseline, name)
		},
		control: func(c *Comparison) (*float64, *float64) {
			return pctOf(c.Control.Latency.Candidate, name), pctOf(c.Control.Latency.Control, name)
		},
		next: nextLatency}
}

func ptr(v float64) *float64 { return &v }

const nextNewErrors = "look at the new errors: each is a statement that worked in production and fails on the candidate"

// orderErrors are the SQLSTATEs a replay out of production's commit
// order invents: deadlocks, serialization failures, lock timeouts,
// duplicate keys and the aborted transactions after them.
var orderErrors = map[string]bool{"40P01": true, "40001": true, "55P03": true, "23505": true, "25P02": true}

// nextNew adds, when the new errors are of the kind a replay out of
// production's order makes and the replay did not keep that order, how
// to tell: replay again with --sync objects.
func nextNew(c *Comparison, _ GateResult) string {
	if y := c.Fidelity.Sync; y != nil && y.Mode != string(replay.SyncOff) {
		return nextNewErrors
	}
	for _, e := range c.Errors.New {
		if orderErrors[e.SQLState] {
			return nextNewErrors + "; deadlocks, serialization failures and duplicate keys production did not have can come from sessions taking their locks in another order than production's: replay again with --sync objects, which keeps production's commit order between sessions that touch the same rows, and see whether they remain"
		}
	}
	return nextNewErrors
}

func say(s string) func(*Comparison, GateResult) string {
	return func(*Comparison, GateResult) string { return s }
}

func nextLatency(_ *Comparison, g GateResult) string {
	if g.Against == "control" {
		return "look at the queries regressed against the control, and EXPLAIN (ANALYZE, BUFFERS) them on both clusters"
	}
	return "look at the regressed queries, and EXPLAIN (ANALYZE, BUFFERS) them on both clusters"
}

func nextReplay(c *Comparison, _ GateResult) string {
	switch c.Fidelity.Bottleneck {
	case replay.CauseLock:
		return "statements started late because their sessions waited for locks on the candidate: see lock_waits in the replay fidelity section for who held them before trusting the other figures"
	case "target":
		return "statements started late because their session's previous statement was still running on the candidate: the candidate is slower than production under this load; see the regressed queries"
	}
	return "the replayer could not keep to the schedule: see the replay fidelity section before trusting the other figures"
}

const nextDivergence = "look at the divergence section: each is a statement the candidate answered otherwise than the control (a collation, a plan that returns ties or rows in another order, or a statement that raced other sessions' writes)"

// nextStep says what to look at when g failed.
func (c *Comparison) nextStep(g GateResult) string {
	if m := measureTable[g.Name]; m != nil && m.next != nil {
		return m.next(c, g)
	}
	return "look at the " + g.Name[:strings.IndexByte(g.Name, '.')] + " chart: is it a sustained rise or a spike, and does it start after the warm-up?"
}
