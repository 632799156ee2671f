package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// args turns the log flags back into command-line arguments, so run can
// hand them to parse unchanged.
func (l *logFlags) args() []string {
	var a []string
	add := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name, v)
		}
	}
	if l.format != "auto" {
		add("format", l.format)
	}
	add("log-line-prefix", l.prefix)
	add("log-timezone", l.timezone)
	add("begin", l.begin)
	add("end", l.end)
	for _, d := range l.databases {
		add("database", d)
	}
	for _, u := range l.users {
		add("user", u)
	}
	for _, ap := range l.apps {
		add("application", ap)
	}
	if l.strict {
		a = append(a, "--strict")
	}
	if l.reorder != 5*time.Second {
		add("reorder-window", l.reorder.String())
	}
	return a
}

// checkRunFlags catches everything that can be wrong with run's command
// line now, not after an hour of replay.
func checkRunFlags(cf *compareFlags, lf *logFlags) error {
	if _, err := cf.parseGates(); err != nil {
		return err
	}
	for _, r := range cf.report {
		if _, err := reportFormat(r); err != nil {
			return err
		}
	}
	if _, err := lf.options(); err != nil {
		return err
	}
	for _, spec := range []string{cf.baseline, cf.candidate, cf.control} {
		if spec == "" {
			continue
		}
		if _, err := metrics.ParseSpec(spec); err != nil {
			return usagef("run: %v", err)
		}
	}
	return nil
}

// runRun is parse, replay, compare and report in one command. Every
// stage writes its file into one directory, so any stage can be run
// again on its own (the commands are printed at the end).
func runRun(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "run", "LOG...")
	target := fs.String("target", "", "the candidate cluster: a libpq DSN or URL")
	dir := fs.String("dir", "", "directory for the workload, results, samples, comparison and reports (default rehearsal-DATE-TIME)")
	speed := fs.Float64("speed", 1, "replay speed")
	jump := fs.Bool("jump", false, "skip idle gaps in the replay")
	unnamed := fs.Bool("unnamed", false, "send named prepared statements unnamed (needed through a transaction pooler; see replay --unnamed)")
	var rc runControl
	rc.register(fs)
	var lf logFlags
	lf.register(fs)
	var cf compareFlags
	cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *target == "" {
		fs.Usage()
		return usagef("run: give the log files and --target")
	}
	if err := checkRunFlags(&cf, &lf); err != nil {
		return err
	}
	cfg, err := pgconn.ParseConfig(*target)
	if err != nil {
		return usagef("run: --target: %v", err)
	}
	// An unreachable target is found now, not after parsing the log.
	ti, err := checkTarget(ctx, cfg, false, "", true)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	// Through a transaction pooler, --unnamed is decided now, not after
	// the parse.
	if err := ti.pooler.check(env, *unnamed, 0); err != nil {
		return err
	}
	if *dir == "" {
		*dir = "rehearsal-" + time.Now().Format("20060102-150405")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if len(cf.report) == 0 {
		cf.report = []string{filepath.Join(*dir, "report.html")}
	}
	workload := filepath.Join(*dir, "workload.pgrw")
	results := filepath.Join(*dir, "results.jsonl")
	comparison := filepath.Join(*dir, "comparison.json")
	paths := files{cmd: "run"}
	paths.input("log", fs.Args()...)
	cf.files(&paths)
	paths.output("the workload", workload)
	paths.output("the results", results)
	paths.output("the samples", filepath.Join(*dir, "candidate.samples.jsonl"))
	rc.files(&paths, *dir)
	paths.output("the comparison", comparison)
	if err := paths.check(); err != nil {
		return err
	}

	fmt.Fprintf(env.stderr, "== parse: %s -> %s\n", strings.Join(fs.Args(), " "), workload)
	parseArgs := append(append([]string{"-o", workload}, lf.args()...), fs.Args()...)
	if err := runParse(ctx, env, parseArgs); err != nil {
		return fmt.Errorf("run: parse: %w", err)
	}

	fmt.Fprintf(env.stderr, "\n== replay: %s -> %s\n", workload, results)
	replayArgs := []string{"--target", *target, "-o", results, "--speed", strconv.FormatFloat(*speed, 'g', -1, 64)}
	if *jump {
		replayArgs = append(replayArgs, "--jump")
	}
	if *unnamed {
		replayArgs = append(replayArgs, "--unnamed")
	}
	// A pg:DSN candidate is sampled by the replay itself; compare then
	// reads the samples file it recorded.
	if sp, err := metrics.ParseSpec(cf.candidate); err == nil && sp.Kind == "pg" {
		if _, err := os.Stat(sp.Arg); err != nil {
			replayArgs = append(replayArgs, "--candidate-metrics", cf.candidate, "--samples", filepath.Join(*dir, "candidate.samples.jsonl"))
			cf.candidate = ""
		}
	}
	replayArgs = rc.args(replayArgs, &cf, *dir)
	if err := runReplay(ctx, env, append(replayArgs, workload)); err != nil {
		return fmt.Errorf("run: replay: %w", err)
	}

	fmt.Fprintf(env.stderr, "\n== compare -> %s\n", comparison)
	cf.controlResults = rc.results(*dir)
	c, err := cf.build(ctx, env, workload, []string{results})
	if err != nil {
		return fmt.Errorf("run: compare: %w", err)
	}
	err = cf.finish(env, c, comparison)
	ctlArg := ""
	if len(cf.controlResults) > 0 {
		ctlArg = " --control-results " + cf.controlResults[0]
	}
	fmt.Fprintf(env.stderr, "every stage's file is in %s; to compare again with other gates:\n  pgrehearse compare --workload %s --results %s%s -o %s --gate '...'\n",
		*dir, workload, results, ctlArg, comparison)
	return err
}
