package metrics

import (
	"fmt"
	"slices"
	"time"
)

// Rate metrics count work per second: a replay at speed 2 does the same
// work in half the time, so their candidate values are divided by the
// speed before they are compared with the baseline's.
var Rate = map[string]bool{ReadIOPS: true, WriteIOPS: true, Commits: true}

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
}

// Align puts s on the time since start, in buckets of period (the mean of
// the points in each; empty buckets are left out), in workload time:
// offsets are multiplied by speed, and rate metrics divided by it. Points
// in the first warmup of workload time stay in the series but not in
// Points: connection pools, caches and JIT are still settling there.
func Align(s *Series, start time.Time, period time.Duration, speed float64, warmup time.Duration) Aligned {
	if speed <= 0 {
		speed = 1
	}
	a := Aligned{Metric: s.Metric, Unit: s.Unit, Period: period, Source: s.Source, Caveats: s.Caveats, Warmup: warmup}
	if speed != 1 && Rate[s.Metric] {
		a.Caveats = append(a.Caveats, fmt.Sprintf("replayed at speed %g: divided by %g to compare per unit of workload", speed, speed))
	} else if speed != 1 && (s.Metric == CPU) {
		a.Caveats = append(a.Caveats, fmt.Sprintf("replayed at speed %g: CPU is higher than the same load at speed 1 would give", speed))
	}
	sums := map[int64]float64{}
	counts := map[int64]int{}
	var keys []int64
	for _, p := range s.Points {
		off := time.Duration(float64(p.T.Sub(start)) * speed)
		if off < 0 {
			continue
		}
		k := int64(off / period)
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		v := p.V
		if Rate[s.Metric] {
			v /= speed
		}
		sums[k] += v
		counts[k]++
	}
	slices.Sort(keys)
	for _, k := range keys {
		a.Offsets = append(a.Offsets, time.Duration(k)*period)
		a.Values = append(a.Values, sums[k]/float64(counts[k]))
	}
	return a
}

// Points returns a's values after the warm-up, as points for Summarize.
func (a Aligned) Points() []Point {
	ps := make([]Point, 0, len(a.Values))
	for i, v := range a.Values {
		if a.Offsets[i] >= a.Warmup {
			ps = append(ps, Point{T: time.Unix(0, 0).Add(a.Offsets[i]), V: v})
		}
	}
	return ps
}
