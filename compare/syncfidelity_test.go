package compare

import (
	"testing"

	"github.com/pgrehearse/pgrehearse/replay"
)

// TestSyncFidelity: the shards' merged sync summary is the comparison's,
// field for field; without one there is none.
func TestSyncFidelity(t *testing.T) {
	if f := syncFidelity(nil); f != nil {
		t.Fatalf("no sync summary gave %+v", f)
	}
	sum := &replay.SyncSummary{Mode: "objects", Waited: 15, WaitS: 3.5, TimedOut: 1, Cycles: 3, MaxWaitMS: 900,
		Sessions: []replay.SessionSync{{Session: 7, WaitS: 2}, {Session: 1, WaitS: 1}}}
	s := syncFidelity(sum)
	if s.Mode != "objects" || s.Waited != 15 || s.WaitS != 3.5 || s.TimedOut != 1 || s.Cycles != 3 || s.OutOfOrder() != 4 || s.MaxWaitMS != 900 ||
		len(s.Sessions) != 2 || s.Sessions[0].Session != 7 {
		t.Errorf("sync fidelity %+v of %+v", s, sum)
	}
}
