package reports

import (
	"fmt"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
)

// coverageNotes says what of the workload the results do not cover, and
// what the replay changed or met on its way: refused connections, a lost
// target, interruptions, named statements sent unnamed.
func coverageNotes(f compare.Fidelity) []string {
	var notes []string
	for _, why := range f.Incomplete {
		notes = append(notes, "Not covered: "+why+".")
	}
	if f.ResultStatements != f.Statements {
		notes = append(notes, fmt.Sprintf("The results hold %s of the workload's %s statements.", num(f.ResultStatements), num(f.Statements)))
	}
	if f.RefusedConnections > 0 {
		limit := "its max_connections"
		if f.TargetMaxConnections > 0 {
			limit = fmt.Sprintf("max_connections = %d", f.TargetMaxConnections)
		}
		notes = append(notes, fmt.Sprintf("The candidate (%s) refused %s sessions with 53300 (too many connections); the workload peaks at %s concurrent sessions.", limit, num(f.RefusedConnections), num(f.PeakSessions)))
	}
	if f.TargetUnreachableSince != "" {
		notes = append(notes, fmt.Sprintf("Lost to the outage: the target stayed unreachable since %s; %s statements failed for want of a connection after their session's last answer from it, and are counted apart, not as errors of the candidate.", when(f.TargetUnreachableSince), num(f.LostToOutage)))
	}
	if f.InterruptedStatements > 0 {
		why := "Ctrl-C"
		if f.TargetUnreachableSince != "" {
			why = "stopped when the target was lost"
		}
		notes = append(notes, fmt.Sprintf("%s statements were cut short by the end of the replay (%s): not counted as errors.", num(f.InterruptedStatements), why))
	}
	if f.Unnamed > 0 {
		notes = append(notes, fmt.Sprintf("Protocol change: %s named prepared statements were sent unnamed (replay --unnamed, for a transaction pooler), so the candidate planned each one afresh where production reused a prepared plan.", num(f.Unnamed)))
	}
	return notes
}

// when is an RFC 3339 time to the second, as written if it can not be
// read.
func when(rfc3339 string) string {
	if t, err := time.Parse(time.RFC3339Nano, rfc3339); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return rfc3339
}
