package replay

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/parse"
)

// ResultsVersion is the version of the results format (docs/results-format.md).
const ResultsVersion = 3

// ResultsHeader is the first line of a results file.
type ResultsHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Target is the target without its password.
	Target   string  `json:"target"`
	Speed    float64 `json:"speed"`
	Workload string  `json:"workload"`
	// WorkloadID is the workload's own id (parse writes it in its
	// header): compare refuses results of another workload.
	WorkloadID string `json:"workload_id,omitempty"`
	// CaptureStart is the workload's time base (RFC 3339).
	CaptureStart string `json:"capture_start"`
	// WindowBegin and WindowEnd are the --begin/--end window, if any.
	WindowBegin string `json:"window_begin,omitempty"`
	WindowEnd   string `json:"window_end,omitempty"`
	// Shard is "I/N" when the replay ran one shard of N.
	Shard string `json:"shard,omitempty"`
	Jump  bool   `json:"jump,omitempty"`
	// RTTUS is the median round trip to the target (µs), measured before
	// the replay with empty queries: compare subtracts it from client-side
	// latencies to set them beside the log's server-side durations.
	RTTUS int64 `json:"rtt_us,omitempty"`
	// Samples is the samples file of the target taken during the replay
	// (replay --candidate-metrics pg:DSN), if any.
	Samples string `json:"samples,omitempty"`
	// Started is when the replay's clock started (RFC 3339).
	Started string `json:"started"`
	// MaxConnections is the target's max_connections, asked before the
	// replay (0: unknown).
	MaxConnections int `json:"target_max_connections,omitempty"`
	// Unnamed is set when named prepared statements were sent unnamed
	// (replay --unnamed, for a transaction pooler).
	Unnamed bool `json:"unnamed,omitempty"`
	// Role is "control" in the results of a control replay (the same
	// workload replayed onto a copy of the baseline beside the
	// candidate), "" in the candidate's.
	Role string `json:"role,omitempty"`
	// ControlMode is how a control was replayed beside the candidate:
	// "concurrent" (from one schedule, each statement sent to both) or
	// "after" (one replay after the other); "" without a control.
	ControlMode string `json:"control_mode,omitempty"`
	// Checksums is set when the lines carry checksums of returned rows.
	Checksums bool `json:"checksums,omitempty"`
	// Collation is the collation pre-flight, when one ran.
	Collation *CollationCheck `json:"collation,omitempty"`
	// Clock is the replayer's clock against the target's at the start,
	// when it was measured.
	Clock *Clock `json:"clock,omitempty"`
}

