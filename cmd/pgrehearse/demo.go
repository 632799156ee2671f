package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
	"github.com/pgrehearse/pgrehearse/internal/shopload"
)

// demoPrefix is the baseline's log_line_prefix; parse is told it rather
// than left to detect it, as a user who knows their server would.
const demoPrefix = "%m [%p] %q%u@%d %c %e "

// pgssSetting loads pg_stat_statements on both clusters, so the report
// sets the servers' own time and block reads per query side by side.
const pgssSetting = "shared_preload_libraries = 'pg_stat_statements'"

// The candidate differs the way a smaller or differently tuned instance
// does, so the report has real differences to show: a fraction of the
// memory for caching, and checkpoints forced far more often.
var (
	baselineSettings  = []string{"shared_buffers = 256MB", "max_wal_size = 1GB", "log_line_prefix = '" + demoPrefix + "'", pgssSetting}
	candidateSettings = []string{"shared_buffers = 16MB", "max_wal_size = 32MB", "min_wal_size = 32MB", "checkpoint_timeout = 30s",
		"effective_cache_size = 64MB",
		// Logged like the baseline, so latency is compared server-side
		// on both sides and the logging costs both the same.
		"log_min_duration_statement = 0", "log_connections = on", "log_disconnections = off", pgssSetting}
)

