package compare

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// nanSource serves CPU with every other point NaN, as Prometheus does
// where it has no value.
type nanSource struct{ cpu float64 }

func (nanSource) String() string { return "nan" }

func (s nanSource) Fetch(_ context.Context, w metrics.Window) (*metrics.Set, error) {
	ser := metrics.Series{Metric: metrics.CPU, Unit: "%", Period: 100 * time.Millisecond, Source: "nan"}
	i := 0
	for t := w.Start; !t.After(w.End); t = t.Add(100 * time.Millisecond) {
		v := s.cpu
		if i%2 == 1 {
			v = math.NaN()
		}
		ser.Points = append(ser.Points, metrics.Point{T: t, V: v})
		i++
	}
	return &metrics.Set{Source: "nan", Window: w, Series: []metrics.Series{ser}}, nil
}

// TestBuildWithNaNPoints: NaN points do not make a NaN mean that fails a
// gate: the gates judge the numbers there are.
func TestBuildWithNaNPoints(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	res := replayShard(t, wl, pgtest.DSN(t), filepath.Join(dir, "r.jsonl"), 0, 0)
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Baseline: nanSource{40}, Candidate: nanSource{42}, Warmup: 0,
		Gates: []Gate{mustGate(t, "cpu.mean <= baseline * 1.10"), mustGate(t, "cpu.p95 < 80")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Metrics) != 1 || c.Metrics[0].Candidate == nil || c.Metrics[0].Candidate.Mean != 42 || c.Metrics[0].Baseline.Mean != 40 {
		t.Fatalf("metrics %+v", c.Metrics)
	}
	for _, g := range c.Gates {
		if g.Status != Pass {
			t.Errorf("gate %s: %s (%s)", g.Expr, g.Status, g.Note)
		}
	}
}