// Summary is the last line of a results file, and what replay prints.
type Summary struct {
	Statements int64 `json:"statements"`
	Replayed   int64 `json:"replayed"`
	Skipped    int64 `json:"skipped"`
	Errors     int64 `json:"errors"`
	// ErrorEvents counts production errors at Parse or Bind that were
	// raised again (or could not be); they are not statements.
	ErrorEvents int64 `json:"error_events"`
	// ProductionErrors counts the statements (and errors at Parse or Bind)
	// that failed in production; Reproduced those that failed the same way
	// here, StandIns those of them raised with a stand-in because the log
	// lacks their values; Missing those that did not, by reason; NewErrors
	// statements that failed here but not (or otherwise) in production.
	// compare decides these again from the workload (and its late news);
	// these are the replay's own count, for its progress and summary.
	ProductionErrors int64            `json:"production_errors"`
	Reproduced       int64            `json:"reproduced"`
	StandIns         int64            `json:"stand_ins,omitempty"`
	Missing          map[string]int64 `json:"missing,omitempty"`
	NewErrors        int64            `json:"new_errors"`
	// Pipelined counts statements sent in one pipeline with the one
	// before them; Retyped those prepared again with declared parameter
	// types.
	Pipelined int64 `json:"pipelined"`
	Retyped   int64 `json:"retyped,omitempty"`
	// Checksummed counts statements whose returned rows were digested;
	// NonDeterministic those marked non-deterministic (nd).
	Checksummed      int64   `json:"checksummed,omitempty"`
	NonDeterministic int64   `json:"nondeterministic,omitempty"`
	Sessions         int64   `json:"sessions"`
	OpenErrors       int64   `json:"connect_errors"`
	LatenessP50MS    float64 `json:"lateness_p50_ms"`
	LatenessP99MS    float64 `json:"lateness_p99_ms"`
	LatenessMaxMS    float64 `json:"lateness_max_ms"`
	LateOver100ms    float64 `json:"late_over_100ms_share"`
	LatencyP50MS     float64 `json:"latency_p50_ms"`
	LatencyP95MS     float64 `json:"latency_p95_ms"`
	LatencyP99MS     float64 `json:"latency_p99_ms"`
	Started          string  `json:"started"`
	Finished         string  `json:"finished"`
	Interrupted      bool    `json:"interrupted"`
	// DurationS is how long the replay took; ScheduledS how long the
	// replayed workload lasts at the replay's speed (idle time skipped
	// with --jump excluded), JumpedS how much --jump skipped.
	DurationS  float64 `json:"duration_s"`
	ScheduledS float64 `json:"scheduled_s"`
	JumpedS    float64 `json:"jumped_s,omitempty"`
	// ReplayerCPUS is the CPU time the replayer used (user + system).
	ReplayerCPUS float64 `json:"replayer_cpu_s"`
	// LateByCause counts statements that started more than 100 ms late by
	// cause: "target", "connect", "replayer".
	LateByCause map[string]int64 `json:"late_by_cause,omitempty"`
	// BehindSchedule is set when more than 1% of the statements started
	// more than 100 ms late: the replay did not reproduce the production
	// load, and compare will not call the launch GO on it.
	BehindSchedule bool `json:"behind_schedule"`
	// Bottleneck names what held the replay back when it fell behind:
	// "target" or "replayer"; Diagnosis says it in words.
	Bottleneck string `json:"bottleneck,omitempty"`
	Diagnosis  string `json:"diagnosis,omitempty"`
	// PeakQueuedMB is the most memory events waited in; SpilledMB what
	// stalled sessions' backlogs put on disk; Stalls those sessions, and
	// LockWaits who held the locks statements waited for on the target.
	PeakQueuedMB float64    `json:"peak_queued_mb"`
	SpilledMB    float64    `json:"spilled_mb,omitempty"`
	Stalls       []Stall    `json:"stalls,omitempty"`
	LockWaits    []LockWait `json:"lock_waits,omitempty"`
	// Sync sums up the waits of --sync: how many statements waited for
	// other sessions, how long, and how many went on at the bound.
	Sync *SyncSummary `json:"sync,omitempty"`
	// Histograms holds the lateness and latency histograms (µs), HDR V2
	// compressed encoding in base64.
	Histograms map[string]string `json:"histograms,omitempty"`
	// RefusedConnections counts sessions the target refused at least
	// once with 53300 (too many connections), and ConnectionLimit says
	// so in words, with the target's max_connections; ConnectFailures
	// counts every attempt to connect that failed, PeakConnections the
	// most connections the sessions held at once.
	RefusedConnections int64  `json:"refused_connections"`
	ConnectionLimit    string `json:"connection_limit,omitempty"`
	ConnectFailures    int64  `json:"connect_failures"`
	PeakConnections    int64  `json:"peak_connections"`
	// InterruptedStatements counts statements the end of the replay cut
	// short (the grace period after Ctrl-C ran out): not errors.
	InterruptedStatements int64 `json:"interrupted_statements,omitempty"`
	// Unnamed counts named prepared statements sent as unnamed ones
	// (--unnamed): a protocol change.
	Unnamed int64 `json:"unnamed,omitempty"`
	// WorkloadError says why the workload could not be read to its end
	// (a truncated file); TargetUnreachableSince (RFC 3339) when the
	// target could not be reached and the replay stopped. Either means
	// the results do not cover the workload.
	WorkloadError          string `json:"workload_error,omitempty"`
	TargetUnreachableSince string `json:"target_unreachable_since,omitempty"`
}

// ResultsWriter streams results as JSON lines: the header, one line per
// statement, and the summary as the trailer. It is safe for concurrent
// use, so session goroutines write their results directly.
type ResultsWriter struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	buf []byte
	// err is the first write error; failed is closed when it happens.
	err    error
	failed chan struct{}

	// Mergeable histograms in microseconds (1 µs to 1 hour, 3 digits):
	// memory stays flat however many statements run, and shards merge.
	lateness, latency *hdrhistogram.Histogram
	late100           int64
	lateBy            [len(causes)]int64
	sum               Summary
	// flushed is when the stream was last flushed: a crash loses at most
	// a second of results. lines counts the lines written.
	flushed time.Time
	lines   int64
	// maxConn is the target's max_connections, from the header.
	maxConn int
}

