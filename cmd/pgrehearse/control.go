package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/dsn"
	"github.com/pgrehearse/pgrehearse/internal/procs"
	"github.com/pgrehearse/pgrehearse/replay"
)

// controlFlags are replay's flags for a control: a copy of the baseline,
// restored from the same snapshot as the candidate, that gets the same
// workload beside it.
type controlFlags struct {
	fs                      *pflag.FlagSet
	dsn, output             string
	metrics, samples        string
	after                   bool
	checksums, checkIndexes bool

	cfg       *pgconn.Config
	sampleCfg *pgconn.Config
	collation *replay.CollationCheck
}

func (cf *controlFlags) register(fs *pflag.FlagSet) {
	cf.fs = fs
	fs.StringVar(&cf.dsn, "control", "", "also replay onto this control cluster (a copy of the baseline on its engine and settings, restored from the candidate's snapshot), from the same schedule")
	fs.StringVar(&cf.output, "control-output", "", "results file of the control (default: control.RESULTS beside -o)")
	fs.BoolVar(&cf.after, "control-after", false, "replay onto the control after the candidate instead of at the same time")
	fs.BoolVar(&cf.checksums, "checksums", false, "record a checksum of the rows every statement returns (on by default with --control; costs replayer CPU)")
	fs.BoolVar(&cf.checkIndexes, "check-indexes", false, "verify the candidate's indexes on text that a collation difference touches with amcheck (CREATE EXTENSION IF NOT EXISTS amcheck) before replaying")
	fs.StringVar(&cf.metrics, "control-metrics", "", "with pg:DSN, sample the control's statistics every second while replaying, into --control-samples")
	fs.StringVar(&cf.samples, "control-samples", "", "samples file for --control-metrics pg:DSN (default: the control's results file's name with .samples.jsonl)")
}

// setup checks the control flags once parsed; out is the candidate's
// results file, workload the workload's path.
func (cf *controlFlags) setup(out, workload string) error {
	if !cf.fs.Changed("checksums") {
		cf.checksums = cf.dsn != ""
	}
	if cf.dsn == "" {
		for _, f := range []string{"control-output", "control-after", "control-metrics", "control-samples"} {
			if cf.fs.Changed(f) {
				return usagef("replay: --%s needs --control", f)
			}
		}
		return nil
	}
	var err error
	if cf.cfg, err = pgconn.ParseConfig(cf.dsn); err != nil {
		return usagef("replay: --control: %v", err)
	}
	if cf.output == "" {
		if out == "-" {
			return usagef("replay: with -o - give the control's results file with --control-output")
		}
		cf.output = filepath.Join(filepath.Dir(out), "control."+filepath.Base(out))
	}
	if cf.after && workload == "-" {
		return usagef("replay: --control-after reads the workload twice: give it as a file, not on standard input")
	}
	if cf.metrics != "" {
		spec, err := metrics.ParseSpec(cf.metrics)
		if err != nil {
			return usagef("replay: --control-metrics: %v", err)
		}
		if spec.Kind == "pg" {
			if cf.sampleCfg, err = pgconn.ParseConfig(spec.Arg); err != nil {
				return usagef("replay: --control-metrics: %v", err)
			}
			if cf.samples == "" {
				cf.samples = strings.TrimSuffix(cf.output, filepath.Ext(cf.output)) + ".samples.jsonl"
			}
		}
	}
	return nil
}

func (cf *controlFlags) files(p *files) {
	p.output("--control-output", cf.output)
	if cf.sampleCfg != nil {
		p.output("--control-samples", cf.samples)
	}
}

// mode is the header's control_mode.
func (cf *controlFlags) mode() string {
	switch {
	case cf.dsn == "":
		return ""
	case cf.after:
		return "after"
	}
	return "concurrent"
}

// preflight checks the control like the target, refuses the candidate
// itself as its control, and runs the collation pre-flight, whose
// findings are said now, before any statement is sent. It returns the
// control's round trip.
func (cf *controlFlags) preflight(ctx context.Context, env *environment, cand *pgconn.Config, readOnly bool, baselineID string, allowSame bool) (time.Duration, error) {
	var rtt time.Duration
	if cf.cfg != nil {
		var err error
		ti, err := checkTarget(ctx, cf.cfg, readOnly, baselineID, allowSame)
		if err != nil {
			return 0, fmt.Errorf("%w (this is the --control cluster)", err)
		}
		rtt = ti.rtt
		same, err := sameServer(ctx, cand, cf.cfg)
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		if same {
			return 0, usagef("replay: --control and --target are the same server: the control must be a separate copy of the baseline")
		}
	}
	if cf.cfg == nil && !cf.checkIndexes {
		return rtt, nil
	}
	cc, err := replay.CheckCollations(ctx, cand, cf.cfg, cf.checkIndexes)
	if err != nil {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: the collation pre-flight failed: %v; replaying without it\n", err)
		return rtt, nil
	}
	cf.collation = cc
	for _, w := range cc.Warnings() {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: collation: %s\n", w)
	}
	for _, n := range cc.Notes {
		fmt.Fprintf(env.stderr, "pgrehearse: note: collation: %s\n", n)
	}
	if len(cc.Warnings()) == 0 && cf.cfg != nil {
		fmt.Fprintln(env.stderr, "collation pre-flight: the candidate's databases collate like the control's")
	}
	return rtt, nil
}

