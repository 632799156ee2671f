package compare

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgrehearse/pgrehearse/replay"
)

// ClockThreshold is how far shards may start apart, or their clocks
// disagree, before the comparison says so: the scale of lateness the
// README's 100 ms rule already calls late.
const ClockThreshold = 100 * time.Millisecond

// Clocks says whether the replayers' clocks agreed with the target's and
// with each other, and so whether shards started by one --start-at
// started together. Each shard measured its offset against the target
// (replay.Clock); a start read on the target's clock is the shard's own
// start plus that offset, which takes the machines' clock errors out.
type Clocks struct {
	Shards []ShardClock `json:"shards"`
	// OffsetSpreadMS is the largest offset minus the smallest: how much
	// the replayers' clocks disagree. StartSpreadMS is the latest start on
	// the target's clock minus the earliest.
	OffsetSpreadMS float64 `json:"offset_spread_ms"`
	StartSpreadMS  float64 `json:"start_spread_ms"`
	ThresholdMS    float64 `json:"threshold_ms"`
	// Agreed is false when a shard started late by more than the
	// threshold, the offsets disagree by more, or a shard's offset is
	// unknown among several.
	Agreed bool `json:"agreed"`
}

// ShardClock is one results file's clock.
type ShardClock struct {
	Results string `json:"results"`
	Shard   string `json:"shard,omitempty"`
	// OffsetMS is the target's clock minus the replayer's, ±RTTMS/2; nil
	// when the results file does not say (an older pgrehearse, or the
	// clock could not be read).
	OffsetMS *float64 `json:"offset_ms,omitempty"`
	RTTMS    float64  `json:"rtt_ms,omitempty"`
	// StartedLateMS is how long after the earliest shard this one
	// started, on the target's clock.
	StartedLateMS float64 `json:"started_late_ms"`
}

// shardClocks collects the headers of the results files as they are read.
type shardClocks []shardClock

type shardClock struct {
	path string
	h    replay.ResultsHeader
}

func (sc *shardClocks) add(path string, h *replay.ResultsHeader) {
	*sc = append(*sc, shardClock{path, *h})
}

// judge sets the shards' clocks side by side. It returns nil when no file
// measured its clock, and warnings for the report.
func (sc shardClocks) judge() (*Clocks, []string) {
	cl := &Clocks{ThresholdMS: clockMS(ClockThreshold), Agreed: true}
	starts := make([]time.Time, len(sc))
	var offsets []float64
	unknown := 0
	for i, s := range sc {
		c := ShardClock{Results: s.path, Shard: s.h.Shard}
		st, _ := time.Parse(time.RFC3339Nano, s.h.Started)
		if s.h.Clock != nil {
			off := float64(s.h.Clock.OffsetUS) / 1000
			c.OffsetMS, c.RTTMS = &off, float64(s.h.Clock.RTTUS)/1000
			offsets = append(offsets, off)
			st = st.Add(time.Duration(s.h.Clock.OffsetUS) * time.Microsecond)
		} else {
			unknown++
		}
		starts[i] = st
		cl.Shards = append(cl.Shards, c)
	}
	if len(offsets) == 0 {
		return nil, nil
	}
	first := slices.MinFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	var warnings, late []string
	for i := range cl.Shards {
		c := &cl.Shards[i]
		c.StartedLateMS = clockMS(starts[i].Sub(first))
		cl.StartSpreadMS = max(cl.StartSpreadMS, c.StartedLateMS)
		if c.StartedLateMS > cl.ThresholdMS {
			late = append(late, fmt.Sprintf("%s %.0f ms", shardName(c), c.StartedLateMS))
		}
	}
	cl.OffsetSpreadMS = slices.Max(offsets) - slices.Min(offsets)
	if len(late) > 0 {
		cl.Agreed = false
		warnings = append(warnings, fmt.Sprintf("shards started apart on the target's clock: %s after the first (threshold %.0f ms): their sessions ran shifted against each other, so the combined load was not production's; start them with one --start-at a minute ahead",
			strings.Join(late, ", "), cl.ThresholdMS))
	}
	if cl.OffsetSpreadMS > cl.ThresholdMS {
		cl.Agreed = false
		warnings = append(warnings, fmt.Sprintf("the replayers' clocks disagree by %.0f ms against the target's (offsets %.1f to %.1f ms): --start-at started the shards that far apart; synchronise the machines' clocks (NTP, chrony) before the next rehearsal",
			cl.OffsetSpreadMS, slices.Min(offsets), slices.Max(offsets)))
	}
	if unknown > 0 && len(sc) > 1 {
		cl.Agreed = false
		warnings = append(warnings, fmt.Sprintf("%d of %d results files do not record their clock offset: whether all shards started together cannot be told", unknown, len(sc)))
	}
	return cl, warnings
}

func clockMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func shardName(c *ShardClock) string {
	if c.Shard != "" {
		return "shard " + c.Shard
	}
	return c.Results
}