var causes = [...]string{CauseTarget, CauseLock, CauseConnect, CauseReplayer, CauseSync}

// NewResultsWriter writes the header to w, at once: a file that can not
// be written (a full disk) is found before the replay sends a statement.
// A write error is a *WriteError.
func NewResultsWriter(w io.Writer, h ResultsHeader) (*ResultsWriter, error) {
	h.Format, h.Version = "pgrehearse-results", ResultsVersion
	rw := &ResultsWriter{bw: bufio.NewWriterSize(w, 256<<10), failed: make(chan struct{}),
		lateness: newResultsHist(), latency: newResultsHist(), maxConn: h.MaxConnections}
	b, err := json.Marshal(map[string]any{"header": h})
	if err != nil {
		return nil, err
	}
	rw.bw.Write(append(b, '\n'))
	rw.flushed = time.Now()
	if err := rw.bw.Flush(); err != nil {
		return nil, &WriteError{Err: err}
	}
	return rw, nil
}

// WriteError is the error of writing results: Err is the writer's (a
// full disk is syscall.ENOSPC).
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write the results: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// fail keeps the first write error and says so to Failed. rw.mu is held.
func (rw *ResultsWriter) fail(err error) {
	if err == nil || rw.err != nil {
		return
	}
	rw.err = &WriteError{Err: err}
	close(rw.failed)
}

// Failed is closed at the first write error (Err returns it), so that
// the replay can be stopped then, not a second later.
func (rw *ResultsWriter) Failed() <-chan struct{} { return rw.failed }

// Add records one result.
func (rw *ResultsWriter) Add(r *Result) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = appendResult(rw.buf[:0], r)
	rw.count(r)
	if _, err := rw.bw.Write(rw.buf); err != nil {
		rw.fail(err)
	}
	// Looking at the clock every 64 results is enough to flush about
	// every second.
	rw.lines++
	if rw.lines&63 == 0 {
		if now := time.Now(); now.Sub(rw.flushed) >= time.Second {
			rw.flushed = now
			if err := rw.bw.Flush(); err != nil {
				rw.fail(err)
			}
		}
	}
}

// Err returns the first write error, so a full disk is said when it
// happens rather than at the end.
func (rw *ResultsWriter) Err() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.err
}

// count adds r to the running figures.
func (rw *ResultsWriter) count(r *Result) {
	s := &rw.sum
	if r.Unnamed {
		s.Unnamed++
	}
	if r.Interrupted {
		// Cut short by the end of the replay: not the target's error.
		s.InterruptedStatements++
		if r.Kind == parse.Error {
			s.ErrorEvents++
		} else {
			s.Statements++
			s.Replayed++
		}
		return
	}
	switch {
	case r.Kind == parse.Error:
		// A production error raised again is not a statement of the
		// workload: it counts among the errors only.
		s.ErrorEvents++
	case r.Skipped:
		s.Statements++
		s.Skipped++
	default:
		s.Statements++
		s.Replayed++
		l := r.Lateness().Microseconds()
		if l > 100_000 {
			rw.late100++
			for i, c := range causes {
				if c == r.LateCause {
					rw.lateBy[i]++
				}
			}
		}
		rw.lateness.RecordValue(max(l, 1))
		rw.latency.RecordValue(max(r.Latency.Microseconds(), 1))
	}
	if r.Pipelined {
		s.Pipelined++
	}
	if r.Retyped {
		s.Retyped++
	}
	if r.Checksummed {
		s.Checksummed++
	}
	if r.NonDeterministic != "" {
		s.NonDeterministic++
	}
	if r.Err != nil {
		s.Errors++
	}
	if r.Production != "" {
		s.ProductionErrors++
	}
	switch m := MatchError(r.Production, stateOf(r), !r.Skipped); m {
	case Reproduced:
		s.Reproduced++
		if r.StandIn {
			s.StandIns++
		}
	case New, Changed:
		s.NewErrors++
	}
	if reason := MissingReason(r.Production, stateOf(r), r.SkipReason); reason != "" {
		if s.Missing == nil {
			s.Missing = map[string]int64{}
		}
		s.Missing[reason]++
	}
}

