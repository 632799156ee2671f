package metrics

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr bool
	}{
		{in: "cloudwatch:instance=db-1,region=eu-west-1", want: Spec{Kind: "cloudwatch", Options: map[string]string{"instance": "db-1", "region": "eu-west-1"}}},
		{in: "cloudwatch:instance=db-1,replicas=r-1;r-2", want: Spec{Kind: "cloudwatch", Options: map[string]string{"instance": "db-1", "replicas": "r-1;r-2"}}},
		{in: "cloudwatch:cluster=aur", want: Spec{Kind: "cloudwatch", Options: map[string]string{"cluster": "aur"}}},
		{in: "pg:host=h user=u dbname=d options='-c a=b,c'", want: Spec{Kind: "pg", Arg: "host=h user=u dbname=d options='-c a=b,c'", Options: map[string]string{}}},
		{in: "pg:baseline.samples.jsonl", want: Spec{Kind: "pg", Arg: "baseline.samples.jsonl", Options: map[string]string{}}},
		{in: "prometheus:http://prom:9090,instance=db:9187", want: Spec{Kind: "prometheus", Arg: "http://prom:9090", Options: map[string]string{"instance": "db:9187"}}},
		{in: "prometheus:prom:9090", wantErr: true},
		{in: "datadog:x", wantErr: true},
		{in: "nokind", wantErr: true},
		{in: "pg:", wantErr: true},
		{in: "cloudwatch:instance", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSpec(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestKnown(t *testing.T) {
	for _, m := range []string{CPU, ReadIOPS, WriteIOPS, ReplicaLag} {
		if !Known(m) {
			t.Errorf("%s unknown", m)
		}
	}
	if Known("cpu_p95") {
		t.Error("cpu_p95 known")
	}
}

func TestSummarize(t *testing.T) {
	var ps []Point
	for i := 1; i <= 100; i++ {
		ps = append(ps, Point{V: float64(101 - i)})
	}
	got := Summarize(ps)
	if got.N != 100 || got.Mean != 50.5 || got.P95 != 95 || got.Max != 100 {
		t.Errorf("Summarize(1..100) = %+v", got)
	}
	if s := Summarize(nil); s.N != 0 {
		t.Errorf("Summarize(nil) = %+v", s)
	}
	if s := Summarize([]Point{{V: 7}}); s.P95 != 7 || s.Max != 7 {
		t.Errorf("one point: %+v", s)
	}
	// A constant series' mean is its value exactly.
	for _, v := range []float64{33.3, 0.1, 1.0 / 3} {
		c := make([]Point, 37)
		for i := range c {
			c[i].V = v
		}
		if s := Summarize(c); s.Mean != v {
			t.Errorf("mean of 37 × %v = %v", v, s.Mean)
		}
	}
}

func TestAlign(t *testing.T) {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var ps []Point
	for i := 0; i < 60; i++ {
		ps = append(ps, Point{T: start.Add(time.Duration(i) * time.Second), V: float64(i)})
	}
	// At speed 2, 60 s of replay is 120 s of workload: 10 s buckets from
	// 20 s (warm-up) on, rates halved.
	a := Align(&Series{Metric: Commits, Points: ps}, start, 10*time.Second, 2, 20*time.Second)
	if len(a.Offsets) != 12 || a.Offsets[0] != 0 || a.Offsets[11] != 110*time.Second {
		t.Fatalf("offsets %v", a.Offsets)
	}
	// The warm-up stays in the series but not in the statistics.
	after := a.Points()
	if len(after) != 10 {
		t.Fatalf("%d points after the warm-up, want 10", len(after))
	}
	// Bucket 20–30 s of workload is replay seconds 10..14: mean 12, halved.
	if after[0].V != 6 || len(a.Caveats) == 0 {
		t.Errorf("first bucket after warm-up %v, caveats %v", after[0].V, a.Caveats)
	}
	c := Align(&Series{Metric: CPU, Points: ps}, start, 10*time.Second, 1, 0)
	if len(c.Values) != 6 || c.Values[0] != 4.5 || len(c.Caveats) != 0 {
		t.Errorf("cpu at speed 1: %v %v", c.Values, c.Caveats)
	}
}

// TestAlignCoarsePeriod: a one-minute point stamped 12:21:00 covers a
// capture 12:21:11–12:21:48 entirely: the window gets that one period,
// warm-up or not, instead of nothing.
func TestAlignCoarsePeriod(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	w := Window{Start: at("2026-11-22T12:21:11Z"), End: at("2026-11-22T12:21:48Z")}
	s := &Series{Metric: CPU, Period: time.Minute, Points: []Point{{T: at("2026-11-22T12:21:00Z"), V: 42}}}
	a := AlignWindow(s, w, time.Minute, 1, 3700*time.Millisecond)
	if len(a.Values) != 1 || a.Values[0] != 42 || a.Periods != 1 || a.Window != 37*time.Second {
		t.Fatalf("aligned %+v", a)
	}
	if ps := a.Points(); len(ps) != 1 || ps[0].V != 42 {
		t.Errorf("points after a 3.7 s warm-up: %v", ps)
	}
	// Points wholly outside the window do not count.
	s.Points = append(s.Points, Point{T: at("2026-11-22T12:20:00Z"), V: 1}, Point{T: at("2026-11-22T12:22:00Z"), V: 1})
	if a := AlignWindow(s, w, time.Minute, 1, 0); len(a.Values) != 1 || a.Values[0] != 42 || a.Periods != 1 {
		t.Errorf("neighbours leaked in: %+v", a)
	}
}

// TestAlignMidPeriodStart: a ten-minute window starting 11 s into a
// period keeps its first period, and each bucket is the overlap-weighted
// mean of the two periods it straddles; a peak metric takes them whole.
func TestAlignMidPeriodStart(t *testing.T) {
	base := time.Date(2026, 11, 22, 12, 21, 0, 0, time.UTC)
	w := Window{Start: base.Add(11 * time.Second), End: base.Add(11*time.Second + 10*time.Minute)}
	s := &Series{Metric: ReadIOPS, Period: time.Minute}
	for i := 0; i <= 10; i++ {
		s.Points = append(s.Points, Point{T: base.Add(time.Duration(i) * time.Minute), V: float64(60 * i)})
	}
	a := AlignWindow(s, w, time.Minute, 1, time.Minute)
	if a.Periods != 11 || len(a.Values) != 10 {
		t.Fatalf("%d periods overlap, %d buckets: %v", a.Periods, len(a.Values), a.Values)
	}
	// Bucket 0 is 49 s of the first period (0) and 11 s of the second (60).
	if math.Abs(a.Values[0]-11) > 1e-9 || math.Abs(a.Values[9]-(540*49+600*11)/60.0) > 1e-9 {
		t.Errorf("weighted buckets %v", a.Values)
	}
	if n := len(a.Points()); n != 9 {
		t.Errorf("%d buckets after a one-minute warm-up, want 9", n)
	}
	s.Metric = ReplicaLag
	if p := AlignWindow(s, w, time.Minute, 1, 0); p.Values[0] != 30 {
		t.Errorf("peak bucket 0 = %v, want the plain mean 30", p.Values[0])
	}
}

// TestAlignConstantExact: a series that holds one value aligns to exactly
// that value whatever the window's offset, speed and period, so a gate at
// its boundary (50 <= 40 * 1.25) is decided by the figures, not rounding.
func TestAlignConstantExact(t *testing.T) {
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, v := range []float64{50, 40, 0.1, 33.3} {
		for _, speed := range []float64{1, 2, 3.7} {
			for off := time.Duration(0); off < 100*time.Millisecond; off += 7 * time.Millisecond {
				s := &Series{Metric: CPU, Period: 100 * time.Millisecond}
				for i := 0; i < 40; i++ {
					s.Points = append(s.Points, Point{T: base.Add(time.Duration(i) * 100 * time.Millisecond), V: v})
				}
				w := Window{Start: base.Add(off), End: base.Add(off + 3*time.Second + 13*time.Millisecond)}
				a := AlignWindow(s, w, 70*time.Millisecond, speed, 0)
				if len(a.Values) == 0 {
					t.Fatalf("value %v speed %v offset %v: no buckets", v, speed, off)
				}
				for i, got := range a.Values {
					if got != v {
						t.Errorf("value %v speed %v offset %v: bucket %d = %v", v, speed, off, i, got)
						break
					}
				}
			}
		}
	}
}
