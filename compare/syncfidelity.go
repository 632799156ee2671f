package compare

import (
	"sort"

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

// addSync merges one results file's sync summary into fid.
func addSync(fid *Fidelity, sum *replay.SyncSummary) {
	if sum == nil {
		return
	}
	f := fid.Sync
	if f == nil {
		f = &SyncFidelity{Mode: sum.Mode}
		fid.Sync = f
	}
	if f.Mode != sum.Mode {
		f.Mode = "mixed"
	}
	f.Waited += sum.Waited
	f.WaitS += sum.WaitS
	f.TimedOut += sum.TimedOut
	f.Cycles += sum.Cycles
	f.MaxWaitMS = max(f.MaxWaitMS, sum.MaxWaitMS)
	f.Sessions = append(f.Sessions, sum.Sessions...)
	sort.Slice(f.Sessions, func(i, j int) bool { return f.Sessions[i].WaitS > f.Sessions[j].WaitS })
	if len(f.Sessions) > 10 {
		f.Sessions = f.Sessions[:10]
	}
}
