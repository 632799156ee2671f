package replay

import (
	"fmt"
	"strconv"
)

// appendSyncWait appends a result line's sync fields: how long the
// statement waited for other sessions, and whether it went on at the
// bound.
func appendSyncWait(b []byte, sw SyncWait) []byte {
	if sw.Wait > 0 {
		b = append(b, `,"sync_us":`...)
		b = strconv.AppendInt(b, max(sw.Wait.Microseconds(), 1), 10)
	}
	if sw.TimedOut {
		b = append(b, `,"sync_timeout":true`...)
	}
	if sw.Cycle {
		b = append(b, `,"sync_cycle":true`...)
	}
	return b
}

// diagnoseSync names --sync as the cause when most late statements were
// late because they waited for other sessions. Those sessions were behind
// on the target (a slower target, or a lock), or, when waits timed out,
// sessions waited for each other in an order production did not have.
func (s *Summary) diagnoseSync(pct float64) bool {
	n := s.LateByCause[CauseSync]
	for _, c := range causes {
		if c != CauseSync && s.LateByCause[c] > n {
			return false
		}
	}
	if n == 0 || s.Sync == nil {
		return false
	}
	s.Bottleneck = CauseSync
	s.Diagnosis = fmt.Sprintf("%.1f%% of statements started more than 100 ms late, mostly because they waited (--sync %s) for other sessions to reach on the target what production had done before them: %d statements waited %.1f s in all, %d of them went on at the bound; those sessions were behind on the target, see sync for which",
		pct, s.Sync.Mode, s.Sync.Waited, s.Sync.WaitS, s.Sync.TimedOut)
	if len(s.Sync.Sessions) > 0 {
		top := s.Sync.Sessions[0]
		s.Diagnosis += fmt.Sprintf(" (session %d waited longest, %.1f s, mostly for sessions %v)", top.Session, top.WaitS, top.On)
	}
	return true
}
