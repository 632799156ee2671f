// Package calibrate finds how fast one replayer process can replay a
// workload against a target while keeping its schedule, and from that how
// many shards the whole workload needs. It replays the busiest stretch of
// the workload at increasing speeds with replay.Run, as Oracle's Workload
// Replay Client does in calibrate mode, and judges each step by the
// replay's own rule: lateness p99 under 100 ms and not behind schedule.
//
// It sits on top of replay (it uses Run, Options and the results
// writer's summary) and below cmd, which wires it to replay --calibrate.
package calibrate

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// LatenessLimit is the lateness p99 a step must stay under (the README's
// 100 ms rule, the default gate replay.lateness.p99 < 100ms).
const LatenessLimit = 100 * time.Millisecond

// Headroom is how much of its cores a shard may keep busy: at half, the
// Go scheduler still wakes sessions on time.
const Headroom = 0.5

// Config is a calibration.
type Config struct {
	// Open opens the workload from its start; it is called once to find
	// the busiest stretches and once per step.
	Open func() (*parse.Reader, func(), error)
	// Executor makes the connections of one step; closed after it.
	Executor func() Executor
	// Step is about how long each step runs (wall time): a step at speed s
	// replays Step*s of workload time. Default 5s.
	Step time.Duration
	// Speeds are tried in order until one does not keep the schedule.
	// Default 1, 2, 4, ... 64.
	Speeds []float64
	// Options are the replay options of every step (memory budget, spill
	// directory, IncludeSystem, Warn); Speed, Begin and End are set per
	// step.
	Options replay.Options
	// Done, when set, is called after each step.
	Done func(Step)
}

// Executor is a replay.Executor that is closed after its step.
type Executor interface {
	replay.Executor
	Close(ctx context.Context)
}

// Step is what one speed gave.
type Step struct {
	Speed float64 `json:"speed"`
	// Begin and End are the stretch of the workload replayed.
	Begin time.Time `json:"begin"`
	End   time.Time `json:"end"`
	// Statements were replayed in DurationS; StatementsPerS is their
	// rate, and ScheduledPerS the rate the schedule asked for.
	Statements     int64   `json:"statements"`
	DurationS      float64 `json:"duration_s"`
	StatementsPerS float64 `json:"statements_per_s"`
	ScheduledPerS  float64 `json:"scheduled_per_s"`
	LatenessP99MS  float64 `json:"lateness_p99_ms"`
	LateShare      float64 `json:"late_over_100ms_share"`
	BehindSchedule bool    `json:"behind_schedule"`
	// Bottleneck is what made statements late, when the step did not
	// keep the schedule: "target", "lock" or "replayer".
	Bottleneck string `json:"bottleneck,omitempty"`
	// CPUUSPerStatement is the replayer's CPU (user + system) per
	// statement from the step's first result to its end, and CPUCores
	// that CPU per second of wall time.
	CPUUSPerStatement float64 `json:"cpu_us_per_statement"`
	CPUCores          float64 `json:"cpu_cores"`
	// Errors counts statements that failed; ConnectErrors sessions that
	// could not connect.
	Errors        int64 `json:"errors"`
	ConnectErrors int64 `json:"connect_errors,omitempty"`
	Kept          bool  `json:"kept"`
}

// Report is a calibration's outcome.
type Report struct {
	Steps []Step `json:"steps"`
	// Best is the fastest step that kept the schedule (nil when even
	// speed 1 did not).
	Best *Step `json:"best,omitempty"`
	// SustainedPerS is the statements per second one process sustained
	// against this target (Best's rate); AtLeast is set when no step
	// failed, so the process could do more.
	SustainedPerS float64 `json:"sustained_statements_per_s"`
	AtLeast       bool    `json:"at_least,omitempty"`
	// CPUUSPerStatement is Best's, or speed 1's when no step kept the
	// schedule.
	CPUUSPerStatement float64 `json:"cpu_us_per_statement"`
	// Limit is what stopped the ladder: the first failed step's
	// bottleneck, or "none" when every speed kept the schedule.
	Limit string `json:"limit"`
	// PeakPerS is the workload's peak statements per second at speed 1
	// (its trailer); Shards and CoresPerShard what it needs at speed 1.
	PeakPerS      int64 `json:"workload_peak_statements_per_s"`
	Shards        int   `json:"shards,omitempty"`
	CoresPerShard int   `json:"cores_per_shard,omitempty"`
	// Cores is how many cores this machine has: the sustained rate is
	// this machine's.
	Cores int    `json:"cores"`
	Note  string `json:"note"`
	// Warnings say when the figures measure something else than the
	// workload: a target that is not a copy of the captured database.
	Warnings []string `json:"warnings,omitempty"`
}

