package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// checkShardClocks compares n shards' results (dir/rI.jsonl) that started
// together: every shard recorded its clock against the target, and the
// comparison finds them agreeing.
func checkShardClocks(t *testing.T, dir, workload string, n int) {
	t.Helper()
	args := []string{"compare", "--workload", workload, "-o", filepath.Join(dir, "shards.json"), "--gate", "errors.new == 0"}
	for i := 0; i < n; i++ {
		args = append(args, "--results", filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i)))
	}
	code, _, stderr := run(t, nil, args...)
	c := readComparison(t, filepath.Join(dir, "shards.json"))
	if !passedOrLoaded(code, c) {
		t.Fatalf("compare of the shards: exit %d %s", code, stderr)
	}
	cl := c.Fidelity.Clocks
	if cl == nil || len(cl.Shards) != n || !cl.Agreed {
		t.Fatalf("clocks %+v", cl)
	}
	for _, s := range cl.Shards {
		if s.OffsetMS == nil || *s.OffsetMS > s.RTTMS || *s.OffsetMS < -s.RTTMS {
			t.Errorf("shard %s: offset %v against a server on this machine (rtt %v ms)", s.Shard, s.OffsetMS, s.RTTMS)
		}
	}
}

// TestShardStartedLate replays two shards one after the other, as if the
// second pod had been scheduled late: the comparison says the second
// started late and that the clocks did not agree.
func TestShardStartedLate(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	for i := 0; i < 2; i++ {
		if code, _, stderr := run(t, nil, "replay", "-q", "--shard", fmt.Sprintf("%d/2", i), "--target", pgtest.DSN(t), "-o", filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i)), w); code != exitOK {
			t.Fatalf("shard %d: exit %d %s", i, code, stderr)
		}
	}
	out := filepath.Join(dir, "c.json")
	_, stdout, _ := run(t, nil, "compare", "--workload", w, "--results", filepath.Join(dir, "r0.jsonl"), "--results", filepath.Join(dir, "r1.jsonl"), "-o", out)
	c := readComparison(t, out)
	cl := c.Fidelity.Clocks
	if cl == nil || cl.Agreed || len(cl.Shards) != 2 {
		t.Fatalf("clocks %+v", cl)
	}
	// The first shard's replay lasts about 1.7 s.
	if late := time.Duration(cl.Shards[1].StartedLateMS * float64(time.Millisecond)); late < time.Second || cl.StartSpreadMS != cl.Shards[1].StartedLateMS {
		t.Errorf("shard 1/2 started %v after shard 0/2, spread %v ms", late, cl.StartSpreadMS)
	}
	if !strings.Contains(stdout, "shards started apart on the target's clock: shard 1/2") {
		t.Errorf("the report does not warn of the late shard:\n%s", stdout)
	}
}
