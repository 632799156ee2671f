package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
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

// ErrNotComparison is wrapped by ReadComparison's errors: the bytes are
// not a whole comparison document.
var ErrNotComparison = errors.New("not a comparison document")

// ReadComparison decodes a comparison document written by compare and
// checks that it is whole: a known verdict, every gate with its
// expression and a known status, and a verdict the gates bear out. A
// document cut short or edited by hand is refused, so that no report
// (JUnit with 0 tests, a GO without gates) is rendered from it.
func ReadComparison(raw []byte) (*Comparison, error) {
	var c Comparison
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotComparison, err)
	}
	if c.Format != "pgrehearse-comparison" {
		return nil, fmt.Errorf("%w: no \"format\": \"pgrehearse-comparison\"", ErrNotComparison)
	}
	if c.Version > FormatVersion {
		return nil, fmt.Errorf("%w: comparison format %d; this pgrehearse reads up to %d: upgrade it", ErrNotComparison, c.Version, FormatVersion)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: damaged: %v", ErrNotComparison, err)
	}
	return &c, nil
}

func (c *Comparison) check() error {
	if c.Generated == "" {
		return errors.New(`no "generated" time`)
	}
	counts := map[GateStatus]int{}
	for i, g := range c.Gates {
		switch {
		case g.Expr == "" || g.Name == "":
			return fmt.Errorf("gate %d has no expression", i+1)
		case g.Status != Pass && g.Status != Fail && g.Status != Inconclusive:
			return fmt.Errorf("gate %q has status %q", g.Expr, g.Status)
		}
		counts[g.Status]++
	}
	switch c.Verdict.Result {
	case GO:
		if len(c.Gates) == 0 || counts[Pass] != len(c.Gates) {
			return fmt.Errorf("verdict GO, but %d of %d gates passed", counts[Pass], len(c.Gates))
		}
	case NOGO:
		if counts[Fail] == 0 {
			return errors.New("verdict NO-GO, but no gate failed")
		}
	case INCONCLUSIVE:
	case "":
		return errors.New("no verdict")
	default:
		return fmt.Errorf("unknown verdict %q", c.Verdict.Result)
	}
	return nil
}
