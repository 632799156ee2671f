package replay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Shards: a replay split with --shard I/N writes one results file per
// shard, each naming its shard in its header. Session ids are the
// workload's, so no two shards of one replay share one: the shards' lines
// read one file after another are the whole replay's lines, and their
// trailers merge into the one the whole replay would have written (the
// histograms travel in the trailers so that they merge exactly).
// PickShards says which files make one replay, each shard once;
// MergeResults reads them as one.

// ShardFile is a results file and the shard its header says it holds.
type ShardFile struct {
	Path   string
	Header *ResultsHeader
	// Index and Of are its --shard I/N; Of is 0 for a whole replay.
	Index, Of int
}

// ShardsError is the error of results files that cannot be the shards of
// one replay; its message names them and says why.
type ShardsError struct{ msg string }

func (e *ShardsError) Error() string { return e.msg }

func shardsErrorf(format string, args ...any) error {
	return &ShardsError{fmt.Sprintf(format, args...)}
}

// ReadShardFile reads the header of the results file at path, and the
// shard it holds.
func ReadShardFile(path string) (ShardFile, error) {
	rr, f, err := OpenResults(path)
	if err != nil {
		return ShardFile{}, err
	}
	f.Close()
	sf := ShardFile{Path: path, Header: rr.Header()}
	if s := sf.Header.Shard; s != "" {
		if _, err := fmt.Sscanf(s, "%d/%d", &sf.Index, &sf.Of); err != nil || sf.Of < 1 || sf.Index < 0 || sf.Index >= sf.Of {
			return ShardFile{}, shardsErrorf("%s says it is shard %q, which is not I/N", path, s)
		}
	}
	return sf, nil
}

// Shards is the results files of one replay: the one whole replay, or
// every shard given, each once.
type Shards struct {
	// Files are the files to read, in the order given.
	Files []ShardFile
	// Again are the files left out because one in Files holds the same:
	// a shard given twice, or another whole replay.
	Again []Repeat
	// Missing are the shards no file holds, "I/N" in order.
	Missing []string
}

// Repeat is a results file left out, and the one counted in its place.
type Repeat struct {
	File  ShardFile
	First string
}

// PickShards keeps every shard once, or the first whole replay, and says
// what is given twice or missing. Files that cannot be one replay (whole
// and sharded mixed, shards of different N, different windows) are a
// *ShardsError.
func PickShards(files []ShardFile) (*Shards, error) {
	if len(files) == 0 {
		return nil, shardsErrorf("no results files")
	}
	first := files[0]
	for _, sf := range files[1:] {
		switch {
		case (sf.Of == 0) != (first.Of == 0):
			whole, part := first, sf
			if first.Of != 0 {
				whole, part = sf, first
			}
			return nil, shardsErrorf("%s is a whole replay and %s shard %s: give the shards of one replay, or one whole replay", whole.Path, part.Path, part.Header.Shard)
		case sf.Of != first.Of:
			return nil, shardsErrorf("%s is shard %s and %s shard %s: give the shards of one replay, all of the same --shard I/N", first.Path, first.Header.Shard, sf.Path, sf.Header.Shard)
		case sf.Header.WindowBegin != first.Header.WindowBegin || sf.Header.WindowEnd != first.Header.WindowEnd:
			return nil, shardsErrorf("%s and %s replayed different windows (--begin/--end): give the results of one replay", first.Path, sf.Path)
		}
	}
	set := &Shards{}
	if first.Of == 0 {
		set.Files = []ShardFile{first}
		for _, sf := range files[1:] {
			set.Again = append(set.Again, Repeat{File: sf, First: first.Path})
		}
		return set, nil
	}
	seen := map[int]string{}
	for _, sf := range files {
		if prev, ok := seen[sf.Index]; ok {
			set.Again = append(set.Again, Repeat{File: sf, First: prev})
			continue
		}
		seen[sf.Index] = sf.Path
		set.Files = append(set.Files, sf)
	}
	for i := range first.Of {
		if _, ok := seen[i]; !ok {
			set.Missing = append(set.Missing, fmt.Sprintf("%d/%d", i, first.Of))
		}
	}
	return set, nil
}

