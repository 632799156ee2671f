package compare

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseGate(t *testing.T) {
	tests := []struct {
		in   string
		want Gate
	}{
		{"cpu.p95 < 80", Gate{Name: "cpu.p95", Op: "<", Value: 80}},
		{"cpu.p95 < 80%", Gate{Name: "cpu.p95", Op: "<", Value: 80}},
		{"cpu.p95 <= baseline * 1.10", Gate{Name: "cpu.p95", Op: "<=", Value: 1.10, Baseline: "*"}},
		{"replica_lag.max < 700ms", Gate{Name: "replica_lag.max", Op: "<", Value: 700}},
		{"replica_lag.p99 < 100ms", Gate{Name: "replica_lag.p99", Op: "<", Value: 100}},
		{"replica_lag.max<1s", Gate{Name: "replica_lag.max", Op: "<", Value: 1000}},
		{"latency.p99 <= baseline * 1.25", Gate{Name: "latency.p99", Op: "<=", Value: 1.25, Baseline: "*"}},
		{"latency.p99 <= baseline + 5ms", Gate{Name: "latency.p99", Op: "<=", Value: 5, Baseline: "+"}},
		{"latency.p50 <= baseline", Gate{Name: "latency.p50", Op: "<=", Value: 1, Baseline: "*"}},
		{"errors.new == 0", Gate{Name: "errors.new", Op: "==", Value: 0}},
		{"replay.lateness.p99 < 100ms", Gate{Name: "replay.lateness.p99", Op: "<", Value: 100}},
		{"  commits.mean >= baseline * 0.95 ", Gate{Name: "commits.mean", Op: ">=", Value: 0.95, Baseline: "*"}},
		{"latency.p99 <= control * 1.2", Gate{Name: "latency.p99", Op: "<=", Value: 1.2, Baseline: "*", Against: "control"}},
		{"cpu.p95 <= control", Gate{Name: "cpu.p95", Op: "<=", Value: 1, Baseline: "*", Against: "control"}},
		{"latency.p95 <= control + 2ms", Gate{Name: "latency.p95", Op: "<=", Value: 2, Baseline: "+", Against: "control"}},
		{"divergence.results == 0", Gate{Name: "divergence.results", Op: "==", Value: 0}},
		{"divergence.rows <= 3", Gate{Name: "divergence.rows", Op: "<=", Value: 3}},
		{"divergence.errors == 0", Gate{Name: "divergence.errors", Op: "==", Value: 0}},
	}
	for _, tt := range tests {
		got, err := ParseGate(tt.in)
		if err != nil {
			t.Errorf("ParseGate(%q): %v", tt.in, err)
			continue
		}
		tt.want.Expr = strings.TrimSpace(tt.in)
		if got != tt.want {
			t.Errorf("ParseGate(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseGateErrors(t *testing.T) {
	tests := []struct {
		in  string
		pos int
		msg string
	}{
		{"", 0, "measure name"},
		{"cpu.p96 < 80", 0, "unknown measure"},
		{"cpu.p95 ~ 80", 8, "comparison"},
		{"cpu.p95 < eighty", 10, "number"},
		{"cpu.p95 < 80ms", 12, "not a time"},
		{"errors.new == 0%", 15, "not a percentage"},
		{"replica_lag.max < 7 hours", 20, "unexpected text"},
		{"replica_lag.max < 7h", 19, "unknown unit"},
		{"latency.p99 <= baseline * x", 26, "number"},
		{"latency.p99 <= baseline 2", 24, "unexpected text"},
		{"latency.p99 <= controls * 2", 22, "unexpected text"},
		{"divergence.rows == 0ms", 20, "not a time"},
	}
	for _, tt := range tests {
		_, err := ParseGate(tt.in)
		ge, ok := err.(*GateError)
		if !ok {
			t.Errorf("ParseGate(%q) = %v, want a GateError", tt.in, err)
			continue
		}
		if ge.Pos != tt.pos || !strings.Contains(ge.Msg, tt.msg) {
			t.Errorf("ParseGate(%q): %q at %d, want %q at %d", tt.in, ge.Msg, ge.Pos, tt.msg, tt.pos)
		}
		if !strings.Contains(ge.Error(), "^") {
			t.Errorf("error does not point at the mistake: %s", ge.Error())
		}
	}
}

func TestEvaluate(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		gate      string
		cand, bas *float64
		want      GateStatus
	}{
		{"cpu.p95 < 80", f(79.9), nil, Pass},
		{"cpu.p95 < 80", f(80), nil, Fail},
		{"cpu.p95 < 80", nil, f(10), Inconclusive},
		{"cpu.p95 <= baseline * 1.10", f(55), f(50), Pass},
		{"cpu.p95 <= baseline * 1.10", f(55.1), f(50), Fail},
		{"cpu.p95 <= baseline * 1.10", f(55), nil, Inconclusive},
		{"latency.p99 <= baseline + 5ms", f(15), f(10), Pass},
		{"errors.new == 0", f(0), nil, Pass},
		{"errors.new == 0", f(1), nil, Fail},
		{"commits.mean >= baseline * 0.95", f(90), f(100), Fail},
	}
	for _, tt := range tests {
		g, err := ParseGate(tt.gate)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Evaluate(tt.cand, tt.bas); got.Status != tt.want {
			t.Errorf("%s with %v / %v: %s, want %s", tt.gate, tt.cand, tt.bas, got.Status, tt.want)
		}
	}
}

func FuzzParseGate(f *testing.F) {
	for _, s := range []string{"cpu.p95 < 80", "latency.p99 <= baseline * 1.25", "replica_lag.max < 700ms", "errors.new == 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGate(s)
		if err == nil {
			if !IsMeasure(g.Name) {
				t.Fatalf("accepted unknown measure %q", g.Name)
			}
		}
	})
}

// TestEvaluateNonFinite: a NaN or infinite value is no verdict on either
// side: the gate is inconclusive, never passed or failed, and the
// document stays JSON.
func TestEvaluateNonFinite(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		gate      string
		cand, bas *float64
	}{
		{"cpu.p95 < 80", f(math.NaN()), nil},
		{"cpu.p95 != 80", f(math.NaN()), nil},
		{"cpu.p95 < 80", f(math.Inf(1)), nil},
		{"cpu.p95 <= baseline * 1.10", f(50), f(math.NaN())},
		{"latency.p99 <= baseline + 5ms", f(15), f(math.Inf(-1))},
	} {
		g, err := ParseGate(tc.gate)
		if err != nil {
			t.Fatal(err)
		}
		r := g.Evaluate(tc.cand, tc.bas)
		if r.Status != Inconclusive || !strings.Contains(r.Note, "not a value a gate can judge") {
			t.Errorf("%s with %v / %v: %s (%s), want inconclusive", tc.gate, *tc.cand, tc.bas, r.Status, r.Note)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("%s: %v", tc.gate, err)
		}
	}
}
