package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// FormatVersion is the comparison document's version
// (docs/comparison-format.md).
const FormatVersion = 2

// Result is a verdict's answer.
type Result string

// Verdicts.
const (
	GO           Result = "GO"
	NOGO         Result = "NO-GO"
	INCONCLUSIVE Result = "INCONCLUSIVE"
)

// Comparison is the document every report renders.
type Comparison struct {
	Format    string       `json:"format"`
	Version   int          `json:"version"`
	Generated string       `json:"generated"`
	Verdict   Verdict      `json:"verdict"`
	Fidelity  Fidelity     `json:"fidelity"`
	Metrics   []Metric     `json:"metrics"`
	Latency   Latency      `json:"latency"`
	Errors    Errors       `json:"errors"`
	Gates     []GateResult `json:"gates"`
	// DefaultGates is set when no gates were given and the defaults ran.
	DefaultGates bool     `json:"default_gates"`
	Warnings     []string `json:"warnings,omitempty"`

	// Waits are the wait events and statements side by side (from
	// Performance Insights), ServerQueries the servers' own per-query
	// figures (from pg_stat_statements), where the sources have them.
	Waits         *Waits         `json:"waits,omitempty"`
	ServerQueries *ServerQueries `json:"server_queries,omitempty"`

	// Control is the control replayed beside the candidate (control.go)
	// and Divergence their answers set side by side (divergence.go); nil
	// without one. DefaultGatesBasis says what the default gates compared
	// the candidate with. Collation is the replay's collation pre-flight.
	Control           *Control               `json:"control,omitempty"`
	Divergence        *Divergence            `json:"divergence,omitempty"`
	DefaultGatesBasis string                 `json:"default_gates_basis,omitempty"`
	Collation         *replay.CollationCheck `json:"collation,omitempty"`
}

// Verdict is the answer: GO, NO-GO or INCONCLUSIVE, why, and what next.
type Verdict struct {
	Result Result   `json:"result"`
	Reason string   `json:"reason"`
	Next   []string `json:"next,omitempty"`
}

