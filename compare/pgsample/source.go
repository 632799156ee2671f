package pgsample

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// File is a samples file read back.
type File struct {
	Header  Header
	Samples []Sample
	// Snapshots are pg_stat_statements snapshots (version 2).
	Snapshots []Snapshot
	// Trailer is nil when the file was cut off (the sampler was killed);
	// the samples before the cut are still good.
	Trailer *Trailer
}

// ReadFile reads a samples file. Damage after the header stops the read
// with an error naming the line.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	// A pg_stat_statements snapshot of thousands of queries is one line.
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	out := &File{}
	line, bad := 0, 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if bad > 0 {
			return nil, fmt.Errorf("read samples %s:%d: malformed sample", path, bad)
		}
		if line == 1 {
			var h struct{ Header *Header }
			if err := json.Unmarshal(b, &h); err != nil || h.Header == nil || h.Header.Format != "pgrehearse-samples" {
				return nil, fmt.Errorf("read samples %s: not a samples file (from pgrehearse sample)", path)
			}
			if h.Header.Version > FormatVersion {
				return nil, fmt.Errorf("read samples %s: version %d is newer than this pgrehearse reads (%d): upgrade pgrehearse", path, h.Header.Version, FormatVersion)
			}
			if h.Header.IntervalMS <= 0 {
				// Every rate is per interval: a file without one can
				// not be read into series.
				return nil, fmt.Errorf("read samples %s: the header's interval_ms is %d: not a samples file pgrehearse sample wrote whole; sample again", path, h.Header.IntervalMS)
			}
			out.Header = *h.Header
			continue
		}
		if out.Trailer != nil {
			return nil, fmt.Errorf("read samples %s:%d: data after the trailer", path, line)
		}
		if len(b) > 14 && string(b[:14]) == `{"statements":` {
			var sn struct{ Statements *Snapshot }
			if err := json.Unmarshal(b, &sn); err == nil && sn.Statements != nil {
				out.Snapshots = append(out.Snapshots, *sn.Statements)
				continue
			}
		}
		var t struct{ Trailer *Trailer }
		if json.Unmarshal(b, &t) == nil && t.Trailer != nil {
			out.Trailer = t.Trailer
			continue
		}
		var s Sample
		if err := json.Unmarshal(b, &s); err != nil || s.T.IsZero() {
			// Tolerated only as the half-written last line of a killed
			// sampler.
			bad = line
			continue
		}
		out.Samples = append(out.Samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read samples %s: %w", path, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("read samples %s: empty file", path)
	}
	return out, nil
}

// Source is a samples file as a metric source.
type Source struct {
	Path string
}

// String names the file.
func (s *Source) String() string { return "pg:" + s.Path }

// Fetch reads the file and derives the series for w.
func (s *Source) Fetch(ctx context.Context, w metrics.Window) (*metrics.Set, error) {
	f, err := ReadFile(s.Path)
	if err != nil {
		return nil, err
	}
	set := f.Series(w)
	set.Source = s.String()
	return set, nil
}

