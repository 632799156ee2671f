package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// writeResults writes results to a results file at path and returns its
// trailer.
func writeResults(t *testing.T, path string, h ResultsHeader, results []*Result, st *Stats) *Summary {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rw, err := NewResultsWriter(f, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		rw.Add(r)
	}
	sum, err := rw.Close(st, false)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestMergeShards: a replay's results written whole and split into three
// shards by session read back through MergeResults as the same lines and
// the same figures: the merged trailer is the whole replay's.
func TestMergeShards(t *testing.T) {
	const n = 3
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Unix(1_800_000_000, 0).UTC()
	var all []*Result
	var shards [n][]*Result
	for i := range 3000 {
		r := &Result{Session: uint64(rng.IntN(12) + 1), Index: i, Scheduled: t0.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond),
			Fingerprint: fingerprint.ID(rng.Uint64()), Pipelined: rng.IntN(4) == 0}
		r.Started = r.Scheduled.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if rng.IntN(20) == 0 {
			r.Started = r.Scheduled.Add(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		}
		r.Latency = time.Duration(rng.IntN(1e5)) * time.Microsecond
		switch rng.IntN(9) {
		case 0:
			r.Kind, r.Production, r.Err, r.SQLState = parse.Error, "22P02", errors.New("x"), "22P02"
		case 1:
			r.Skipped, r.SkipReason, r.Production = true, "copy_from_stdin", "23505"
		case 2:
			r.Err, r.SQLState = errors.New("x"), "42P01"
		case 3:
			r.Err, r.SQLState, r.Interrupted = errors.New("canceled"), "57014", true
		case 4:
			r.Production = "40001"
		}
		if r.Lateness() > time.Millisecond {
			r.LateCause = causes[rng.IntN(len(causes))]
		}
		all = append(all, r)
		shards[r.Session%n] = append(shards[r.Session%n], r)
	}
	dir := t.TempDir()
	head := ResultsHeader{Target: "host=h", Speed: 1, WorkloadID: "w", MaxConnections: 50, Started: t0.Format(time.RFC3339Nano)}
	stats := func(shard int) *Stats {
		st := &Stats{Sessions: 4, Started: t0.Add(time.Duration(shard) * time.Millisecond), Finished: t0.Add(time.Second - time.Duration(shard)*time.Millisecond),
			Scheduled: time.Second, CPU: 250 * time.Millisecond, RefusedConnections: 1, ConnectFailures: 2, PeakConnections: 4, SpilledBytes: 1 << 20}
		if shard == 1 {
			st.LockWaits = []LockWait{{BlockedBy: "session 4", Sessions: 1, Statements: 3, MaxS: 0.4}}
			st.Stalls = []Stall{{Session: 7, Index: 3, HeldS: 2, Backlog: 10}}
		}
		return st
	}
	whole := stats(0)
	whole.Sessions, whole.CPU, whole.RefusedConnections, whole.ConnectFailures, whole.PeakConnections, whole.SpilledBytes = 12, 750*time.Millisecond, 3, 6, 12, 3<<20
	whole.LockWaits, whole.Stalls = stats(1).LockWaits, stats(1).Stalls
	want := writeResults(t, filepath.Join(dir, "whole.jsonl"), head, all, whole)

	var paths []string
	for i := range n {
		h := head
		h.Shard = fmt.Sprintf("%d/%d", i, n)
		h.Started = t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		paths = append(paths, filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", i)))
		writeResults(t, paths[i], h, shards[i], stats(i))
	}

	var files []ShardFile
	for _, p := range paths {
		sf, err := ReadShardFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, sf)
	}
	set, err := PickShards(files)
	if err != nil || len(set.Files) != n || len(set.Again) != 0 || len(set.Missing) != 0 {
		t.Fatalf("PickShards: %+v, %v", set, err)
	}

	type key struct {
		s    uint64
		i    int
		kind string
	}
	seen := map[key]int{}
	var opened []string
	m, err := MergeResults(context.Background(), paths, func(i int, h *ResultsHeader) (func(*ResultLine), error) {
		opened = append(opened, h.Shard)
		if h.Shard != fmt.Sprintf("%d/%d", i, n) {
			t.Errorf("file %d opened with the header of shard %s", i, h.Shard)
		}
		return func(l *ResultLine) { seen[key{l.Session, l.Index, l.Kind}]++ }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) != n || len(m.Files) != n || len(seen) != len(all) {
		t.Fatalf("opened %v, %d files, %d distinct lines of %d", opened, len(m.Files), len(seen), len(all))
	}
	for _, r := range all {
		k := key{r.Session, r.Index, ""}
		if r.Kind == parse.Error {
			k.kind = "e"
		}
		if seen[k] != 1 {
			t.Fatalf("line %+v read %d times", k, seen[k])
		}
	}
	if !m.Started.Equal(t0) {
		t.Errorf("started %v, want the first shard's %v", m.Started, t0)
	}

	got := m.Summary
	if !want.BehindSchedule || want.LateByCause[CauseTarget] == 0 || want.Missing["succeeded"] == 0 {
		t.Fatalf("the whole replay should be behind schedule with late statements and missing errors: %+v", want)
	}
	for _, name := range []string{"lateness", "latency"} {
		g, w := histFigures(t, got.Histograms[name]), histFigures(t, want.Histograms[name])
		if g != w || w[0] == 0 {
			t.Errorf("%s histogram: merged %v, whole %v", name, g, w)
		}
	}
	if m.Lateness.TotalCount() != histFigures(t, want.Histograms["lateness"])[0] || m.Latency.TotalCount() != histFigures(t, want.Histograms["latency"])[0] {
		t.Errorf("merged histograms hold %d and %d values", m.Lateness.TotalCount(), m.Latency.TotalCount())
	}
	w := *want
	got.Histograms, w.Histograms = nil, nil
	if !reflect.DeepEqual(got, w) {
		t.Errorf("merged trailer differs from the whole replay's:\nmerged %+v\nwhole  %+v", got, w)
	}
}

// histFigures are an encoded histogram's count, median, 99th percentile
// and maximum.
func histFigures(t *testing.T, enc string) [4]int64 {
	t.Helper()
	h := decodeHist(enc)
	if h == nil {
		t.Fatalf("histogram %q does not decode", enc)
	}
	return [4]int64{h.TotalCount(), h.ValueAtQuantile(50), h.ValueAtQuantile(99), h.Max()}
}

// TestPickShards: every shard once; one given twice, or missing, is said;
// files that cannot be one replay are a ShardsError; a file without its
// trailer is read, and merged without one.
func TestPickShards(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1_800_000_000, 0).UTC()
	file := func(name, shard, begin string, results int) ShardFile {
		t.Helper()
		p := filepath.Join(dir, name)
		var rs []*Result
		for i := range results {
			rs = append(rs, &Result{Session: 1, Index: i, Scheduled: t0, Started: t0, Latency: time.Millisecond})
		}
		writeResults(t, p, ResultsHeader{Shard: shard, WindowBegin: begin, Started: t0.Format(time.RFC3339Nano)}, rs, &Stats{Sessions: 1, Started: t0, Finished: t0.Add(time.Second)})
		sf, err := ReadShardFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sf
	}
	s0, s2, again := file("s0", "0/3", "", 5), file("s2", "2/3", "", 7), file("s0again", "0/3", "", 5)
	set, err := PickShards([]ShardFile{s0, s2, again})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files) != 2 || set.Files[0].Path != s0.Path || set.Files[1].Path != s2.Path ||
		len(set.Again) != 1 || set.Again[0].File.Path != again.Path || set.Again[0].First != s0.Path ||
		!reflect.DeepEqual(set.Missing, []string{"1/3"}) {
		t.Errorf("picked %+v", set)
	}

	w1, w2 := file("w1", "", "", 3), file("w2", "", "", 3)
	set, err = PickShards([]ShardFile{w1, w2})
	if err != nil || len(set.Files) != 1 || set.Files[0].Path != w1.Path || len(set.Again) != 1 || set.Again[0].First != w1.Path {
		t.Errorf("two whole replays: %+v, %v", set, err)
	}

	var se *ShardsError
	for name, files := range map[string][]ShardFile{
		"whole and shard":  {w1, s0},
		"different N":      {s0, file("t0", "0/2", "", 1)},
		"different window": {s0, file("s1", "1/3", t0.Format(time.RFC3339Nano), 1)},
		"none":             nil,
	} {
		if _, err := PickShards(files); !errors.As(err, &se) {
			t.Errorf("%s: err %v, want a ShardsError", name, err)
		}
	}
	bad := filepath.Join(dir, "bad")
	writeResults(t, bad, ResultsHeader{Shard: "3/3"}, nil, &Stats{})
	if _, err := ReadShardFile(bad); !errors.As(err, &se) {
		t.Errorf("shard 3/3: err %v, want a ShardsError", err)
	}

	// A shard killed before its trailer: its lines are read, the others'
	// trailers merged.
	raw, err := os.ReadFile(s2.Path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut")
	if err := os.WriteFile(cut, raw[:bytes.LastIndexByte(raw[:len(raw)-1], '\n')+1], 0o600); err != nil {
		t.Fatal(err)
	}
	lines := 0
	m, err := MergeResults(context.Background(), []string{s0.Path, cut}, func(int, *ResultsHeader) (func(*ResultLine), error) {
		return func(*ResultLine) { lines++ }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines != 12 || m.Files[0].Summary == nil || m.Files[1].Summary != nil || m.Summary.Statements != 5 {
		t.Errorf("cut shard: %d lines, trailers %v %v, merged statements %d", lines, m.Files[0].Summary != nil, m.Files[1].Summary != nil, m.Summary.Statements)
	}
	stop := errors.New("stop")
	if _, err := MergeResults(context.Background(), []string{s0.Path}, func(int, *ResultsHeader) (func(*ResultLine), error) { return nil, stop }); !errors.Is(err, stop) {
		t.Errorf("open's error: %v", err)
	}
}

// TestMergeSync: the shards' sync waits add up, the sessions that waited
// longest come first, and shards of two modes are "mixed".
func TestMergeSync(t *testing.T) {
	if s := mergeSync(nil, nil); s != nil {
		t.Fatalf("no sync summary gave %+v", s)
	}
	first := &SyncSummary{Mode: "objects", Waited: 10, WaitS: 1.5, TimedOut: 1, Cycles: 2, MaxWaitMS: 300,
		Sessions: []SessionSync{{Session: 1, WaitS: 1}, {Session: 2, WaitS: 0.5}}}
	s := mergeSync(nil, first)
	s = mergeSync(s, &SyncSummary{Mode: "objects", Waited: 5, WaitS: 2, Cycles: 1, MaxWaitMS: 900,
		Sessions: []SessionSync{{Session: 7, WaitS: 2}}})
	if s.Mode != "objects" || s.Waited != 15 || s.WaitS != 3.5 || s.TimedOut != 1 || s.Cycles != 3 || s.MaxWaitMS != 900 {
		t.Errorf("merged %+v", s)
	}
	if len(s.Sessions) != 3 || s.Sessions[0].Session != 7 || s.Sessions[2].Session != 2 {
		t.Errorf("sessions %+v", s.Sessions)
	}
	if first.Waited != 10 || len(first.Sessions) != 2 || first.Sessions[0].Session != 1 {
		t.Errorf("the first shard's summary was changed: %+v", first)
	}
	var many []SessionSync
	for i := range 12 {
		many = append(many, SessionSync{Session: uint64(100 + i), WaitS: float64(i)})
	}
	if s = mergeSync(s, &SyncSummary{Mode: "off", Sessions: many}); s.Mode != "mixed" || len(s.Sessions) != 10 || s.Sessions[0].Session != 111 {
		t.Errorf("shards of two modes, 15 sessions: %q, %+v", s.Mode, s.Sessions)
	}
}