// Fidelity says how faithfully the replay reproduced the capture.
type Fidelity struct {
	Workload         string           `json:"workload"`
	CaptureStart     time.Time        `json:"capture_start"`
	CaptureEnd       time.Time        `json:"capture_end"`
	ReplayStart      time.Time        `json:"replay_start"`
	ReplayEnd        time.Time        `json:"replay_end"`
	Speed            float64          `json:"speed"`
	Shards           int              `json:"shards"`
	Statements       int64            `json:"statements"`
	Replayed         int64            `json:"replayed"`
	Skipped          map[string]int64 `json:"skipped,omitempty"`
	Sessions         int64            `json:"sessions"`
	OriginalSessions int64            `json:"original_sessions"`
	PeakSessions     int64            `json:"original_peak_sessions"`
	// OriginalPeakActive and ReplayPeakActive are the most sessions
	// between their first statement's start and their last statement's
	// end at one time, counted the same way on both sides so that the
	// concurrency the replay reproduced can be set against the capture's.
	OriginalPeakActive int64   `json:"original_peak_active"`
	ReplayPeakActive   int64   `json:"replay_peak_active"`
	LatenessP99MS      float64 `json:"lateness_p99_ms"`
	LatenessMaxMS      float64 `json:"lateness_max_ms"`
	LateShare          float64 `json:"late_over_100ms_share"`
	DurationS          float64 `json:"duration_s"`
	OriginalS          float64 `json:"original_duration_s"`
	BehindSchedule     bool    `json:"behind_schedule"`
	// Bottleneck is who made statements late when behind schedule:
	// "target" (the candidate was slower than production) or "replayer".
	Bottleneck  string   `json:"bottleneck,omitempty"`
	Diagnosis   []string `json:"diagnosis,omitempty"`
	Interrupted bool     `json:"interrupted"`
	// Pipelined counts statements sent in one pipeline with the one
	// before them, as production did; Retyped those the target needed
	// declared parameter types for.
	Pipelined int64 `json:"pipelined"`
	Retyped   int64 `json:"retyped,omitempty"`
	// Stalls are sessions whose backlog outgrew the replay's memory
	// because a statement ran long; LockWaits who held the locks
	// statements waited for on the target.
	Stalls    []replay.Stall    `json:"stalls,omitempty"`
	LockWaits []replay.LockWait `json:"lock_waits,omitempty"`
	// ResultStatements counts the workload's statements the results have
	// a line for (replayed, skipped or interrupted); Statements is the
	// workload's own count (its trailer's, or those in the replayed
	// window).
	ResultStatements int64 `json:"result_statements"`
	// Incomplete says why the results do not cover the whole workload: a
	// shard missing or given twice, a replay that stopped early, a
	// workload it could not read to the end. Any makes the verdict
	// INCONCLUSIVE.
	Incomplete []string `json:"incomplete,omitempty"`
	// InterruptedStatements counts statements the end of the replay cut
	// short (Ctrl-C's grace period): neither errors nor latencies.
	InterruptedStatements int64 `json:"interrupted_statements,omitempty"`
	// RefusedConnections counts sessions the candidate refused with
	// 53300 (too many connections); TargetMaxConnections is its
	// max_connections, when the replay asked.
	RefusedConnections   int64 `json:"refused_connections,omitempty"`
	TargetMaxConnections int   `json:"target_max_connections,omitempty"`
	// TargetUnreachableSince is when the target was lost, for a replay
	// that stopped because no connection could be made for
	// --unreachable-after (the earliest over the shards; RFC 3339, ""
	// otherwise). LostToOutage counts the statements (and production
	// errors raised again) that failed for want of a connection after
	// their session's last answer from it: neither errors of the
	// candidate nor latencies.
	TargetUnreachableSince string `json:"target_unreachable_since,omitempty"`
	LostToOutage           int64  `json:"lost_to_outage,omitempty"`
	// Unnamed counts named prepared statements the replay sent as
	// unnamed ones (replay --unnamed, through a transaction pooler): a
	// protocol change, each planned afresh.
	Unnamed int64 `json:"unnamed,omitempty"`
	// Sync is what replay --sync did (syncfidelity.go); nil without it.
	Sync *SyncFidelity `json:"sync,omitempty"`
	// Clocks sets the shards' clock offsets against the target side by
	// side (clocks.go), when the results recorded them.
	Clocks *Clocks `json:"clocks,omitempty"`
}

// Metric is one cluster metric side by side.
type Metric struct {
	Name            string           `json:"name"`
	Unit            string           `json:"unit"`
	Baseline        *metrics.Stats   `json:"baseline"`
	Candidate       *metrics.Stats   `json:"candidate"`
	BaselineSource  string           `json:"baseline_source,omitempty"`
	CandidateSource string           `json:"candidate_source,omitempty"`
	Caveats         []string         `json:"caveats,omitempty"`
	BaselineSeries  *metrics.Aligned `json:"baseline_series,omitempty"`
	CandidateSeries *metrics.Aligned `json:"candidate_series,omitempty"`
	// The control's side, when there is one.
	Control       *metrics.Stats   `json:"control,omitempty"`
	ControlSource string           `json:"control_source,omitempty"`
	ControlSeries *metrics.Aligned `json:"control_series,omitempty"`
	// WarmupS is the start of each series dropped from the figures.
	WarmupS float64 `json:"warmup_s"`
}

// Latency compares statement latency, overall and per query.
type Latency struct {
	// Basis says how the two sides were made comparable.
	Basis     string  `json:"basis"`
	Baseline  *Pcts   `json:"baseline"`
	Candidate *Pcts   `json:"candidate"`
	Top       []Query `json:"top"`
	Regressed []Query `json:"regressed"`
}

