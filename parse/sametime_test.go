package parse_test

import (
	"strings"
	"testing"
)

// TestSyncSameMillisecond: two sessions write one row within one
// millisecond stamp, a first (its UPDATE and COMMIT logged before b's
// UPDATE). The log of durations writes each when it ends, so the file's
// order says b's UPDATE ended after a's transaction, whatever start the
// durations give. b follows a; a follows nothing of b's. Read by stamp
// and duration alone, b's UPDATE (the longer one) began first, and a
// replay made a wait for b's lock: a deadlock production never had.
func TestSyncSameMillisecond(t *testing.T) {
	log := []logLine{
		connected(0, 'a'), connected(0, 'b'),
		stmt(0.2, 0.01, 'a', "BEGIN"), stmt(0.3, 0.01, 'b', "BEGIN"),
		// All three in the stamp of 1 ms.
		stmt(1.0, 0.02, 'a', "UPDATE t SET v = 1 WHERE id = 1"),
		stmt(1.0, 0.03, 'a', "COMMIT"),
		stmt(1.0, 0.07, 'b', "UPDATE t SET v = 2 WHERE id = 1"),
		stmt(2.0, 0.03, 'b', "COMMIT"),
		// c writes row 2 of u after a quick earlier write of it; d's write of
		// row 2 is quick too and its start, worked out from its duration,
		// falls before c's COMMIT ended; but it was logged after that
		// COMMIT: it came at c's end and follows c's write.
		connected(3, 'c'), connected(3, 'd'),
		stmt(4.0, 0.2, 'c', "UPDATE u SET v = 3 WHERE id = 2"),
		stmt(5.0, 0.01, 'c', "BEGIN"),
		stmt(6.0, 0.4, 'c', "UPDATE u SET v = 4 WHERE id = 2"),
		stmt(7.0, 0.05, 'c', "COMMIT"),
		stmt(7.0, 0.5, 'd', "UPDATE u SET v = 5 WHERE id = 2"),
	}
	for _, s := range "abcd" {
		log = append(log, disconnect(9000, byte(s)))
	}
	evs := syncLog(t, log)
	if testing.Verbose() {
		for _, ev := range evs {
			t.Logf("%d#%d %d %q %+v", ev.Session.ID, ev.Index, ev.Time, ev.Text, ev.Sync)
		}
	}
	aUpd := find(t, evs, 1, "UPDATE t SET v = 1 WHERE id = 1")
	bUpd := find(t, evs, 2, "UPDATE t SET v = 2 WHERE id = 1")
	if aUpd.Time >= bUpd.Time {
		t.Errorf("a's UPDATE begins at %d, b's at %d: the file has a's first", aUpd.Time, bUpd.Time)
	}
	for _, list := range []string{"commit", "objects", "locks"} {
		if got := names(refs(aUpd, list)); strings.Contains(got, "2#") {
			t.Errorf("a's UPDATE waits for b (%s refs %q): b came after it", list, got)
		}
	}
	var all []string
	for _, list := range []string{"objects", "locks"} {
		all = append(all, names(refs(bUpd, list)))
	}
	if got := strings.Join(all, " "); !strings.Contains(got, "1#") {
		t.Errorf("b's UPDATE follows nothing of a's (objects and locks: %q)", got)
	}
	dUpd := find(t, evs, 4, "UPDATE u SET v = 5 WHERE id = 2")
	if got := names(refs(dUpd, "locks")); got != "3#2" {
		t.Errorf("d's UPDATE: locks refs %q, want c's UPDATE in its transaction, finished (3#2)", got)
	}
}