// Merged is the results files of one replay read as one.
type Merged struct {
	// Files are each file's header and trailer, in the order read.
	Files []MergedFile
	// Summary is the files' trailers merged into the one the whole
	// replay would have written (mergeSummaries says how).
	Summary Summary
	// Lateness and Latency are the trailers' histograms merged (µs).
	Lateness, Latency *hdrhistogram.Histogram
	// Started is the earliest start in the headers, Finished the latest
	// finish in the trailers (zero without one).
	Started, Finished time.Time
}

// MergedFile is one file of a merge.
type MergedFile struct {
	Path   string
	Header *ResultsHeader
	// Summary is nil when the file has no trailer: its replay was killed.
	Summary *Summary
}

// MergeResults reads the results files at paths one after another as the
// lines of one replay, and merges their trailers. open is called with
// each file's index and header before its lines; it returns what to call
// for each of them (nil: nothing), or an error, which stops the merge.
// It stops at the end of ctx or at a line it cannot read.
func MergeResults(ctx context.Context, paths []string, open func(i int, h *ResultsHeader) (func(*ResultLine), error)) (*Merged, error) {
	m := &Merged{}
	for i, path := range paths {
		rr, f, err := OpenResults(path)
		if err != nil {
			return nil, err
		}
		each, err := open(i, rr.Header())
		if err == nil {
			err = eachLine(ctx, rr, each)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, MergedFile{Path: path, Header: rr.Header(), Summary: rr.Summary()})
		if st, err := time.Parse(time.RFC3339Nano, rr.Header().Started); err == nil && (m.Started.IsZero() || st.Before(m.Started)) {
			m.Started = st
		}
	}
	var sums []*Summary
	maxConn := 0
	for _, mf := range m.Files {
		maxConn = max(maxConn, mf.Header.MaxConnections)
		if mf.Summary != nil {
			sums = append(sums, mf.Summary)
		}
	}
	m.Summary, m.Lateness, m.Latency = mergeSummaries(sums, maxConn)
	m.Finished, _ = time.Parse(time.RFC3339Nano, m.Summary.Finished)
	return m, nil
}

// eachLine calls each for every line of rr, to the end of the file.
func eachLine(ctx context.Context, rr *ResultsReader, each func(*ResultLine)) error {
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
		if each != nil {
			each(l)
		}
	}
}

// mergeSummaries merges the trailers: counts add up, as do the CPU and
// what went to disk; the replay lasted as long as its longest shard and
// spans the earliest start to the latest finish; the percentiles, the
// share of late statements and whether the replay fell behind are read
// again from the merged histograms and counts. The shards' connection
// peaks add up (they connected at once), their memory peaks do not (each
// replayer has its own).
func mergeSummaries(sums []*Summary, maxConn int) (Summary, *hdrhistogram.Histogram, *hdrhistogram.Histogram) {
	var s Summary
	lateness, latency := newResultsHist(), newResultsHist()
	var late100 float64
	for _, o := range sums {
		s.add(o)
		if h := decodeHist(o.Histograms["lateness"]); h != nil {
			lateness.Merge(h)
			late100 += o.LateOver100ms * float64(h.TotalCount())
		}
		if h := decodeHist(o.Histograms["latency"]); h != nil {
			latency.Merge(h)
		}
	}
	s.setHistograms(lateness, latency, int64(math.Round(late100)))
	if s.RefusedConnections > 0 {
		s.setConnectionLimit(maxConn)
	}
	s.diagnose()
	return s, lateness, latency
}