// Pcts are latency percentiles in ms.
type Pcts struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
}

// Query is one normalised query's latency on both sides.
type Query struct {
	Fingerprint string  `json:"fingerprint"`
	Text        string  `json:"query"`
	Calls       int64   `json:"calls"`
	TotalMS     float64 `json:"total_ms"`
	Baseline    *Pcts   `json:"baseline,omitempty"`
	Candidate   *Pcts   `json:"candidate"`
	// RatioP99 is candidate p99 / baseline p99 (0 without a baseline).
	RatioP99 float64 `json:"ratio_p99,omitempty"`
}

// Errors lists failures by SQLSTATE and query, each set beside what
// production did at the same statement.
type Errors struct {
	// New failed here and not in production (or with another SQLSTATE);
	// Both failed in both alike; Missing failed in production and not
	// here, with the reason.
	New     []ErrorCount `json:"new"`
	Both    []ErrorCount `json:"both"`
	Missing []ErrorCount `json:"missing"`
	Total   int64        `json:"total"`
	NewN    int64        `json:"new_count"`
	// MissingN counts production errors not reproduced; Reproduced those
	// that were, StandIns those of them raised by a stand-in because the
	// log lacked their values.
	MissingN   int64 `json:"missing_count"`
	Reproduced int64 `json:"reproduced"`
	StandIns   int64 `json:"stand_ins,omitempty"`
	// Outside counts production errors in no session (failed logins):
	// there is nothing to replay them in.
	Outside int64 `json:"outside_sessions,omitempty"`
	// LostToOutage lists, by SQLSTATE and query, the statements that
	// failed for want of a connection after the target was lost (a
	// replay stopped by --unreachable-after): the outage's, counted in
	// fidelity.lost_to_outage, not in new, total or missing.
	LostToOutage []ErrorCount `json:"lost_to_outage,omitempty"`
}

// ErrorCount is how often one query failed with one SQLSTATE.
type ErrorCount struct {
	SQLState    string `json:"sqlstate"`
	Fingerprint string `json:"fingerprint"`
	Query       string `json:"query"`
	Count       int64  `json:"count"`
	// Reason says why a missing error did not happen: "succeeded",
	// "other_sqlstate", or why the statement was not sent.
	Reason string `json:"reason,omitempty"`
	// Example is the first failing statement as production sent it, with
	// its parameter values; only with Input.ShowParams, because those
	// values are production data.
	Example *Example `json:"example,omitempty"`
}

// Example is one statement of the workload as it was logged.
type Example struct {
	Session uint64   `json:"session"`
	Index   int      `json:"index"`
	Text    string   `json:"text"`
	Params  []string `json:"params,omitempty"`
}

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

// DefaultGates are used when none are given. Gates on metrics no source
// provides are left out rather than made inconclusive.
var DefaultGates = []string{
	"errors.new == 0",
	"replay.lateness.p99 < 100ms",
	"latency.p99 <= baseline * 1.25",
	"cpu.p95 < 80",
	"cpu.p95 <= baseline * 1.25",
	"replica_lag.max < 1s",
	"db_load.p95 <= baseline * 1.2",
}

