package compare

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestReadComparison: a whole document reads back; one that is cut,
// edited or missing its verdict or gates is refused with the reason.
func TestReadComparison(t *testing.T) {
	g, _ := ParseGate("errors.new == 0")
	zero := 0.0
	whole := Comparison{Format: "pgrehearse-comparison", Version: FormatVersion, Generated: "2026-11-22T12:00:00Z",
		Verdict: Verdict{Result: GO, Reason: "all 1 gates passed"},
		Gates:   []GateResult{{Gate: g, Observed: &zero, Threshold: &zero, Status: Pass}}}
	raw, _ := json.Marshal(whole)
	if _, err := ReadComparison(raw); err != nil {
		t.Fatalf("a whole document: %v", err)
	}
	edit := func(f func(c *Comparison)) []byte {
		c := whole
		c.Gates = append([]GateResult(nil), whole.Gates...)
		f(&c)
		b, _ := json.Marshal(c)
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"cut short", raw[:len(raw)/2], "unexpected end"},
		{"only a header", []byte(`{"format":"pgrehearse-comparison","version":1}`), "generated"},
		{"no gates, GO", edit(func(c *Comparison) { c.Gates = nil }), "verdict GO, but 0 of 0"},
		{"no verdict", edit(func(c *Comparison) { c.Verdict = Verdict{} }), "no verdict"},
		{"unknown verdict", edit(func(c *Comparison) { c.Verdict.Result = "MAYBE" }), "MAYBE"},
		{"GO with a failed gate", edit(func(c *Comparison) { c.Gates[0].Status = Fail }), "verdict GO, but 0 of 1"},
		{"NO-GO without a failed gate", edit(func(c *Comparison) { c.Verdict.Result = NOGO }), "no gate failed"},
		{"gate without status", edit(func(c *Comparison) { c.Gates[0].Status = "" }), "status"},
		{"gate without expression", edit(func(c *Comparison) { c.Gates[0].Expr = "" }), "no expression"},
		{"another document", []byte(`{"header":{"format":"pgrehearse-results"}}`), "format"},
		{"newer version", edit(func(c *Comparison) { c.Version = FormatVersion + 1 }), "upgrade"},
	}
	for _, tc := range tests {
		_, err := ReadComparison(tc.raw)
		if !errors.Is(err, ErrNotComparison) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	// INCONCLUSIVE without any gate is what compare writes when no gate
	// could be judged: whole.
	if _, err := ReadComparison(edit(func(c *Comparison) { c.Gates, c.Verdict.Result = nil, INCONCLUSIVE })); err != nil {
		t.Errorf("inconclusive without gates: %v", err)
	}
}
