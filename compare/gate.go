package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// A gate is one launch condition, written as
//
//	NAME OP THRESHOLD
//
// NAME is a measure of the candidate: a metric and a statistic
// (cpu.p95, replica_lag.max, latency.p99, errors.new,
// replay.lateness.p99; see Measures). OP is one of < <= > >= == !=.
// THRESHOLD is a number, optionally with a unit (700ms, 1s, 80%), or the
// same measure of the baseline scaled or shifted: baseline, baseline * 1.10,
// baseline + 50ms, or of the control (a copy of the baseline the same
// workload was replayed onto): control * 1.2. Times are compared in
// milliseconds, percentages as numbers (80% is 80).
//
//	cpu.p95 < 80
//	cpu.p95 <= baseline * 1.10
//	replica_lag.max < 700ms
//	latency.p99 <= baseline * 1.25
//	errors.new == 0
//	replay.lateness.p99 < 100ms
type Gate struct {
	// Expr is the gate as written.
	Expr string `json:"expr"`
	Name string `json:"name"`
	Op   string `json:"op"`
	// Value is the threshold; with Baseline set it is the factor (Mul)
	// or the offset (Add) applied to the baseline's value.
	Value    float64 `json:"value"`
	Baseline string  `json:"baseline,omitempty"` // "", "*" or "+"
	// Against is "control" when the threshold is the control's value,
	// "" for the baseline's.
	Against string `json:"against,omitempty"`
}

// GateError is a mistake in a gate expression, with its position.
type GateError struct {
	Expr string
	Pos  int // byte offset in Expr
	Msg  string
}

func (e *GateError) Error() string {
	return fmt.Sprintf("gate %q: %s at column %d\n  %s\n  %s^", e.Expr, e.Msg, e.Pos+1, e.Expr, strings.Repeat(" ", e.Pos))
}

// ParseGate reads one gate expression.
func ParseGate(expr string) (Gate, error) {
	g := Gate{Expr: strings.TrimSpace(expr)}
	p := &lexer{s: expr}
	p.space()
	start := p.i
	for p.i < len(p.s) && (isIdent(rune(p.s[p.i])) || p.s[p.i] == '.') {
		p.i++
	}
	g.Name = p.s[start:p.i]
	if g.Name == "" {
		return g, &GateError{expr, start, "want a measure name such as cpu.p95"}
	}
	if !IsMeasure(g.Name) {
		return g, &GateError{expr, start, fmt.Sprintf("unknown measure %q (known: %s)", g.Name, knownNames())}
	}
	p.space()
	opPos := p.i
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			g.Op = op
			p.i += len(op)
			break
		}
	}
	if g.Op == "" {
		return g, &GateError{expr, opPos, "want a comparison: < <= > >= == !="}
	}
	p.space()
	against := ""
	for _, w := range []string{"baseline", "control"} {
		if strings.HasPrefix(p.s[p.i:], w) {
			against = w
		}
	}
	if against != "" {
		p.i += len(against)
		if against == "control" {
			g.Against = "control"
		}
		p.space()
		g.Value = 1
		g.Baseline = "*"
		if p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '+') {
			g.Baseline = string(p.s[p.i])
			p.i++
			p.space()
			v, err := p.number(g.Name)
			if err != nil {
				return g, err
			}
			g.Value = v
		}
	} else {
		v, err := p.number(g.Name)
		if err != nil {
			return g, err
		}
		g.Value = v
	}
	p.space()
	if p.i != len(p.s) {
		return g, &GateError{expr, p.i, "unexpected text after the threshold"}
	}
	return g, nil
}

type lexer struct {
	s string
	i int
}

func (p *lexer) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' || p.i < len(p.s) && p.s[p.i] == '\t' {
		p.i++
	}
}

func isIdent(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// number reads a number with an optional unit: ms, s, m (minutes) for
// times (converted to ms), % for percentages.
func (p *lexer) number(name string) (float64, error) {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.' || p.s[p.i] == '-' && p.i == start) {
		p.i++
	}
	v, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil {
		return 0, &GateError{p.s, start, "want a number"}
	}
	ustart := p.i
	for p.i < len(p.s) && (unicode.IsLetter(rune(p.s[p.i])) || p.s[p.i] == '%') {
		p.i++
	}
	unit := p.s[ustart:p.i]
	var mu measureUnit
	if m := measureTable[name]; m != nil {
		mu = m.unit
	}
	timed := mu == unitTime
	switch unit {
	case "":
	case "ms":
		if !timed {
			return 0, &GateError{p.s, ustart, fmt.Sprintf("%s is not a time: drop the unit", name)}
		}
	case "s":
		if !timed {
			return 0, &GateError{p.s, ustart, fmt.Sprintf("%s is not a time: drop the unit", name)}
		}
		v *= 1000
	case "%":
		if mu != unitPercent {
			return 0, &GateError{p.s, ustart, fmt.Sprintf("%s is not a percentage", name)}
		}
	default:
		return 0, &GateError{p.s, ustart, fmt.Sprintf("unknown unit %q (use ms, s or %%)", unit)}
	}
	return v, nil
}

// GateStatus is a gate's outcome.
type GateStatus string

// Gate outcomes.
const (
	Pass         GateStatus = "pass"
	Fail         GateStatus = "fail"
	Inconclusive GateStatus = "inconclusive"
)

// GateResult is a gate evaluated.
type GateResult struct {
	Gate
	Observed  *float64   `json:"observed"`
	Threshold *float64   `json:"threshold"`
	Status    GateStatus `json:"status"`
	Note      string     `json:"note,omitempty"`
}

// Evaluate checks g against the candidate's and the baseline's values of
// its measure (nil: not available). A gate on a missing value is
// inconclusive, never a pass.
func (g Gate) Evaluate(candidate, baseline *float64) GateResult {
	r := GateResult{Gate: g, Observed: candidate}
	if candidate == nil {
		r.Status, r.Note = Inconclusive, "the candidate's "+g.Name+" is not available: give a metric source that has it"
		return r
	}
	if !finite(*candidate) {
		// NaN fails every comparison but != (and JSON has no NaN).
		r.Observed = nil
		r.Status, r.Note = Inconclusive, fmt.Sprintf("the candidate's %s is %v, not a value a gate can judge: its source returned no number there", g.Name, *candidate)
		return r
	}
	th := g.Value
	if g.Baseline != "" {
		if baseline == nil && g.Against == "control" {
			r.Status, r.Note = Inconclusive, "the control's "+g.Name+" is not available: give --control-results (and --control-metrics for cluster metrics)"
			return r
		}
		if baseline == nil {
			r.Status, r.Note = Inconclusive, "the baseline's "+g.Name+" is not available: give --baseline-metrics (or a log with durations, for latency)"
			return r
		}
		if g.Baseline == "*" {
			th = *baseline * g.Value
		} else {
			th = *baseline + g.Value
		}
		if !finite(th) {
			r.Status, r.Note = Inconclusive, fmt.Sprintf("the baseline's %s is %v, not a value a gate can judge: its source returned no number there", g.Name, *baseline)
			return r
		}
	}
	r.Threshold = &th
	ok := false
	switch g.Op {
	case "<":
		ok = *candidate < th
	case "<=":
		ok = *candidate <= th
	case ">":
		ok = *candidate > th
	case ">=":
		ok = *candidate >= th
	case "==":
		ok = *candidate == th
	case "!=":
		ok = *candidate != th
	}
	r.Status = Fail
	if ok {
		r.Status = Pass
	}
	return r
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