type qstat struct {
	text       string
	base, cand *hdrhistogram.Histogram
	// server holds the candidate's server-side durations, from its log.
	server  *hdrhistogram.Histogram
	calls   int64
	totalUS int64
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
	tr := capt.trailer
	fid := &c.Fidelity
	fid.Workload = in.Workload
	fid.CaptureStart, fid.CaptureEnd = time.UnixMicro(tr.FirstUS).UTC(), time.UnixMicro(tr.LastUS).UTC()
	fid.OriginalSessions, fid.PeakSessions = tr.Sessions, tr.PeakSessions
	fid.OriginalS = fid.CaptureEnd.Sub(fid.CaptureStart).Seconds()

	// The results, merged across shards.
	rs, err := readReplays(ctx, in, capt, queries, fid)
	if err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, rs.warnings...)
	cov.finish(c, capt)
	var clockWarnings []string
	fid.Clocks, clockWarnings = rs.clocks.judge()
	c.Warnings = append(c.Warnings, clockWarnings...)
	fid.OriginalPeakActive, fid.ReplayPeakActive = capt.spans.peak(), rs.spans.peak()
	if rs.lateness.TotalCount() > 0 {
		fid.LatenessP99MS = float64(rs.lateness.ValueAtQuantile(99)) / 1000
		fid.LatenessMaxMS = float64(rs.lateness.Max()) / 1000
	}
	if err := c.compareLatency(ctx, in, queries, capt.base, rs); err != nil {
		return nil, err
	}
	if err := rs.errors.fill(ctx, c, queries, in.Workload); err != nil {
		return nil, err
	}
	c.Errors.Outside = capt.outside
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

func (c *Comparison) addMetrics(ctx context.Context, in Input) error {
	fid := &c.Fidelity
	base := c.fetchMetrics(ctx, in.Baseline, metrics.Window{Start: fid.CaptureStart, End: fid.CaptureEnd}, "baseline")
	cand := c.fetchMetrics(ctx, in.Candidate, metrics.Window{Start: fid.ReplayStart, End: fid.ReplayEnd}, "candidate")
	if base == nil && cand == nil {
		return nil
	}
	c.addWaits(base, cand)
	c.addServerQueries(base, cand, in.Top)
	warm := in.warmup(fid)
	for _, name := range metrics.Names() {
		var bs, cs *metrics.Series
		if base != nil {
			bs = base.Get(name)
		}
		if cand != nil {
			cs = cand.Get(name)
		}
		if bs == nil && cs == nil {
			continue
		}
		period := time.Duration(0)
		for _, s := range []*metrics.Series{bs, cs} {
			if s != nil {
				period = max(period, s.Period)
			}
		}
		m := Metric{Name: name, Unit: metrics.Unit(name), WarmupS: warm.Seconds()}
		if bs != nil {
			a := metrics.AlignWindow(bs, metrics.Window{Start: fid.CaptureStart, End: fid.CaptureEnd}, period, 1, warm)
			st := metrics.Summarize(a.Points())
			m.BaselineSeries, m.BaselineSource, m.Caveats = &a, bs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Baseline = &st
			}
		}
		if cs != nil {
			a := metrics.AlignWindow(cs, metrics.Window{Start: fid.ReplayStart, End: fid.ReplayEnd}, period, fid.Speed, warm)
			st := metrics.Summarize(a.Points())
			m.CandidateSeries, m.CandidateSource, m.Caveats = &a, cs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Candidate = &st
			}
		}
		m.Caveats = dedupe(append(m.Caveats, periodCaveats(&m)...))
		c.Metrics = append(c.Metrics, m)
	}
	return nil
}

// fetchMetrics fetches one side's metrics for its window; a source that
// fails or warns becomes a warning, and nil without a source or on error.
func (c *Comparison) fetchMetrics(ctx context.Context, src metrics.Source, w metrics.Window, side string) *metrics.Set {
	if src == nil {
		return nil
	}
	set, err := src.Fetch(ctx, w)
	if err != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s metrics (%s): %v", side, src, err))
		return nil
	}
	for _, w := range set.Warnings {
		c.Warnings = append(c.Warnings, side+": "+w)
	}
	return set
}

// warmup is how much of each series' start is left out of the figures:
// --warmup, or by default a tenth of the capture, at most a minute.
func (in Input) warmup(fid *Fidelity) time.Duration {
	if in.Warmup >= 0 {
		return in.Warmup
	}
	return min(time.Minute, time.Duration(fid.OriginalS*float64(time.Second)/10))
}

// dedupe drops repeated strings, keeping the first of each: both sides
// often carry the same caveat.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
