package compare

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
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
	for _, path := range in.Results {
		if err := rs.readOne(ctx, path, capt, queries, fid); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		fid.Shards++
	}
	return rs, nil
}

func (rs *replays) readOne(ctx context.Context, path string, capt *capture, queries queryTable, fid *Fidelity) error {
	rr, f, err := replay.OpenResults(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := rr.Header()
	rs.rtt = h.RTTUS
	fid.TargetMaxConnections = max(fid.TargetMaxConnections, h.MaxConnections)
	rs.clocks.add(path, h)
	// Session ids are per workload, so shards never share one; the shard
	// number keeps them apart all the same.
	shard := uint64(fid.Shards) << 48
	err = eachResult(ctx, rr, func(l *replay.ResultLine) { rs.line(l, shard, capt, queries, fid) })
	if err != nil {
		return err
	}
	sum := rr.Summary()
	fid.LostToOutage += rs.errors.endFile(sum != nil && sum.TargetUnreachableSince != "")
	fid.Speed = h.Speed
	st, _ := time.Parse(time.RFC3339Nano, h.Started)
	if fid.ReplayStart.IsZero() || st.Before(fid.ReplayStart) {
		fid.ReplayStart = st
	}
	if sum == nil {
		rs.warnings = append(rs.warnings, path+": no trailer: the replay was killed; its statements so far are counted")
		fid.Interrupted = true
		return nil
	}
	rs.summary(path, sum, fid)
	return nil
}

// line counts one result.
func (rs *replays) line(l *replay.ResultLine, shard uint64, capt *capture, queries queryTable, fid *Fidelity) {
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
	lat := max(l.LatUS-rs.rtt, 1)
	if s.cand == nil {
		s.cand = newHist()
	}
	s.cand.RecordValue(lat)
	rs.cand.RecordValue(lat)
	s.calls++
	s.totalUS += lat
}

// summary merges one results file's trailer.
func (rs *replays) summary(path string, sum *replay.Summary, fid *Fidelity) {
	fin, _ := time.Parse(time.RFC3339Nano, sum.Finished)
	if fin.After(fid.ReplayEnd) {
		fid.ReplayEnd = fin
	}
	fid.Sessions += sum.Sessions
	fid.RefusedConnections += sum.RefusedConnections
	fid.Unnamed += sum.Unnamed
	if sum.WorkloadError != "" {
		fid.Incomplete = append(fid.Incomplete, fmt.Sprintf("%s: the replay could not read its workload to the end (%s): the statements after that were not replayed", path, sum.WorkloadError))
	}
	if since := sum.TargetUnreachableSince; since != "" {
		fid.Incomplete = append(fid.Incomplete, fmt.Sprintf("%s: the target was unreachable from %s and the replay stopped there", path, since))
		if fid.TargetUnreachableSince == "" || earlier(since, fid.TargetUnreachableSince) {
			fid.TargetUnreachableSince = since
		}
	}
	fid.Pipelined += sum.Pipelined
	fid.Retyped += sum.Retyped
	fid.Interrupted = fid.Interrupted || sum.Interrupted
	fid.DurationS = max(fid.DurationS, sum.DurationS)
	fid.Stalls = append(fid.Stalls, sum.Stalls...)
	fid.LockWaits = append(fid.LockWaits, sum.LockWaits...)
	addSync(fid, sum.Sync)
	if enc, ok := sum.Histograms["lateness"]; ok {
		if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
			if hh, err := hdrhistogram.Decode(raw); err == nil {
				rs.lateness.Merge(hh)
			}
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

// eachResult calls each for every line of rr, to the end of the file; it
// stops at the end of ctx or at a line it cannot read.
func eachResult(ctx context.Context, rr *replay.ResultsReader, each func(*replay.ResultLine)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		each(l)
	}
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
