package compare

import (
	"testing"

	"github.com/pgrehearse/pgrehearse/replay"
)

// TestAddSync: the shards' sync waits add up, and the sessions that
// waited longest come first.
func TestAddSync(t *testing.T) {
	var fid Fidelity
	addSync(&fid, nil)
	if fid.Sync != nil {
		t.Fatalf("no sync summary gave %+v", fid.Sync)
	}
	addSync(&fid, &replay.SyncSummary{Mode: "objects", Waited: 10, WaitS: 1.5, TimedOut: 1, Cycles: 2, MaxWaitMS: 300,
		Sessions: []replay.SessionSync{{Session: 1, WaitS: 1}, {Session: 2, WaitS: 0.5}}})
	addSync(&fid, &replay.SyncSummary{Mode: "objects", Waited: 5, WaitS: 2, Cycles: 1, MaxWaitMS: 900,
		Sessions: []replay.SessionSync{{Session: 7, WaitS: 2}}})
	s := fid.Sync
	if s.Mode != "objects" || s.Waited != 15 || s.WaitS != 3.5 || s.TimedOut != 1 || s.Cycles != 3 || s.OutOfOrder() != 4 || s.MaxWaitMS != 900 {
		t.Errorf("merged %+v", s)
	}
	if len(s.Sessions) != 3 || s.Sessions[0].Session != 7 || s.Sessions[2].Session != 2 {
		t.Errorf("sessions %+v", s.Sessions)
	}
	addSync(&fid, &replay.SyncSummary{Mode: "off"})
	if fid.Sync.Mode != "mixed" {
		t.Errorf("shards of two modes: %q", fid.Sync.Mode)
	}
}
