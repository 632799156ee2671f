package compare

import (
	"fmt"
	"strings"
	"time"
)

// A lost target: a replay that stopped because no connection could be
// made to the target for --unreachable-after (the results' trailer says
// since when) is INCONCLUSIVE: what it did not run was never measured,
// and the statements that failed for want of a connection are the
// outage's, counted apart (errors.go). Only a gate the outage can not
// have made fail still makes it NO-GO: one on the errors, which leave
// the outage's out, so an error before the outage counts as it always
// does. Latency, lateness, cluster metrics and divergence were measured
// across the outage.

// outageProof reports whether a failed gate stands when the target was
// lost.
func outageProof(g GateResult) bool { return strings.HasPrefix(g.Name, "errors.") }

// splitOutage parts failed gates into those that stand with the target
// lost and those measured across the outage.
func splitOutage(failed []GateResult) (stand, across []GateResult) {
	for _, g := range failed {
		if outageProof(g) {
			stand = append(stand, g)
		} else {
			across = append(across, g)
		}
	}
	return stand, across
}

// targetLost says in words what the outage did to the replay.
func (c *Comparison) targetLost() string {
	f := &c.Fidelity
	since := f.TargetUnreachableSince
	if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
		since = t.UTC().Format(time.RFC3339)
	}
	notRun := max(f.Statements-f.ResultStatements, 0)
	return fmt.Sprintf("the target stayed unreachable since %s and the replay stopped there: %d of the workload's %d statements were not run, and %d failed for want of a connection after it was lost (counted apart as lost to the outage, not as errors of the candidate)",
		since, notRun, f.Statements, f.LostToOutage)
}

// outageNext is what to do after a replay the target was lost in.
const outageNext = "find out why the target went away (its server log, a restart, a failover, the network) and replay the whole workload once it stays up; if it only comes back slowly, give it longer with replay --unreachable-after"

// targetLostVerdict makes the verdict INCONCLUSIVE for a lost target,
// naming the failed gates measured across the outage.
func (c *Comparison) targetLostVerdict(across []GateResult) {
	v := &c.Verdict
	v.Result, v.Reason = INCONCLUSIVE, c.targetLost()
	v.Next = append(v.Next, outageNext)
	if len(across) > 0 {
		var names []string
		for _, g := range across {
			names = append(names, g.Expr)
		}
		v.Next = append(v.Next, fmt.Sprintf("the failed %s (%s) measured the replay across the outage: judge %s on a replay the target stays up for",
			plural(len(names), "gate", "gates"), strings.Join(names, ", "), plural(len(names), "it", "them")))
	}
	if n := c.Errors.NewN; n > 0 {
		v.Next = append(v.Next, fmt.Sprintf("%d %s before the outage %s the candidate's own: look at %s (errors.new)", n, plural(int(n), "new error", "new errors"), plural(int(n), "is", "are"), plural(int(n), "it", "them")))
	}
}
