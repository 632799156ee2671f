package replay

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSyncResults: a statement's sync wait is on its line, the summary
// carries the replay's sync figures, and a replay late mostly because of
// sync waits says so.
func TestSyncResults(t *testing.T) {
	var buf bytes.Buffer
	rw, err := NewResultsWriter(&buf, ResultsHeader{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for i := 0; i < 100; i++ {
		r := &Result{Session: 1, Index: i, Scheduled: t0, Started: t0, Latency: time.Millisecond}
		if i < 5 {
			r.Started, r.LateCause = t0.Add(150*time.Millisecond), CauseSync
			r.Sync = SyncWait{Wait: 140 * time.Millisecond, TimedOut: i == 0, Cycle: i == 1}
		}
		rw.Add(r)
	}
	sy := &SyncSummary{Mode: "objects", Waited: 5, WaitS: 0.7, TimedOut: 1, Cycles: 1, MaxWaitMS: 140,
		Sessions: []SessionSync{{Session: 1, Waited: 5, WaitS: 0.7, TimedOut: 1, On: []uint64{2}}}}
	sum, err := rw.Close(&Stats{Started: t0, Finished: t0.Add(time.Second), Sync: sy}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.BehindSchedule || sum.Bottleneck != CauseSync || !strings.Contains(sum.Diagnosis, "--sync objects") ||
		!strings.Contains(sum.Diagnosis, "session 1 waited longest") {
		t.Errorf("bottleneck %q: %s", sum.Bottleneck, sum.Diagnosis)
	}
	rr, err := NewResultsReader(&buf, "results")
	if err != nil {
		t.Fatal(err)
	}
	var lines []*ResultLine
	for {
		l, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if l := lines[0]; l.SyncUS != 140_000 || !l.SyncTimeout || l.SyncCycle || l.Late != CauseSync {
		t.Errorf("line 0: %+v", l)
	}
	if l := lines[1]; !l.SyncCycle || l.SyncTimeout {
		t.Errorf("line 1: %+v", l)
	}
	if l := lines[50]; l.SyncUS != 0 || l.SyncTimeout || l.SyncCycle {
		t.Errorf("line 50: %+v", l)
	}
	if got := rr.Summary(); got == nil || got.Sync == nil || got.Sync.Cycles != 1 || got.Sync.Sessions[0].On[0] != 2 {
		t.Errorf("summary sync %+v", got)
	}
}