// sameServer reports whether two connection settings reach one server:
// the same system_identifier (which clones of one base backup share)
// and the same postmaster start.
func sameServer(ctx context.Context, a, b *pgconn.Config) (bool, error) {
	id := func(cfg *pgconn.Config) (string, error) {
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return "", err
		}
		defer c.Close(context.WithoutCancel(ctx))
		res, err := c.Exec(ctx, "SELECT system_identifier::text || ' ' || pg_postmaster_start_time()::text FROM pg_control_system()").ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			return "", fmt.Errorf("read the server's identity: %v", err)
		}
		return string(res[0].Rows[0][0]), nil
	}
	x, err := id(a)
	if err != nil {
		return false, err
	}
	y, err := id(b)
	if err != nil {
		return false, err
	}
	return x == y, nil
}

// header is the control's results header, from the candidate's.
func (cf *controlFlags) header(cand replay.ResultsHeader, rtt time.Duration) replay.ResultsHeader {
	h := cand
	h.Target = dsn.Describe(cf.cfg)
	h.Role, h.RTTUS, h.Samples = "control", rtt.Microseconds(), ""
	if cf.sampleCfg != nil {
		h.Samples = cf.samples
	}
	return h
}

// controlReplay is a control's side of a replay under way: its results
// writer, and its sampler.
type controlReplay struct {
	cf           *controlFlags
	rw           *replay.ResultsWriter
	closeOut     func() error
	stopSampling func()
	pe           *replay.Paired
}

// start opens the control's results file and sampler. With a concurrent
// control it pairs ex with the control's executor, and returns the
// executor and sink the replay runs with; ctlEx is the control's.
func (cf *controlFlags) start(ctx context.Context, env *environment, hdr replay.ResultsHeader, ex, ctlEx *replay.PGExecutor, sink func(*replay.Result)) (*controlReplay, replay.Executor, func(*replay.Result), error) {
	f, closeOut := createStream(cf.output, env.stdout)
	rw, err := newResultsWriter(f, closeOut, hdr, cf.output, "--control-output")
	if err != nil {
		return nil, nil, nil, err
	}
	cr := &controlReplay{cf: cf, rw: rw, closeOut: closeOut, stopSampling: func() {}}
	if cf.sampleCfg != nil {
		if cr.stopSampling, err = sampleInBackground(ctx, env, cf.sampleCfg, cf.samples); err != nil {
			return nil, nil, nil, fmt.Errorf("replay: %w", err)
		}
		fmt.Fprintf(env.stderr, "sampling the control into %s\n", cf.samples)
	}
	if cf.after {
		return cr, ctlEx, rw.Add, nil
	}
	cr.pe = &replay.Paired{Candidate: ex, Control: ctlEx, ControlSink: rw.Add,
		Warn: func(msg string) { fmt.Fprintf(env.stderr, "pgrehearse: warning: %s\n", msg) }}
	return cr, cr.pe, cr.pe.Sink(sink), nil
}

// finish writes the control's trailer and closes its file.
func (cr *controlReplay) finish(st *replay.Stats, interrupted bool) (*replay.Summary, error) {
	cr.stopSampling()
	if cr.pe != nil {
		st = cr.pe.ControlStats(st)
	}
	sum, err := cr.rw.Close(st, interrupted)
	if cerr := cr.closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return sum, &resultsWriteError{path: cr.cf.output, flag: "--control-output", err: err}
	}
	return sum, nil
}

// printControlSummary says how the control's replay went.
func printControlSummary(env *environment, sum *replay.Summary, out string) {
	fmt.Fprintf(env.stderr, "control: replayed %d of %d statements (%d failed); lateness p99 %.1f ms; latency p50 %.2f ms, p99 %.2f ms; %d with a checksum, %d non-deterministic; results in %s\n",
		sum.Replayed, sum.Statements, sum.Errors, sum.LatenessP99MS, sum.LatencyP50MS, sum.LatencyP99MS, sum.Checksummed, sum.NonDeterministic, out)
	if sum.BehindSchedule {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: the control's replay fell behind schedule: %s\n", sum.Diagnosis)
	}
}

// afterRun is what --control-after needs to replay the workload again,
// onto the control.
type afterRun struct {
	workload       string
	lf             *logFlags
	shardI, shardN int
	opts           replay.Options
	speed          float64
	quiet          bool
	ex             *replay.PGExecutor
	hdr            replay.ResultsHeader
}

