package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/replay"
)

// replays is what compare takes from the results files of one replay
// (several when it ran in shards): the candidate's side.
type replays struct {
	cand, lateness *hdrhistogram.Histogram
	spans          spans
	errors         *errorTally
	// rtt is the round trip the replay measured to the target (µs).
	rtt      int64
	clocks   shardClocks
	warnings []string
}

// readReplays reads and merges the results files.
func readReplays(ctx context.Context, in Input, capt *capture, queries queryTable, fid *Fidelity) (*replays, error) {
	rs := &replays{cand: newHist(), lateness: newHist(), spans: spans{}, errors: newErrorTally(in.ShowParams)}
	fid.Skipped = map[string]int64{}
	m, err := replay.MergeResults(ctx, in.Results, func(i int, h *replay.ResultsHeader) (func(*replay.ResultLine), error) {
		// Session ids are per workload, so shards never share one; the
		// shard number keeps them apart all the same.
		shard, rtt := uint64(i)<<48, h.RTTUS
		return func(l *replay.ResultLine) { rs.line(l, shard, rtt, capt, queries, fid) }, nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	rs.merged(m, fid)
	return rs, nil
}

// merged takes the figures of the merged results, and judges each file's
// trailer.
func (rs *replays) merged(m *replay.Merged, fid *Fidelity) {
	for i, mf := range m.Files {
		fid.LostToOutage += rs.errors.endFile(i, mf.Summary != nil && mf.Summary.TargetUnreachableSince != "")
		h := mf.Header
		rs.rtt = h.RTTUS
		fid.TargetMaxConnections = max(fid.TargetMaxConnections, h.MaxConnections)
		rs.clocks.add(mf.Path, h)
		fid.Shards++
		fid.Speed = h.Speed
		if mf.Summary == nil {
			rs.warnings = append(rs.warnings, mf.Path+": no trailer: the replay was killed; its statements so far are counted")
			fid.Interrupted = true
			continue
		}
		rs.summary(mf.Path, mf.Summary, fid)
	}
	fid.ReplayStart, fid.ReplayEnd = m.Started, m.Finished
	sum := &m.Summary
	fid.Sync = syncFidelity(sum.Sync)
	fid.Sessions += sum.Sessions
	fid.RefusedConnections += sum.RefusedConnections
	fid.Unnamed += sum.Unnamed
	fid.Pipelined += sum.Pipelined
	fid.Retyped += sum.Retyped
	fid.Interrupted = fid.Interrupted || sum.Interrupted
	fid.DurationS = max(fid.DurationS, sum.DurationS)
	fid.Stalls = append(fid.Stalls, sum.Stalls...)
	fid.LockWaits = append(fid.LockWaits, sum.LockWaits...)
	rs.lateness.Merge(m.Lateness)
}

// line counts one result.
func (rs *replays) line(l *replay.ResultLine, shard uint64, rtt int64, capt *capture, queries queryTable, fid *Fidelity) {
	if l.StartUS > 0 {
		rs.spans.add(shard|l.Session, l.StartUS, l.StartUS+l.LatUS)
	}
	if l.Kind != "e" {
		fid.ResultStatements++
		if l.Skipped == "" {
			fid.Replayed++
		}
	}
	if l.Interrupted {
		// Cut short by the end of the replay: neither an error nor a
		// latency of the candidate.
		fid.InterruptedStatements++
		return
	}
	prod := capt.prod[stmtKey{l.Session, int32(l.Index), l.Kind == "e"}]
	rs.errors.add(l, prod, shard|l.Session)
	if l.Kind == "e" {
		// A production error raised again is not a statement of the
		// workload: it has no latency to compare.
		return
	}
	if l.Skipped != "" {
		fid.Skipped[l.Skipped]++
		return
	}
	if l.SQLState != "" {
		return
	}
	s := queries.get(l.Fingerprint(), "")
	lat := max(l.LatUS-rtt, 1)
	if s.cand == nil {
		s.cand = newHist()
	}
	s.cand.RecordValue(lat)
	rs.cand.RecordValue(lat)
	s.calls++
	s.totalUS += lat
}

// summary judges one results file's trailer: what it says of the
// workload's coverage and of the schedule.
func (rs *replays) summary(path string, sum *replay.Summary, fid *Fidelity) {
	if sum.WorkloadError != "" {
		fid.Incomplete = append(fid.Incomplete, fmt.Sprintf("%s: the replay could not read its workload to the end (%s): the statements after that were not replayed", path, sum.WorkloadError))
	}
	if since := sum.TargetUnreachableSince; since != "" {
		fid.Incomplete = append(fid.Incomplete, fmt.Sprintf("%s: the target was unreachable from %s and the replay stopped there", path, since))
		if fid.TargetUnreachableSince == "" || earlier(since, fid.TargetUnreachableSince) {
			fid.TargetUnreachableSince = since
		}
	}
	if sum.BehindSchedule {
		fid.BehindSchedule = true
		if fid.Bottleneck == "" || sum.Bottleneck == "replayer" {
			fid.Bottleneck = sum.Bottleneck
		}
		fid.Diagnosis = append(fid.Diagnosis, sum.Diagnosis)
	}
	fid.LateShare = max(fid.LateShare, sum.LateOver100ms)
}

// earlier reports whether RFC 3339 time a is before b (a is kept when b
// can not be read).
func earlier(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.Before(tb)
}
