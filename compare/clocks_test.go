package compare

import (
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/replay"
)

func TestClocksJudge(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	hdr := func(shard string, startedMS int, offsetUS int64, measured bool) shardClock {
		h := replay.ResultsHeader{Shard: shard, Started: t0.Add(time.Duration(startedMS) * time.Millisecond).Format(time.RFC3339Nano)}
		if measured {
			h.Clock = &replay.Clock{OffsetUS: offsetUS, RTTUS: 800, Samples: 7}
		}
		return shardClock{"shard-" + shard + ".jsonl", h}
	}
	cases := []struct {
		name        string
		in          shardClocks
		agreed      bool
		startSpread float64
		offSpread   float64
		warn        []string
	}{
		{"together", shardClocks{hdr("0/3", 0, 1000, true), hdr("1/3", 2, -500, true), hdr("2/3", 1, 0, true)}, true, 0.5, 1.5, nil},
		// Shard 1's machine runs 300 ms fast: by its clock it started on
		// time, on the target's it started 300 ms early, and shard 0 late.
		{"clock off", shardClocks{hdr("0/2", 0, 0, true), hdr("1/2", 0, -300_000, true)}, false, 300, 300, []string{"shard 0/2 300 ms after the first", "clocks disagree by 300 ms"}},
		// Same clocks, but shard 1 began 250 ms after the start time.
		{"late start", shardClocks{hdr("0/2", 0, 200, true), hdr("1/2", 250, 200, true)}, false, 250, 0, []string{"shard 1/2 250 ms after the first"}},
		// A late start that the offset explains away: the machine's clock
		// is 150 ms slow, so its late start by its clock is on time.
		{"late by its own clock only", shardClocks{hdr("0/2", 0, 0, true), hdr("1/2", 150, -150_000, true)}, false, 0, 150, []string{"clocks disagree by 150 ms"}},
		{"one unmeasured", shardClocks{hdr("0/2", 0, 0, true), hdr("1/2", 0, 0, false)}, false, 0, 0, []string{"1 of 2 results files do not record"}},
		{"single file", shardClocks{hdr("", 0, 42, true)}, true, 0, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, warns := c.in.judge()
			if cl == nil {
				t.Fatal("no clocks")
			}
			if cl.Agreed != c.agreed || cl.StartSpreadMS != c.startSpread || cl.OffsetSpreadMS != c.offSpread {
				t.Errorf("agreed %v start spread %v offset spread %v, want %v %v %v", cl.Agreed, cl.StartSpreadMS, cl.OffsetSpreadMS, c.agreed, c.startSpread, c.offSpread)
			}
			if len(warns) != len(c.warn) {
				t.Fatalf("warnings %q, want %d", warns, len(c.warn))
			}
			for i, w := range c.warn {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q lacks %q", warns[i], w)
				}
			}
		})
	}
	if cl, w := (shardClocks{hdr("0/2", 0, 0, false)}).judge(); cl != nil || w != nil {
		t.Errorf("no measured clock: %+v %v", cl, w)
	}
}