// Run calibrates. It returns the steps run so far with ctx's error when
// ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Step <= 0 {
		cfg.Step = 5 * time.Second
	}
	if len(cfg.Speeds) == 0 {
		cfg.Speeds = []float64{1, 2, 4, 8, 16, 32, 64}
	}
	prof, err := profile(cfg.Open)
	if err != nil {
		return nil, err
	}
	if prof.total == 0 {
		return nil, fmt.Errorf("calibrate: the workload has no statement to replay")
	}
	rep := &Report{PeakPerS: prof.peak, Cores: runtime.NumCPU(), Limit: "none"}
	for _, speed := range cfg.Speeds {
		begin, end := prof.busiest(int(math.Ceil(cfg.Step.Seconds() * speed)))
		st, err := runStep(ctx, cfg, speed, begin, end, prof.openAt(begin.UnixMicro()))
		if err != nil {
			return rep, err
		}
		rep.Steps = append(rep.Steps, *st)
		if cfg.Done != nil {
			cfg.Done(*st)
		}
		if !st.Kept {
			rep.Limit = st.Bottleneck
			break
		}
		rep.Best = &rep.Steps[len(rep.Steps)-1]
	}
	rep.plan()
	return rep, nil
}

// runStep replays [begin, end) at speed.
func runStep(ctx context.Context, cfg Config, speed float64, begin, end time.Time, open []*parse.Session) (*Step, error) {
	r, closeR, err := cfg.Open()
	if err != nil {
		return nil, err
	}
	defer closeR()
	rw, err := replay.NewResultsWriter(io.Discard, replay.ResultsHeader{Speed: speed})
	if err != nil {
		return nil, err
	}
	// CPU is counted from the first result: reading past the workload
	// before the stretch and connecting the sessions are not per-statement
	// work.
	// Sessions call the sink concurrently.
	var cpu0 time.Duration
	var t0 time.Time
	var once sync.Once
	sink := func(res *replay.Result) {
		once.Do(func() { cpu0, t0 = replay.ProcessCPU(), time.Now() })
		rw.Add(res)
	}
	opts := cfg.Options
	opts.Speed, opts.Begin, opts.End = speed, begin, end
	ex := newWarm(ctx, cfg.Executor(), open)
	st, runErr := replay.Run(ctx, r, ex, opts, sink)
	ex.Close(context.WithoutCancel(ctx))
	cpu, wall := replay.ProcessCPU()-cpu0, time.Since(t0)
	if runErr != nil {
		return nil, fmt.Errorf("calibrate at speed %g: %w", speed, runErr)
	}
	sum, err := rw.Close(st, false)
	if err != nil {
		return nil, err
	}
	s := &Step{Speed: speed, Begin: begin.UTC(), End: end.UTC(), Statements: sum.Replayed, DurationS: sum.DurationS,
		LatenessP99MS: sum.LatenessP99MS, LateShare: sum.LateOver100ms, BehindSchedule: sum.BehindSchedule, Errors: sum.Errors, ConnectErrors: sum.OpenErrors}
	if sum.DurationS > 0 {
		s.StatementsPerS = float64(sum.Replayed) / sum.DurationS
	}
	if sum.ScheduledS > 0 {
		s.ScheduledPerS = float64(sum.Replayed) / sum.ScheduledS
	}
	if sum.Replayed > 1 && !t0.IsZero() {
		s.CPUUSPerStatement = float64(cpu.Microseconds()) / float64(sum.Replayed-1)
		s.CPUCores = cpu.Seconds() / wall.Seconds()
	}
	s.Kept = !sum.BehindSchedule && sum.LatenessP99MS < float64(LatenessLimit.Milliseconds())
	if !s.Kept {
		s.Bottleneck = sum.Bottleneck
		if s.Bottleneck == "" {
			// Late beyond the p99 rule but not beyond the 1% rule: the
			// statements were late, the summary names no cause.
			s.Bottleneck = dominant(sum.LateByCause)
		}
	}
	return s, nil
}

// dominant is the cause most statements were late for.
func dominant(by map[string]int64) string {
	best, n := "replayer", int64(0)
	for c, k := range by {
		if k > n || (k == n && c < best) {
			best, n = c, k
		}
	}
	return best
}
