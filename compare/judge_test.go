package compare

import (
	"strings"
	"testing"
)

func TestJudgeControl(t *testing.T) {
	gate := func(expr string) []Gate {
		g, err := ParseGate(expr)
		if err != nil {
			t.Fatal(err)
		}
		return []Gate{g}
	}
	// Divergence needs a control, and checksums for results.
	var c Comparison
	c.Judge(gate("divergence.rows == 0"))
	if g := c.Gates[0]; g.Status != Inconclusive || !strings.Contains(g.Note, "needs a control") || c.Verdict.Result != INCONCLUSIVE {
		t.Errorf("without a control: %+v, %+v", g, c.Verdict)
	}
	c.Divergence = &Divergence{Rows: 0, Results: 4}
	c.Judge(gate("divergence.results == 0"))
	if g := c.Gates[0]; g.Status != Inconclusive || !strings.Contains(g.Note, "no checksums") {
		t.Errorf("without checksums: %+v", g)
	}
	c.Divergence.Checksums = true
	c.Judge(gate("divergence.results == 0"))
	if g := c.Gates[0]; g.Status != Fail || *g.Observed != 4 || c.Verdict.Result != NOGO || !strings.Contains(strings.Join(c.Verdict.Next, " "), "divergence section") {
		t.Errorf("with checksums: %+v, %+v", g, c.Verdict)
	}
	// A control that fell behind makes the figures against it doubtful.
	c.Control = &Control{Fidelity: ControlFidelity{BehindSchedule: true, Diagnosis: []string{"the control was slow"}}}
	c.Judge(gate("errors.new == 0"))
	if c.Verdict.Result != INCONCLUSIVE || !strings.Contains(c.Verdict.Reason, "control's replay") || c.Verdict.Next[0] != "the control was slow" {
		t.Errorf("control behind: %+v", c.Verdict)
	}
	// A gate against the control without its figure says what to give.
	c.Control.Fidelity.BehindSchedule = false
	c.Judge(gate("cpu.p95 <= control * 1.1"))
	if g := c.Gates[0]; g.Status != Inconclusive || !strings.Contains(g.Note, "give a metric source") {
		t.Errorf("no candidate cpu: %+v", g)
	}
	c.Latency.Candidate = &Pcts{P99: 3}
	c.Control.Latency.Candidate = &Pcts{P99: 2}
	c.Judge(gate("latency.p99 <= control * 1.2"))
	if g := c.Gates[0]; g.Status != Inconclusive || !strings.Contains(g.Note, "the control's latency.p99") || *g.Observed != 2 {
		t.Errorf("latency against a control without latency: %+v", g)
	}
}

// TestNewErrorsOfOrder: new errors of the kind a replay out of
// production's order invents point to --sync objects, unless the replay
// already kept that order.
func TestNewErrorsOfOrder(t *testing.T) {
	g, err := ParseGate("errors.new == 0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		sqlstate string
		sync     *SyncFidelity
		hint     bool
	}{
		{"deadlock, no sync", "40P01", nil, true},
		{"duplicate key, sync off", "23505", &SyncFidelity{Mode: "off"}, true},
		{"deadlock with sync objects", "40P01", &SyncFidelity{Mode: "objects"}, false},
		{"undefined table", "42P01", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Comparison
			c.Errors.New = []ErrorCount{{SQLState: tc.sqlstate, Count: 1}}
			c.Errors.NewN = 1
			c.Fidelity.Sync = tc.sync
			c.Judge([]Gate{g})
			next := strings.Join(c.Verdict.Next, " ")
			if c.Verdict.Result != NOGO || strings.Contains(next, "--sync objects") != tc.hint {
				t.Errorf("verdict %s, next %q: want the --sync hint %v", c.Verdict.Result, next, tc.hint)
			}
		})
	}
}