// replayAfter replays the workload onto the control, after the
// candidate's replay: the same options, its own clock.
func (cf *controlFlags) replayAfter(ctx context.Context, env *environment, a afterRun) error {
	fmt.Fprintf(env.stderr, "replaying %s against the control %s at speed %g\n", a.workload, a.hdr.Target, a.speed)
	r, closeIn, err := openWorkload(ctx, env, a.workload, a.lf)
	if err != nil {
		return err
	}
	defer closeIn()
	if a.shardN > 0 {
		r.SetSessionFilter(replay.ShardFilter(a.shardI, a.shardN))
	}
	defer a.ex.Close(context.WithoutCancel(ctx))
	a.hdr.Started = time.Now().UTC().Format(time.RFC3339Nano)
	cr, exec, sink, err := cf.start(ctx, env, a.hdr, nil, a.ex, nil)
	if err != nil {
		return err
	}
	live := &replay.Live{}
	a.opts.Live = live
	stopProgress, warn := replayProgress(env, &replay.Monitor{Results: cr.rw, Live: live, Speed: a.speed, Started: time.Now()}, a.quiet)
	a.opts.Warn = warn
	rctx, stopWatch := watchResults(ctx, cr.rw, cf.output, "--control-output", warn)
	stopProcs := procs.Adapt(ctx, procs.DefaultPolicy, nil)
	st, runErr := replay.Run(rctx, r, exec, a.opts, sink)
	stopProcs()
	writeErr := stopWatch()
	stopProgress()
	interrupted := errors.Is(runErr, context.Canceled) || ctx.Err() != nil || writeErr != nil
	sum, err := cr.finish(st, interrupted)
	if err = cmp.Or(writeErr, err); err != nil {
		printControlSummary(env, sum, cf.output)
		return stoppedByWrite(err, cf.output, "--control-output")
	}
	printControlSummary(env, sum, cf.output)
	return runErr
}

// openControl opens the control's metric source: the one given, or the
// samples file its replay took.
func (cf *compareFlags) openControl(ctx context.Context, env *environment, in *compare.Input) error {
	spec := cf.control
	if spec == "" && len(cf.controlResults) > 0 {
		if s := samplesOf(cf.controlResults[0]); s != "" {
			spec = "pg:" + s
			fmt.Fprintf(env.stderr, "control metrics from the replay's samples: %s\n", s)
		}
	}
	if spec == "" {
		return nil
	}
	if len(cf.controlResults) == 0 {
		return usagef("--control-metrics needs --control-results: the control's window is in its results")
	}
	var err error
	if in.Control, err = openSource(ctx, spec); err != nil {
		return fmt.Errorf("--control-metrics: %w", err)
	}
	return nil
}

// runControl are run's flags for a control, handed to replay.
type runControl struct {
	dsn                 string
	after, checkIndexes bool
	checksums           bool
	fs                  *pflag.FlagSet
}

func (rc *runControl) register(fs *pflag.FlagSet) {
	rc.fs = fs
	fs.StringVar(&rc.dsn, "control", "", "also replay onto this control (a copy of the baseline restored from the candidate's snapshot): its results go to DIR/control.results.jsonl and it becomes the comparison's third column")
	fs.BoolVar(&rc.after, "control-after", false, "replay onto the control after the candidate instead of at the same time")
	fs.BoolVar(&rc.checkIndexes, "check-indexes", false, "verify the candidate's indexes on text a collation difference touches with amcheck before replaying")
	fs.BoolVar(&rc.checksums, "checksums", false, "record checksums of returned rows (on by default with --control)")
}

func (rc *runControl) files(p *files, dir string) {
	if rc.dsn != "" {
		p.output("the control's results", filepath.Join(dir, "control.results.jsonl"))
		p.output("the control's samples", filepath.Join(dir, "control.samples.jsonl"))
	}
}

// args adds the control's flags to replay's arguments. A pg:DSN control
// metric source is sampled by the replay itself, as the candidate's is.
func (rc *runControl) args(a []string, cf *compareFlags, dir string) []string {
	if rc.fs.Changed("checksums") {
		a = append(a, fmt.Sprintf("--checksums=%t", rc.checksums))
	}
	if rc.checkIndexes {
		a = append(a, "--check-indexes")
	}
	if rc.dsn == "" {
		return a
	}
	a = append(a, "--control", rc.dsn, "--control-output", filepath.Join(dir, "control.results.jsonl"))
	if rc.after {
		a = append(a, "--control-after")
	}
	if sp, err := metrics.ParseSpec(cf.control); err == nil && sp.Kind == "pg" {
		if _, err := os.Stat(sp.Arg); err != nil {
			a = append(a, "--control-metrics", cf.control, "--control-samples", filepath.Join(dir, "control.samples.jsonl"))
			cf.control = ""
		}
	}
	return a
}

// results are the control's results files for compare.
func (rc *runControl) results(dir string) []string {
	if rc.dsn == "" {
		return nil
	}
	return []string{filepath.Join(dir, "control.results.jsonl")}
}
