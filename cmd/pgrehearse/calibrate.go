package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/pgrehearse/pgrehearse/internal/dsn"
	"github.com/pgrehearse/pgrehearse/internal/procs"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
	"github.com/pgrehearse/pgrehearse/replay/calibrate"
)

// calibrateFlags are replay's flags for --calibrate.
type calibrateFlags struct {
	on       *bool
	step     *time.Duration
	maxSpeed *float64
}

func registerCalibrate(fs *pflag.FlagSet) *calibrateFlags {
	return &calibrateFlags{
		on:       fs.Bool("calibrate", false, "instead of replaying, find the statements/s one replayer sustains against --target: replay the workload's busiest stretch at speeds 1, 2, 4, ... until lateness is no longer kept, and say how many shards the whole workload needs. The target is written to: give a scratch clone"),
		step:     fs.Duration("calibrate-step", 5*time.Second, "with --calibrate, about how long each speed runs (a step at speed S replays S times this much of the workload)"),
		maxSpeed: fs.Float64("calibrate-max-speed", 64, "with --calibrate, the highest speed tried"),
	}
}

// run calibrates against the target with replay's connection flags.
func (cf *calibrateFlags) run(ctx context.Context, env *environment, fs *pflag.FlagSet) error {
	for _, name := range []string{"speed", "output", "shard", "start-at", "jump", "begin", "end", "candidate-metrics", "samples"} {
		if fs.Changed(name) {
			return usagef("replay --calibrate: --%s does not apply: calibrate picks its own speeds and stretches and writes no results file", name)
		}
	}
	if *cf.step < 500*time.Millisecond || *cf.maxSpeed < 1 {
		return usagef("replay --calibrate: --calibrate-step must be at least 500ms and --calibrate-max-speed at least 1")
	}
	str := func(n string) string { v, _ := fs.GetString(n); return v }
	boolean := func(n string) bool { v, _ := fs.GetBool(n); return v }
	path := fs.Arg(0)
	paths := files{cmd: "replay --calibrate"}
	paths.input("workload", path)
	paths.input("--password-file", str("password-file"))
	if err := paths.check(); err != nil {
		return err
	}
	local, err := calibrationInput(ctx, path)
	if err != nil {
		return err
	}
	var passwords map[string]string
	if pf := str("password-file"); pf != "" {
		if passwords, err = readPasswordFile(pf); err != nil {
			return err
		}
	}
	cfg, err := pgconn.ParseConfig(str("target"))
	if err != nil {
		return usagef("replay: --target: %v", err)
	}
	open := func() (*parse.Reader, func(), error) { return openWorkloadFile(local) }
	r, closeR, err := open()
	if err != nil {
		return err
	}
	sysID := r.Header().SystemIdentifier
	closeR()
	// The same refusals as a replay: a standby, or production itself.
	if _, err := checkTarget(ctx, cfg, boolean("read-only"), sysID, boolean("allow-same-system")); err != nil {
		return err
	}
	userMap, _ := fs.GetStringToString("user-map")
	dbMap, _ := fs.GetStringToString("database-map")
	memMB, _ := fs.GetInt("memory-budget")
	budget := int64(memMB) << 20
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(budget)
	}
	warn := func(s string) { fmt.Fprintln(env.stderr, "pgrehearse: warning:", s) }
	c := calibrate.Config{Open: open, Step: *cf.step, Speeds: speeds(*cf.maxSpeed),
		Executor: func() calibrate.Executor {
			return &replay.PGExecutor{Config: cfg, UserMap: userMap, DatabaseMap: dbMap, ReadOnly: boolean("read-only"), Passwords: passwords}
		},
		Options: replay.Options{IncludeSystem: boolean("include-system"), MemoryBudget: budget / 4, SpillDir: str("spill-dir"), Warn: warn}}
	fmt.Fprintf(env.stderr, "calibrating against %s (it is written to: a scratch clone): the busiest stretch of %s at speeds 1 to %g, about %v each\n",
		dsn.Describe(cfg), path, *cf.maxSpeed, *cf.step)
	fmt.Fprintln(env.stderr, stepHeader)
	c.Done = func(s calibrate.Step) { fmt.Fprintln(env.stderr, stepLine(s)) }
	stopProcs := procs.Adapt(ctx, procs.DefaultPolicy, nil)
	rep, err := calibrate.Run(ctx, c)
	stopProcs()
	if err != nil {
		return fmt.Errorf("replay --calibrate: %w", err)
	}
	printCalibration(env.stderr, rep)
	if boolean("json") {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

// calibrationInput is a local workload file for the steps, which each
// read it from the start: an object is copied, a log refused.
func calibrationInput(ctx context.Context, path string) (string, error) {
	if path == "-" {
		return "", usagef("replay --calibrate reads the workload once per step: give a workload file, not standard input")
	}
	local, err := localCopy(ctx, path)
	if err != nil {
		return "", err
	}
	f, err := os.Open(local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head, _ := bufio.NewReader(f).Peek(16)
	if !parse.IsWorkload(head) {
		return "", usagef("replay --calibrate: %s is not a workload file: parse the log first (pgrehearse parse -o workload.pgrw LOG)", path)
	}
	return local, nil
}

func openWorkloadFile(path string) (*parse.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	r, err := parse.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read workload %s: %w", path, err)
	}
	return r, func() { r.Close(); f.Close() }, nil
}

// speeds are 1, 2, 4, ... up to top (top itself the last).
func speeds(top float64) []float64 {
	var s []float64
	for v := 1.0; v < top; v *= 2 {
		s = append(s, v)
	}
	return append(s, top)
}

const stepHeader = "speed  stretch of the workload        statements  stmts/s   lateness p99  late>100ms  CPU µs/stmt  cores  kept"

func stepLine(s calibrate.Step) string {
	kept := "yes"
	if !s.Kept {
		kept = "no: " + s.Bottleneck
	}
	stretch := fmt.Sprintf("%s +%.0fs", s.Begin.Format("2006-01-02 15:04:05"), s.End.Sub(s.Begin).Round(time.Second).Seconds())
	return fmt.Sprintf("%5g  %-29s  %10d  %7.0f  %10.1f ms  %9.2f%%  %11.1f  %5.2f  %s",
		s.Speed, stretch, s.Statements, s.StatementsPerS, s.LatenessP99MS, 100*s.LateShare, s.CPUUSPerStatement, s.CPUCores, kept)
}

// printCalibration says what the steps mean for the whole workload.
func printCalibration(w io.Writer, r *calibrate.Report) {
	fmt.Fprintln(w)
	if r.Best == nil {
		fmt.Fprintf(w, "no speed kept the schedule: %s\n", r.Note)
		fmt.Fprintf(w, "the replayer's CPU at speed 1: %.1f µs a statement (%d cores here); the workload peaks at %d statements/s\n", r.CPUUSPerStatement, r.Cores, r.PeakPerS)
		for _, s := range r.Warnings {
			fmt.Fprintln(w, "pgrehearse: warning:", s)
		}
		return
	}
	atLeast := ""
	if r.AtLeast {
		atLeast = "at least "
	}
	fmt.Fprintf(w, "highest speed that kept lateness (p99 < %v, not behind schedule): %g; one process sustains %s%.0f statements/s against this target at %.1f µs of CPU a statement (%d cores here)\n",
		calibrate.LatenessLimit, r.Best.Speed, atLeast, r.SustainedPerS, r.CPUUSPerStatement, r.Cores)
	fmt.Fprintf(w, "the workload peaks at %d statements/s: at speed 1 it needs %d %s of %d %s each (CPU µs/stmt × its share of the peak, cores kept at most %.0f%% busy)\n",
		r.PeakPerS, r.Shards, plural(r.Shards, "shard"), r.CoresPerShard, plural(r.CoresPerShard, "core"), 100*calibrate.Headroom)
	fmt.Fprintln(w, r.Note)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "pgrehearse: warning:", s)
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
