package compare

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sync/errgroup"

	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/parse"
)

// compareLatency sets the candidate's statement latency beside
// production's, overall and per normalised query. The log's durations are
// server-side; client latencies minus the measured round trip are set
// beside them, unless the candidate's own log gives server-side durations
// too.
func (c *Comparison) compareLatency(ctx context.Context, in Input, queries queryTable, baseAll *hdrhistogram.Histogram, rs *replays) error {
	candAll := rs.cand
	c.Latency.Basis = "baseline: server-side durations from the log; candidate: client-side latency minus the round trip measured before the replay"
	if rs.rtt == 0 {
		c.Latency.Basis = "baseline: server-side durations from the log; candidate: client-side latency (round trip not measured, so it is included)"
	}
	if len(in.CandidateLogs) > 0 {
		serverAll, err := candidateDurations(ctx, in, queries, c.Fidelity.ReplayStart, c.Fidelity.ReplayEnd)
		if err != nil {
			return err
		}
		if serverAll.TotalCount() == 0 {
			c.Warnings = append(c.Warnings, "the candidate's log has no durations of the workload's statements in the replay window: set log_min_duration_statement = 0 on the candidate while replaying; client-side latency is used instead")
		} else {
			candAll = serverAll
			c.Latency.Basis = "server-side durations from the logs on both sides (the candidate's log written during the replay)"
			for _, s := range queries {
				if s.server != nil {
					s.cand = s.server
				}
			}
		}
	}
	if baseAll.TotalCount() == 0 {
		c.Latency.Basis = "candidate only; the log has no durations (set log_min_duration_statement = 0 when capturing to compare latency)"
	}
	c.Latency.Baseline, c.Latency.Candidate = pcts(baseAll), pcts(candAll)
	var rows []Query
	for id, s := range queries {
		if s.cand == nil {
			continue
		}
		row := Query{Fingerprint: id.String(), Text: s.text, Calls: s.calls, TotalMS: float64(s.totalUS) / 1000, Baseline: pcts(s.base), Candidate: pcts(s.cand)}
		if s.server != nil && s.server == s.cand {
			row.TotalMS = s.server.Mean() * float64(s.server.TotalCount()) / 1000
		}
		if row.Baseline != nil && row.Baseline.P99 > 0 {
			row.RatioP99 = row.Candidate.P99 / row.Baseline.P99
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].TotalMS > rows[j].TotalMS || rows[i].TotalMS == rows[j].TotalMS && rows[i].Fingerprint < rows[j].Fingerprint
	})
	c.Latency.Top = rows[:min(in.Top, len(rows))]
	var reg []Query
	for _, row := range rows {
		if row.RatioP99 > 1 && row.Calls >= 10 {
			reg = append(reg, row)
		}
	}
	sort.Slice(reg, func(i, j int) bool { return reg[i].RatioP99 > reg[j].RatioP99 })
	c.Latency.Regressed = reg[:min(in.Top, len(reg))]
	return nil
}

// candidateDurations reads the server-side durations of the workload's
// queries from the candidate's own log, within the replay window.
func candidateDurations(ctx context.Context, in Input, queries queryTable, from, to time.Time) (*hdrhistogram.Histogram, error) {
	all := newHist()
	opt := in.CandidateLogOptions
	opt.Uncompressed = true
	opt.Applications = append(append([]string(nil), opt.Applications...), "!"+pgsample.ApplicationName)
	// The log is parsed into a pipe and read as it comes: a production
	// hour's workload need not sit in memory. A damaged line or a log
	// without statements still leaves a valid workload; only a log that
	// cannot be read at all stops the compare.
	pr, pw := io.Pipe()
	var g errgroup.Group
	g.Go(func() error {
		// A summary means the workload was written, trailer included.
		sum, err := parse.Run(ctx, in.CandidateLogs, pw, opt)
		if sum != nil {
			err = nil
		}
		pw.CloseWithError(err)
		return nil
	})
	// Closing the pipe fails the parse's next write, which ends it.
	defer func() {
		pr.Close()
		g.Wait()
	}()
	lo, hi := from.Add(-time.Second).UnixMicro(), to.Add(time.Second).UnixMicro()
	_, err := events(ctx, "the candidate's log", pr, func(ev *parse.Event) bool {
		if ev.Kind != parse.Statement || ev.Duration < 0 || ev.Err != nil || ev.Time < lo || ev.Time > hi {
			return true
		}
		if s := queries[ev.Fingerprint]; s != nil {
			if s.server == nil {
				s.server = newHist()
			}
			s.server.RecordValue(max(ev.Duration, 1))
			all.RecordValue(max(ev.Duration, 1))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// events streams the events of a workload to each until it returns
// false, and returns the trailer: nil when the workload was cut off or
// each stopped early.
func events(ctx context.Context, name string, src io.Reader, each func(*parse.Event) bool) (*parse.Summary, error) {
	r, err := parse.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("compare: %s: %w", name, err)
	}
	defer r.Close()
	for ev, err := range r.Events() {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", name, err)
		}
		if !each(ev) {
			return nil, nil
		}
	}
	return r.Trailer(), nil
}

// eachEvent is events over the workload file at path.
func eachEvent(ctx context.Context, path string, each func(*parse.Event) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	defer f.Close()
	_, err = events(ctx, "workload "+path, bufio.NewReaderSize(f, 256<<10), each)
	return err
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)
}

func pcts(h *hdrhistogram.Histogram) *Pcts {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return &Pcts{Count: h.TotalCount(), P50: ms(50), P95: ms(95), P99: ms(99)}
}
