package metrics

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// rate metrics count work per second: a replay at speed 2 does the same
// work in half the time, so their candidate values are divided by the
// speed before they are compared with the baseline's. DB load is one of
// them: it is seconds spent in the database per second.
var rate = map[string]bool{ReadIOPS: true, WriteIOPS: true, Commits: true, DBLoad: true, DBLoadCPU: true, DBLoadNonCPU: true,
	VolumeReadIOPS: true, VolumeWriteIOPS: true}

// peak metrics are maxima over their period (the worst replica's lag): a
// period that only partly overlaps the window cannot be scaled down to
// the overlap, so it counts whole.
var peak = map[string]bool{ReplicaLag: true}

// Aligned is a series on the time-since-start axis, in buckets of one
// period, with the warm-up dropped.
type Aligned struct {
	Metric string        `json:"metric"`
	Unit   string        `json:"unit"`
	Period time.Duration `json:"period"`
	// Offsets are the buckets' starts since the window's start, in
	// workload time (replay time multiplied by the speed).
	Offsets []time.Duration `json:"offsets"`
	Values  []float64       `json:"values"`
	Source  string          `json:"source"`
	Caveats []string        `json:"caveats,omitempty"`
	// Warmup is kept in the series, for charts, but Points leaves it out
	// of the statistics.
	Warmup time.Duration `json:"warmup"`
	// Window is the window's length in workload time (0: not known); the
	// last bucket ends there.
	Window time.Duration `json:"window,omitempty"`
	// SourcePeriod is the period of the source's points, and Periods how
	// many of them overlap the window.
	SourcePeriod time.Duration `json:"source_period,omitempty"`
	Periods      int           `json:"periods,omitempty"`
}

// Align puts s on the time since start; see AlignWindow. The window's end
// is not known, so the last point is not clipped.
func Align(s *Series, start time.Time, period time.Duration, speed float64, warmup time.Duration) Aligned {
	return AlignWindow(s, Window{Start: start}, period, speed, warmup)
}

// AlignWindow puts s on the time since w's start, in buckets of period,
// in workload time: offsets are multiplied by speed, and rate metrics
// divided by it.
//
// Each point covers its own period from its timestamp (a 60 s CloudWatch
// point stamped 12:21:00 covers 12:21:00–12:22:00). A point belongs to
// every bucket its period overlaps inside the window, weighted by the
// overlap: a point stamped before the window that covers its start is
// the window's first period, not dropped, and a window shorter than the
// source's period still gets that one period. Peak metrics count whole
// wherever they overlap. Empty buckets are left out, and so are points
// whose value is NaN or ±Inf (Prometheus returns them where it has no
// value): averaged in, one would make the whole figure NaN. Points in
// the first warmup of workload time stay in the series but not in
// Points: connection pools, caches and JIT are still settling there.
func AlignWindow(s *Series, w Window, period time.Duration, speed float64, warmup time.Duration) Aligned {
	if speed <= 0 {
		speed = 1
	}
	if period <= 0 {
		period = max(s.Period, time.Second)
	}
	a := Aligned{Metric: s.Metric, Unit: s.Unit, Period: period, Source: s.Source, Caveats: s.Caveats, Warmup: warmup, SourcePeriod: s.Period}
	if speed != 1 && rate[s.Metric] {
		a.Caveats = append(a.Caveats, fmt.Sprintf("replayed at speed %g: divided by %g to compare per unit of workload", speed, speed))
	} else if speed != 1 && (s.Metric == CPU) {
		a.Caveats = append(a.Caveats, fmt.Sprintf("replayed at speed %g: CPU is higher than the same load at speed 1 would give", speed))
	}
	scale := func(d time.Duration) time.Duration { return time.Duration(math.Round(float64(d) * speed)) }
	if !w.End.IsZero() && w.End.After(w.Start) {
		a.Window = scale(w.End.Sub(w.Start))
	}
	// A running weighted mean, not a sum divided at the end: a bucket
	// whose points all hold one value keeps exactly that value, so a gate
	// at its boundary (50 <= 40 * 1.25) does not flip on rounding.
	means, weights := map[int64]float64{}, map[int64]float64{}
	var keys []int64
	add := func(k int64, v, wt float64) {
		if _, ok := weights[k]; !ok {
			keys = append(keys, k)
		}
		if wt <= 0 {
			return
		}
		weights[k] += wt
		means[k] += (v - means[k]) * (wt / weights[k])
	}
	unusable := 0
	for _, p := range s.Points {
		v := p.V
		if math.IsNaN(v) || math.IsInf(v, 0) {
			unusable++
			continue
		}
		if rate[s.Metric] {
			v /= speed
		}
		from := scale(p.T.Sub(w.Start))
		if s.Period <= 0 {
			// An instant: it falls in one bucket, if inside the window.
			if from < 0 || a.Window > 0 && from > a.Window {
				continue
			}
			a.Periods++
			add(int64(from/period), v, 1)
			continue
		}
		to := from + scale(s.Period)
		lo, hi := max(from, 0), to
		if a.Window > 0 {
			hi = min(hi, a.Window)
		}
		if hi <= lo {
			continue // outside the window
		}
		a.Periods++
		for k := int64(lo / period); time.Duration(k)*period < hi; k++ {
			bs, be := time.Duration(k)*period, time.Duration(k+1)*period
			ov := min(be, hi) - max(bs, lo)
			if ov <= 0 {
				continue
			}
			wt := float64(ov) / float64(to-from)
			if peak[s.Metric] {
				wt = 1
			}
			add(k, v, wt)
		}
	}
	if unusable > 0 {
		a.Caveats = append(a.Caveats, fmt.Sprintf("%d of the source's %d points were NaN or ±Inf (no value there) and were left out", unusable, len(s.Points)))
	}
	slices.Sort(keys)
	for _, k := range keys {
		if weights[k] <= 0 {
			continue
		}
		a.Offsets = append(a.Offsets, time.Duration(k)*period)
		a.Values = append(a.Values, means[k])
	}
	return a
}

// Points returns a's values after the warm-up, as points for Summarize.
// A bucket counts when at least half of its time inside the window comes
// after the warm-up: with periods coarser than the warm-up (a one-minute
// point for a 37 s window) the figure is that period or nothing.
func (a Aligned) Points() []Point {
	ps := make([]Point, 0, len(a.Values))
	for i, v := range a.Values {
		if i >= len(a.Offsets) {
			break
		}
		start, end := a.Offsets[i], a.Offsets[i]+a.Period
		if a.Window > 0 && a.Window > start {
			end = min(end, a.Window)
		}
		if end <= start {
			end = start + time.Nanosecond
		}
		after := end - max(start, a.Warmup)
		if 2*after >= end-start {
			ps = append(ps, Point{T: time.Unix(0, 0).Add(a.Offsets[i]), V: v})
		}
	}
	return ps
}
