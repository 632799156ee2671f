package reports

import (
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare"
)

// syncFidelity adds what replay --sync did to the replay fidelity
// section: a row for the waits, and notes for the statements that went on
// without what they waited for, and the sessions that waited longest.
func syncFidelity(f compare.Fidelity, fid *section) {
	s := f.Sync
	if s == nil || len(fid.tables) == 0 {
		return
	}
	t := &fid.tables[0]
	t.rows = append(t.rows, []string{"commit-order sync (--sync)", s.Mode, ""})
	if s.Mode != "off" {
		t.rows = append(t.rows,
			[]string{"statements that waited for others", fmt.Sprintf("%s, %s in all, longest %s", num(s.Waited), secs(s.WaitS), ms(s.MaxWaitMS)), ""},
			[]string{"went on without what they waited for", fmt.Sprintf("%s (bound %s, cycle %s)", num(s.OutOfOrder()), num(s.TimedOut), num(s.Cycles)), ""})
	}
	if s.TimedOut > 0 {
		fid.notes = append(fid.notes, fmt.Sprintf("%s statements waited for another session as long as the bound allows and went on: those sessions were far behind on the target, and their locks may have been taken in another order than production's.", num(s.TimedOut)))
	}
	if s.Cycles > 0 {
		fid.notes = append(fid.notes, fmt.Sprintf("%s statements went on because the session they waited for waited, on the target, for a lock of theirs: the target had already taken locks in another order than production there.", num(s.Cycles)))
	}
	if len(s.Sessions) > 0 && s.Sessions[0].WaitS > 0 {
		top := s.Sessions[0]
		on := make([]string, len(top.On))
		for i, id := range top.On {
			on[i] = fmt.Sprint(id)
		}
		fid.notes = append(fid.notes, fmt.Sprintf("Session %d waited longest for other sessions (%s, mostly for sessions %s).", top.Session, secs(top.WaitS), strings.Join(on, ", ")))
	}
}