// runDemo runs the whole rehearsal on this machine: a baseline and a
// candidate cluster (each a primary with a streaming replica) and a
// control (a third copy of the baseline, on its settings) from the
// installed PostgreSQL binaries, a built-in OLTP load on the baseline
// with statement logging and sampling, then parse, replay onto the
// candidate and the control at once with sampling, compare and report.
// The candidate's database collates with ICU where the baseline's uses
// C, so the report shows answers that differ as well as speed.
func runDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "demo", "")
	keep := fs.Bool("keep", false, "keep the working directory (clusters' data and logs, workload, results, samples) after the demo")
	dir := fs.String("dir", "", "working directory (default: a new temporary directory)")
	duration := fs.Duration("duration", 20*time.Second, "how long the OLTP load runs on the baseline (the replay takes as long)")
	clients := fs.Int("clients", 8, "concurrent clients of the OLTP load")
	report := fs.String("report", "pgrehearse-demo.html", "where to write the HTML report (kept after the demo)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("demo: takes no arguments")
	}
	if *duration < 5*time.Second || *clients < 1 {
		return usagef("demo: --duration must be at least 5s and --clients at least 1")
	}
	if _, err := pgcluster.FindBinDir(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	began := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(env.stderr, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "pgrehearse-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		work = d
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// The postgres OS user (when we are root) must reach the clusters'
	// directories.
	os.Chmod(work, 0o755)
	dc := &demoClusters{work: work}
	defer func() {
		dc.stop()
		if *keep {
			fmt.Fprintf(env.stderr, "kept %s\n", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	base, cand, ctl, err := dc.setUp(ctx, step)
	if err != nil {
		return err
	}
	baseDSN := base.DSN("postgres", "shop")

	// Log every statement only from now on: the data loading above is
	// already on the candidate.
	if err := execSQL(ctx, base.DSN("postgres", "postgres"), "ALTER SYSTEM SET log_min_duration_statement = 0",
		"ALTER SYSTEM SET log_connections = on", "ALTER SYSTEM SET log_disconnections = on", "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("demo: turn on statement logging: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // the reload reaches the postmaster asynchronously
	baseSamples := filepath.Join(work, "baseline.samples.jsonl")
	scfg, err := pgconn.ParseConfig(base.DSN("postgres", "postgres"))
	if err != nil {
		return err
	}
	stopSampling, err := sampleInBackground(ctx, env, scfg, baseSamples)
	if err != nil {
		return err
	}
	step("capturing: %d clients of the built-in OLTP load on the baseline for %s, every statement logged, statistics sampled every second", *clients, *duration)
	loadStart := time.Now()
	st, err := shopload.Run(ctx, baseDSN, shopload.Options{Clients: *clients, Duration: *duration, Seed: 1})
	loadEnd := time.Now()
	stopSampling()
	if err != nil {
		return fmt.Errorf("demo: the OLTP load: %w", err)
	}
	step("load done: %s", st)
	if err := execSQL(ctx, base.DSN("postgres", "postgres"), "ALTER SYSTEM RESET log_min_duration_statement", "ALTER SYSTEM RESET log_connections",
		"ALTER SYSTEM RESET log_disconnections", "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("demo: turn off statement logging: %w", err)
	}

	workload := filepath.Join(work, "workload.pgrw")
	step("parse: the baseline's log -> %s", workload)
	if err := runParse(ctx, env, []string{"-q", "-o", workload, "--log-line-prefix", demoPrefix,
		"--application", "!" + pgsample.ApplicationName, "--begin", loadStart.Add(-time.Second).UTC().Format(time.RFC3339Nano), "--end", loadEnd.Add(time.Second).UTC().Format(time.RFC3339Nano),
		filepath.Join(base.LogDir(), "postgresql.log")}); err != nil {
		return fmt.Errorf("demo: parse: %w", err)
	}
	results := filepath.Join(work, "results.jsonl")
	candSamples := filepath.Join(work, "candidate.samples.jsonl")
	ctlResults := filepath.Join(work, "control.results.jsonl")
	ctlSamples := filepath.Join(work, "control.samples.jsonl")
	step("replay: the workload on the candidate and the control at once with its original timing, checksums of every result, sampling both -> %s, %s", results, ctlResults)
	if err := runReplay(ctx, env, []string{"-q", "--target", cand.DSN("postgres", "postgres"), "-o", results,
		"--candidate-metrics", "pg:" + cand.DSN("postgres", "postgres"), "--samples", candSamples,
		"--control", ctl.DSN("postgres", "postgres"), "--control-output", ctlResults,
		"--control-metrics", "pg:" + ctl.DSN("postgres", "postgres"), "--control-samples", ctlSamples, workload}); err != nil {
		return fmt.Errorf("demo: replay: %w", err)
	}
	step("compare: baseline during the capture, candidate and control during the replay")
	cf := compareFlags{baseline: "pg:" + baseSamples, candidate: "pg:" + candSamples, warmup: -1, top: 10, report: []string{*report},
		candidateLogs: []string{filepath.Join(cand.LogDir(), "postgresql.log")}, candidateLogPrefix: demoPrefix,
		control: "pg:" + ctlSamples, controlResults: []string{ctlResults}}
	c, err := cf.build(ctx, env, workload, []string{results})
	if err != nil {
		return fmt.Errorf("demo: compare: %w", err)
	}
	fmt.Fprintln(env.stderr)
	err = cf.finish(env, c, filepath.Join(work, "comparison.json"))
	var ve verdictError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	abs, _ := filepath.Abs(*report)
	step("done: the verdict is %s (in CI, compare would exit %d). Open the report: %s", c.Verdict.Result, exitFor(c.Verdict.Result), abs)
	return nil
}

// demoClusters are the demo's clusters, stopped in the reverse order of
// their start.
type demoClusters struct {
	work string
	list []*pgcluster.Cluster
}

func (dc *demoClusters) start(what string, f func() (*pgcluster.Cluster, error)) (*pgcluster.Cluster, error) {
	c, err := f()
	if err != nil {
		return nil, fmt.Errorf("demo: start the %s: %w", what, err)
	}
	dc.list = append(dc.list, c)
	return c, nil
}

func (dc *demoClusters) opts(name string, settings []string) pgcluster.Options {
	return pgcluster.Options{Dir: dc.work, Name: name, Settings: settings, Keep: true}
}

// stop stops every cluster, also after Ctrl-C.
func (dc *demoClusters) stop() {
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := len(dc.list) - 1; i >= 0; i-- {
		dc.list[i].Stop(sctx)
	}
}

// setUp starts the baseline with its replica and loads the shop into it,
// then restores the candidate (with its replica, and its shop database
// made again with ICU) and the control from base backups of it.
func (dc *demoClusters) setUp(ctx context.Context, step func(string, ...any)) (base, cand, ctl *pgcluster.Cluster, err error) {
	step("starting the baseline: a primary and a streaming replica (shared_buffers 256MB)")
	if base, err = dc.start("baseline", func() (*pgcluster.Cluster, error) { return pgcluster.Start(ctx, dc.opts("baseline", baselineSettings)) }); err != nil {
		return
	}
	if _, err = dc.start("baseline replica", func() (*pgcluster.Cluster, error) { return base.StartReplica(ctx, dc.opts("baseline-replica", nil)) }); err != nil {
		return
	}
	if err = execSQL(ctx, base.DSN("postgres", "postgres"), "CREATE DATABASE shop TEMPLATE template0 LOCALE 'C'", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return nil, nil, nil, fmt.Errorf("demo: %w", err)
	}
	step("loading the shop's data into the baseline")
	if err = shopload.Setup(ctx, base.DSN("postgres", "shop"), 1); err != nil {
		return nil, nil, nil, fmt.Errorf("demo: load the data: %w", err)
	}
	step("restoring the candidate from a base backup of the baseline (shared_buffers 16MB, checkpoints every 30s or 32MB of WAL)")
	if cand, err = dc.start("candidate", func() (*pgcluster.Cluster, error) {
		return base.StartClone(ctx, dc.opts("candidate", candidateSettings))
	}); err != nil {
		return
	}
	step("giving the candidate's shop database an ICU collation (en-US, where the baseline's is C) and loading the same data into it")
	if err = icuShop(ctx, cand); err != nil {
		return nil, nil, nil, fmt.Errorf("demo: %w", err)
	}
	// The replica is made after the load: with the candidate's small
	// max_wal_size, WAL a replica had not received yet could be recycled
	// under it.
	step("starting the candidate's streaming replica")
	if _, err = dc.start("candidate replica", func() (*pgcluster.Cluster, error) { return cand.StartReplica(ctx, dc.opts("candidate-replica", nil)) }); err != nil {
		return
	}
	step("restoring the control from a base backup of the baseline, on the baseline's settings")
	ctl, err = dc.start("control", func() (*pgcluster.Cluster, error) { return base.StartClone(ctx, dc.opts("control", nil)) })
	return base, cand, ctl, err
}

// icuShop makes the candidate's shop database again with an ICU
// collation, as a migration to another engine or OS image may, and loads
// the same data into it (the load is deterministic).
func icuShop(ctx context.Context, cand *pgcluster.Cluster) error {
	if err := execSQL(ctx, cand.DSN("postgres", "postgres"), "DROP DATABASE shop",
		"CREATE DATABASE shop TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"); err != nil {
		return fmt.Errorf("make the candidate's database: %w", err)
	}
	if err := shopload.Setup(ctx, cand.DSN("postgres", "shop"), 1); err != nil {
		return fmt.Errorf("load the candidate's data: %w", err)
	}
	// The load's writes go to WAL in one go: a checkpoint now keeps the
	// replay from paying for them.
	return execSQL(ctx, cand.DSN("postgres", "postgres"), "CHECKPOINT")
}

// execSQL runs statements one by one on a fresh connection.
func execSQL(ctx context.Context, dsn string, sqls ...string) error {
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, q := range sqls {
		if _, err := c.Exec(ctx, q).ReadAll(); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(q)[0], err)
		}
	}
	return nil
}

// sampleInBackground samples a cluster into path until the returned
// function is called; one more sample is taken after the last statement.
func sampleInBackground(ctx context.Context, env *environment, cfg *pgconn.Config, path string) (func(), error) {
	paths := files{cmd: "samples"}
	paths.output("the samples file", path)
	if err := paths.check(); err != nil {
		return nil, err
	}
	// Created private with the first sample.
	f := &lazyFile{path: path}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		s := &pgsample.Sampler{Config: cfg, Warn: func(error) {}}
		if _, err := s.Run(sctx, f); err != nil {
			fmt.Fprintf(env.stderr, "pgrehearse: sampling: %v\n", err)
		}
	}()
	return func() {
		// One more sample after the last statement closes the window.
		time.Sleep(1100 * time.Millisecond)
		cancel()
		<-done
	}, nil
}
