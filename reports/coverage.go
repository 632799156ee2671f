package reports

import (
	"fmt"

	"github.com/pgrehearse/pgrehearse/compare"
)

// coverageNotes says what of the workload the results do not cover, and
// what the replay changed or met on its way: refused connections,
// interruptions, named statements sent unnamed.
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
	if f.InterruptedStatements > 0 {
		notes = append(notes, fmt.Sprintf("%s statements were cut short by the end of the replay (Ctrl-C): not counted as errors.", num(f.InterruptedStatements)))
	}
	if f.Unnamed > 0 {
		notes = append(notes, fmt.Sprintf("Protocol change: %s named prepared statements were sent unnamed (replay --unnamed, for a transaction pooler), so the candidate planned each one afresh where production reused a prepared plan.", num(f.Unnamed)))
	}
	return notes
}