// stateOf is the SQLSTATE a result failed with, "connection" for an error
// without one, "" when it did not fail.
func stateOf(r *Result) string {
	if r.Err == nil {
		return ""
	}
	if r.SQLState == "" {
		return "connection"
	}
	return r.SQLState
}

// appendResult appends r's line.
func appendResult(b []byte, r *Result) []byte {
	b = append(b, `{"s":`...)
	b = strconv.AppendUint(b, r.Session, 10)
	b = append(b, `,"i":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	if r.Kind == parse.Error {
		b = append(b, `,"k":"e"`...)
	}
	b = append(b, `,"sched_us":`...)
	b = strconv.AppendInt(b, r.Scheduled.UnixMicro(), 10)
	b = append(b, `,"start_us":`...)
	b = strconv.AppendInt(b, r.Started.UnixMicro(), 10)
	b = append(b, `,"late_us":`...)
	b = strconv.AppendInt(b, r.Lateness().Microseconds(), 10)
	b = append(b, `,"lat_us":`...)
	b = strconv.AppendInt(b, r.Latency.Microseconds(), 10)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, r.Rows, 10)
	b = append(b, `,"fp":"`...)
	b = r.Fingerprint.Append(b)
	b = append(b, '"')
	if r.LateCause != "" {
		b = append(b, `,"late":"`...)
		b = append(b, r.LateCause...)
		b = append(b, '"')
	}
	if r.Pipelined {
		b = append(b, `,"pl":true`...)
	}
	if r.Retyped {
		b = append(b, `,"retyped":true`...)
	}
	if r.StandIn {
		b = append(b, `,"stand_in":true`...)
	}
	if r.Interrupted {
		b = append(b, `,"interrupted":true`...)
	}
	if r.BlockedBy != "" {
		b = append(b, `,"blocked_by":`...)
		b = strconv.AppendQuote(b, r.BlockedBy)
	}
	b = appendSyncWait(b, r.Sync)
	if r.Skipped {
		b = append(b, `,"skipped":`...)
		b = strconv.AppendQuote(b, r.SkipReason)
	}
	if st := stateOf(r); st != "" {
		b = append(b, `,"sqlstate":`...)
		b = strconv.AppendQuote(b, st)
	}
	if r.Checksummed {
		b = appendHex(append(b, `,"ck":"`...), r.Checksum)
		if r.Ordered {
			b = appendHex(append(b, `","ock":"`...), r.OrderedChecksum)
		}
		b = append(b, '"')
	}
	if r.NonDeterministic != "" {
		b = append(b, `,"nd":`...)
		b = strconv.AppendQuote(b, r.NonDeterministic)
	}
	return append(b, "}\n"...)
}

// appendHex appends v as 16 hex digits.
func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[v>>uint(i)&0xf])
	}
	return b
}

// Snapshot returns the figures so far: statements done, errors, new
// errors, and the 99th percentile of lateness in milliseconds.
func (rw *ResultsWriter) Snapshot() (statements, errors, newErrors int64, latenessP99MS float64) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.lateness.TotalCount() > 0 {
		latenessP99MS = float64(rw.lateness.ValueAtQuantile(99)) / 1000
	}
	return rw.sum.Statements, rw.sum.Errors, rw.sum.NewErrors, latenessP99MS
}

// Close completes the summary, writes it as the trailer and flushes.
func (rw *ResultsWriter) Close(st *Stats, interrupted bool) (*Summary, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	s := &rw.sum
	s.Sessions = int64(st.Sessions)
	s.OpenErrors = int64(st.OpenErrors)
	s.Started = st.Started.UTC().Format(time.RFC3339Nano)
	s.Finished = st.Finished.UTC().Format(time.RFC3339Nano)
	s.Interrupted = interrupted
	rw.closeConnections(st)
	s.setHistograms(rw.lateness, rw.latency, rw.late100)
	s.PeakQueuedMB = float64(st.PeakQueuedBytes) / (1 << 20)
	s.SpilledMB = float64(st.SpilledBytes) / (1 << 20)
	s.Stalls, s.LockWaits = st.Stalls, st.LockWaits
	s.Sync = st.Sync
	s.DurationS = st.Finished.Sub(st.Started).Seconds()
	s.ScheduledS = st.Scheduled.Seconds()
	s.JumpedS = st.Jumped.Seconds()
	s.ReplayerCPUS = st.CPU.Seconds()
	for i, c := range causes {
		if rw.lateBy[i] > 0 {
			if s.LateByCause == nil {
				s.LateByCause = map[string]int64{}
			}
			s.LateByCause[c] = rw.lateBy[i]
		}
	}
	s.diagnose()
	b, err := json.Marshal(map[string]any{"summary": s})
	if err != nil {
		return s, err
	}
	rw.bw.Write(append(b, '\n'))
	rw.fail(rw.bw.Flush())
	return s, rw.err
}

