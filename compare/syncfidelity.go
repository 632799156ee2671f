package compare

import (
	"github.com/pgrehearse/pgrehearse/replay"
)

// SyncFidelity is what commit-order synchronisation (replay --sync) did,
// over every shard: how many statements waited for other sessions, how
// long, and how many went on without what they waited for (at the bound,
// or in a cycle with a session that waited for them on the target). Those
// are statements whose locks may have been taken in another order than
// production's.
type SyncFidelity struct {
	// Mode is the --sync mode; "mixed" when the shards differ.
	Mode      string  `json:"mode"`
	Waited    int64   `json:"waited"`
	WaitS     float64 `json:"wait_s"`
	TimedOut  int64   `json:"timed_out"`
	Cycles    int64   `json:"cycles"`
	MaxWaitMS float64 `json:"max_wait_ms"`
	// Sessions are the sessions that waited longest, with whom for.
	Sessions []replay.SessionSync `json:"sessions,omitempty"`
}

// OutOfOrder is how many statements went on without what they waited for.
func (s *SyncFidelity) OutOfOrder() int64 { return s.TimedOut + s.Cycles }

// syncFidelity is the shards' sync summaries, merged by replay.
func syncFidelity(sum *replay.SyncSummary) *SyncFidelity {
	if sum == nil {
		return nil
	}
	f := SyncFidelity(*sum)
	return &f
}