// add merges one shard's trailer into s, but for what is read from the
// histograms.
func (s *Summary) add(o *Summary) {
	s.Statements += o.Statements
	s.Replayed += o.Replayed
	s.Skipped += o.Skipped
	s.Errors += o.Errors
	s.ErrorEvents += o.ErrorEvents
	s.ProductionErrors += o.ProductionErrors
	s.Reproduced += o.Reproduced
	s.StandIns += o.StandIns
	s.Missing = addCounts(s.Missing, o.Missing)
	s.NewErrors += o.NewErrors
	s.Pipelined += o.Pipelined
	s.Retyped += o.Retyped
	s.Checksummed += o.Checksummed
	s.NonDeterministic += o.NonDeterministic
	s.Sessions += o.Sessions
	s.OpenErrors += o.OpenErrors
	s.Started = earliest(s.Started, o.Started)
	if s.Finished == "" || later(o.Finished, s.Finished) {
		s.Finished = o.Finished
	}
	s.Interrupted = s.Interrupted || o.Interrupted
	s.DurationS = max(s.DurationS, o.DurationS)
	s.ScheduledS = max(s.ScheduledS, o.ScheduledS)
	s.JumpedS = max(s.JumpedS, o.JumpedS)
	s.ReplayerCPUS += o.ReplayerCPUS
	s.LateByCause = addCounts(s.LateByCause, o.LateByCause)
	s.PeakQueuedMB = max(s.PeakQueuedMB, o.PeakQueuedMB)
	s.SpilledMB += o.SpilledMB
	s.Stalls = append(s.Stalls, o.Stalls...)
	s.LockWaits = append(s.LockWaits, o.LockWaits...)
	s.Sync = mergeSync(s.Sync, o.Sync)
	s.RefusedConnections += o.RefusedConnections
	s.ConnectFailures += o.ConnectFailures
	s.PeakConnections += o.PeakConnections
	s.InterruptedStatements += o.InterruptedStatements
	s.Unnamed += o.Unnamed
	if s.WorkloadError == "" {
		s.WorkloadError = o.WorkloadError
	}
	s.TargetUnreachableSince = earliest(s.TargetUnreachableSince, o.TargetUnreachableSince)
}

// mergeSync merges the shards' --sync figures; the sessions that waited
// longest are kept, ten at most.
func mergeSync(a, b *SyncSummary) *SyncSummary {
	if b == nil {
		return a
	}
	if a == nil {
		c := *b
		c.Sessions = append([]SessionSync(nil), b.Sessions...)
		return &c
	}
	if a.Mode != b.Mode {
		a.Mode = "mixed"
	}
	a.Waited += b.Waited
	a.WaitS += b.WaitS
	a.TimedOut += b.TimedOut
	a.Cycles += b.Cycles
	a.MaxWaitMS = max(a.MaxWaitMS, b.MaxWaitMS)
	a.Sessions = append(a.Sessions, b.Sessions...)
	sort.SliceStable(a.Sessions, func(i, j int) bool { return a.Sessions[i].WaitS > a.Sessions[j].WaitS })
	a.Sessions = a.Sessions[:min(len(a.Sessions), 10)]
	return a
}

func addCounts(into, from map[string]int64) map[string]int64 {
	for k, v := range from {
		if into == nil {
			into = map[string]int64{}
		}
		into[k] += v
	}
	return into
}

// earliest is the earlier of two RFC 3339 times, either of which may be
// empty (unknown).
func earliest(a, b string) string {
	if a == "" || b != "" && later(a, b) {
		return b
	}
	return a
}

// later reports whether RFC 3339 time a is after b; a time that does not
// parse is never later.
func later(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.After(tb)
}

// decodeHist decodes a trailer's histogram; nil when it is absent or
// damaged.
func decodeHist(enc string) *hdrhistogram.Histogram {
	if enc == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil
	}
	h, err := hdrhistogram.Decode(raw)
	if err != nil {
		return nil
	}
	return h
}