// Series derives the standard series from the samples in w: rates from
// the difference of consecutive samples, each point at the earlier one.
func (f *File) Series(w metrics.Window) *metrics.Set {
	set := &metrics.Set{Window: w}
	var in []Sample
	for _, s := range f.Samples {
		if !s.T.Before(w.Start) && !s.T.After(w.End) {
			in = append(in, s)
		}
	}
	if f.Trailer == nil {
		set.Warnings = append(set.Warnings, "the samples file has no trailer: the sampler was stopped abruptly; the samples it wrote are used")
	}
	if len(in) < 2 {
		set.Statements, _ = f.statements(w)
		set.Warnings = append(set.Warnings, fmt.Sprintf("%s: %d samples inside the window %s – %s: no series (was the sampler running then?)",
			f.Header.Target, len(in), w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339)))
		return set
	}
	period := time.Duration(f.Header.IntervalMS) * time.Millisecond
	src := "pg " + f.Header.Target + " "
	type rate struct {
		metric, source string
		caveats        []string
		value          func(a, b *Sample, dt float64) (float64, bool)
	}
	counter := func(get func(*Sample) int64) func(a, b *Sample, dt float64) (float64, bool) {
		return func(a, b *Sample, dt float64) (float64, bool) {
			x, y := get(a), get(b)
			if x < 0 || y < 0 || y < x {
				// Absent, or reset by a restart or pg_stat_reset.
				return 0, false
			}
			return float64(y-x) / dt, true
		}
	}
	var rates []rate
	if f.Header.CPU == "proc" {
		ncpu, hz := float64(max(f.Header.CPUs, 1)), float64(max(f.Header.ClockTicks, 1))
		rates = append(rates, rate{metrics.CPU, src + "postmaster and children from /proc",
			[]string{fmt.Sprintf("percent of this host's %d CPUs, measured from /proc; other clusters on the host are not counted", int(ncpu))},
			func(a, b *Sample, dt float64) (float64, bool) {
				v, ok := counter(func(s *Sample) int64 { return s.CPUTicks })(a, b, dt)
				return v / hz / ncpu * 100, ok
			}})
	} else {
		set.Warnings = append(set.Warnings, "cpu: not measured: "+f.Header.CPUWhyNot)
	}
	if f.Header.ServerVersion >= 160000 {
		rates = append(rates,
			rate{metrics.ReadIOPS, src + "pg_stat_io reads", []string{"reads PostgreSQL asked the OS for (page cache hits included), not device I/O"}, counter(func(s *Sample) int64 { return s.IOReads })},
			rate{metrics.WriteIOPS, src + "pg_stat_io writes", []string{"buffer writes PostgreSQL issued (WAL excluded), not device I/O"}, counter(func(s *Sample) int64 { return s.IOWrites })})
	} else {
		rates = append(rates,
			rate{metrics.ReadIOPS, src + "pg_stat_database blks_read", []string{"blocks read from outside shared buffers, OS page cache hits included: an upper bound on device reads, not like-for-like with CloudWatch ReadIOPS"}, counter(func(s *Sample) int64 { return s.BlksRead })},
			rate{metrics.WriteIOPS, src + "pg_stat_bgwriter buffers written + pg_stat_wal wal_write", []string{"data buffers written by checkpointer, bgwriter and backends plus WAL write calls: operations PostgreSQL issued, not device I/O"},
				func(a, b *Sample, dt float64) (float64, bool) {
					bw, ok := counter(func(s *Sample) int64 { return s.BuffersWritten })(a, b, dt)
					if !ok {
						return 0, false
					}
					if ww, ok := counter(func(s *Sample) int64 { return s.WALWrites })(a, b, dt); ok {
						bw += ww
					}
					return bw, true
				}})
	}
	rates = append(rates, rate{metrics.Commits, src + "pg_stat_database xact_commit", nil, counter(func(s *Sample) int64 { return s.Commits })})
	for _, r := range rates {
		s := metrics.Series{Metric: r.metric, Unit: metrics.Unit(r.metric), Period: period, Source: r.source, Caveats: r.caveats}
		for i := 1; i < len(in); i++ {
			dt := in[i].T.Sub(in[i-1].T).Seconds()
			if dt <= 0 {
				continue
			}
			if v, ok := r.value(&in[i-1], &in[i], dt); ok {
				s.Points = append(s.Points, metrics.Point{T: in[i-1].T, V: v})
			}
		}
		if len(s.Points) > 0 {
			set.Series = append(set.Series, s)
		}
	}
	conns := metrics.Series{Metric: metrics.Connections, Unit: metrics.Unit(metrics.Connections), Period: period, Source: src + "pg_stat_database numbackends"}
	lag := metrics.Series{Metric: metrics.ReplicaLag, Unit: "ms", Period: period, Source: src + "pg_stat_replication replay_lag, worst replica",
		Caveats: []string{"replay_lag is the time for WAL to be replayed on the standby; an idle primary reports no lag, counted as 0"}}
	replicas := false
	for _, s := range in {
		conns.Points = append(conns.Points, metrics.Point{T: s.T, V: float64(s.Backends)})
		if len(s.Replicas) == 0 {
			continue
		}
		replicas = true
		worst, ok := 0.0, false
		for _, r := range s.Replicas {
			switch {
			case r.LagMS != nil:
				worst, ok = max(worst, *r.LagMS), true
			case r.BytesBehind == 0:
				ok = true // caught up and idle: no lag
			}
		}
		if ok {
			lag.Points = append(lag.Points, metrics.Point{T: s.T, V: worst})
		}
	}
	set.Series = append(set.Series, conns)
	if replicas && len(lag.Points) > 0 {
		set.Series = append(set.Series, lag)
	} else {
		set.Warnings = append(set.Warnings, "replica_lag: no streaming replica was connected while sampling")
	}
	set.Series = append(set.Series, ioByBackend(in, period, src)...)
	st, why := f.statements(w)
	set.Statements = st
	if why != "" {
		set.Warnings = append(set.Warnings, why)
	}
	return set
}

// ioByBackend derives read_iops:BACKEND and write_iops:BACKEND from
// pg_stat_io (16+), one pair of series per backend type.
func ioByBackend(in []Sample, period time.Duration, src string) []metrics.Series {
	kinds := map[string]bool{}
	for _, s := range in {
		for k := range s.IOByBackend {
			kinds[k] = true
		}
	}
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []metrics.Series
	for _, k := range names {
		for j, m := range []string{metrics.ReadIOPS, metrics.WriteIOPS} {
			s := metrics.Series{Metric: m + ":" + k, Unit: "ops/s", Period: period, Source: src + "pg_stat_io " + []string{"reads", "writes"}[j] + " of " + k}
			for i := 1; i < len(in); i++ {
				a, okA := in[i-1].IOByBackend[k]
				b, okB := in[i].IOByBackend[k]
				dt := in[i].T.Sub(in[i-1].T).Seconds()
				if !okA || !okB || dt <= 0 || b[j] < a[j] {
					continue
				}
				s.Points = append(s.Points, metrics.Point{T: in[i-1].T, V: float64(b[j]-a[j]) / dt})
			}
			if len(s.Points) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}
