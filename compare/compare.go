package compare

import (
	"context"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/parse"
)

// Input is what Build compares.
type Input struct {
	Workload string
	Results  []string
	// Baseline and Candidate are the metric sources (nil: none).
	Baseline, Candidate metrics.Source
	Gates               []Gate
	// Warmup is dropped from the start of both sides' metrics; negative
	// means the default (10 % of the window, at most 60 s).
	Warmup time.Duration
	// Top is how many queries the latency tables show (default 10).
	Top int
	// CandidateLogs are the candidate's own statement logs from the
	// replay (log_min_duration_statement = 0), parsed with
	// CandidateLogOptions. With them latency is compared server-side on
	// both sides, which is like for like; without them the candidate's
	// client-side latency minus the measured round trip stands in.
	CandidateLogs       []string
	CandidateLogOptions parse.Options
	// ShowParams puts the first failing statement of each new error,
	// with its parameter values, in the document. Off by default: the
	// values are production data.
	ShowParams bool
	// ControlResults are the results files of a control replay (shards
	// merge), Control its metric source (nil: none).
	ControlResults []string
	Control        metrics.Source
}

// Build reads the workload and the results, fetches the metrics, and
// evaluates the gates.
func Build(ctx context.Context, in Input) (*Comparison, error) {
	c := &Comparison{Format: "pgrehearse-comparison", Version: FormatVersion, Generated: time.Now().UTC().Format(time.RFC3339)}
	if in.Top <= 0 {
		in.Top = 10
	}
	queries := queryTable{}
	// The results must be of this workload and cover it once.
	cov, err := checkResults(in.Workload, in.Results)
	if err != nil {
		return nil, err
	}
	in.Results = cov.use
	// The workload: capture window, server-side durations, errors.
	capt, err := readCapture(ctx, in.Workload, queries, &cov.window)
	if err != nil {
		return nil, err
	}
	c.Fidelity.setCapture(in.Workload, capt.trailer)

	// The results, merged across shards.
	rs, err := readReplays(ctx, in, capt, queries, &c.Fidelity)
	if err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, rs.warnings...)
	cov.finish(c, capt)
	c.replayFidelity(rs, capt)
	if err := c.compareLatency(ctx, in, queries, capt.base, rs); err != nil {
		return nil, err
	}
	if err := c.compareErrors(ctx, rs.errors, capt, queries, in.Workload); err != nil {
		return nil, err
	}
	if err := c.addControl(ctx, in, capt, queries); err != nil {
		return nil, err
	}
	c.addCollation(in)

	// Cluster metrics on the time-since-start axis.
	if err := c.addMetrics(ctx, in); err != nil {
		return nil, err
	}
	c.addControlMetrics(ctx, in)

	c.Judge(in.Gates)
	return c, nil
}