// setHistograms sets the figures read from the lateness and latency
// histograms (µs; late100 of the lateness values are over 100 ms), and
// puts the histograms in the trailer, where they let shards merge
// exactly.
func (s *Summary) setHistograms(lateness, latency *hdrhistogram.Histogram, late100 int64) {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	q := func(h *hdrhistogram.Histogram, p float64) float64 {
		if h.TotalCount() == 0 {
			return 0
		}
		return ms(h.ValueAtQuantile(p))
	}
	s.LatenessP50MS, s.LatenessP99MS = q(lateness, 50), q(lateness, 99)
	s.LatencyP50MS, s.LatencyP95MS, s.LatencyP99MS = q(latency, 50), q(latency, 95), q(latency, 99)
	s.LatenessMaxMS, s.LateOver100ms = 0, 0
	if lateness.TotalCount() > 0 {
		s.LatenessMaxMS = ms(lateness.Max())
		s.LateOver100ms = float64(late100) / float64(lateness.TotalCount())
	}
	s.Histograms = nil
	for name, h := range map[string]*hdrhistogram.Histogram{"lateness": lateness, "latency": latency} {
		if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
			if s.Histograms == nil {
				s.Histograms = map[string]string{}
			}
			s.Histograms[name] = base64.StdEncoding.EncodeToString(enc)
		}
	}
}

// newResultsHist is a histogram of the results format: 1 µs to an hour,
// three significant digits.
func newResultsHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

// BehindShare is the share of statements more than 100 ms late past which
// a replay is behind schedule.
const BehindShare = 0.01

// diagnose decides whether the replay kept to the schedule, and if not,
// whether the target or the replayer held it back.
func (s *Summary) diagnose() {
	s.BehindSchedule = s.LateOver100ms > BehindShare
	if !s.BehindSchedule {
		return
	}
	if s.RefusedConnections > 0 {
		// Late or not, the figures are the connection limit's doing.
		s.Bottleneck = "connections"
		s.Diagnosis = fmt.Sprintf("%.1f%% of statements started more than 100 ms late while %s", 100*s.LateOver100ms, s.ConnectionLimit)
		return
	}
	target := s.LateByCause[CauseTarget]
	lock := s.LateByCause[CauseLock]
	mine := s.LateByCause[CauseReplayer] + s.LateByCause[CauseConnect]
	pct := 100 * s.LateOver100ms
	if s.diagnoseSync(pct) {
		return
	}
	if lock > 0 && lock >= target && lock >= mine {
		s.Bottleneck = CauseLock
		who := "another session"
		if len(s.LockWaits) > 0 {
			who = s.LockWaits[0].BlockedBy
		}
		s.Diagnosis = fmt.Sprintf("%.1f%% of statements started more than 100 ms late, mostly because their session waited on the target for a lock held by %s (the longest wait %.1f s): the replay's timing, not the target's speed, is in question; see lock_waits", pct, who, s.LockWaits[0].MaxS)
		return
	}
	if target >= mine {
		s.Bottleneck = CauseTarget
		s.Diagnosis = fmt.Sprintf("%.1f%% of statements started more than 100 ms late, mostly because the previous statement of their session was still running on the target: the target is slower than production here (latency p99 %.1f ms); the comparison is a finding about the target, not a faithful load", pct, s.LatencyP99MS)
		return
	}
	s.Bottleneck = "replayer"
	s.Diagnosis = fmt.Sprintf("%.1f%% of statements started more than 100 ms late because the replayer sent them late (%d) or was connecting (%d); it used %.1f CPU-seconds in %.1f s: run it on a bigger machine, closer to the target, or split it with --shard", pct, s.LateByCause[CauseReplayer], s.LateByCause[CauseConnect], s.ReplayerCPUS, s.DurationS)
}
