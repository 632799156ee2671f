package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/dsn"
	"github.com/pgrehearse/pgrehearse/replay"
)

func runReplay(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "replay", "WORKLOAD (- for standard input)")
	target := fs.String("target", "", "the candidate cluster: a libpq DSN or URL (PG* variables and .pgpass apply)")
	speed := fs.Float64("speed", 1, "replay speed: 2 runs the workload in half the time")
	out := fs.StringP("output", "o", "results.jsonl", "results file to write")
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object on standard output")
	readOnly := fs.Bool("read-only", false, "run every session with default_transaction_read_only = on")
	userMap := fs.StringToString("user-map", nil, "rename users on the target: orig=new,...")
	dbMap := fs.StringToString("database-map", nil, "rename databases on the target: orig=new,...")
	shard := fs.String("shard", "", "replay only shard I of N (I/N, 0-based): N processes replay disjoint sets of whole sessions")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics of the replay at this address (host:port; a bare :port listens on 127.0.0.1)")
	quiet := fs.BoolP("quiet", "q", false, "no progress line")
	var lf logFlags
	lf.register(fs)
	jump := fs.Bool("jump", false, "skip idle gaps: when no statement is running or waiting, move on to the next one (lateness is measured against the shifted schedule)")
	passwordFile := fs.String("password-file", "", "file of user:password lines for the target's users (keeps passwords off the command line)")
	startAt := fs.String("start-at", "", "start the replay's clock at this time (RFC 3339), so shards on several machines start together")
	allowSame := fs.Bool("allow-same-system", false, "replay even when the target is the cluster the log came from (same system_identifier)")
	candMetrics := fs.String("candidate-metrics", "", "with pg:DSN, sample the candidate's statistics every second while replaying, into --samples")
	samplesOut := fs.String("samples", "", "samples file for --candidate-metrics pg:DSN (default: the results file's name with .samples.jsonl)")
	includeSystem := fs.Bool("include-system", false, "also replay statements that act beyond the workload (ALTER SYSTEM, pg_terminate_backend, COPY ... PROGRAM)")
	memBudget := fs.Int("memory-budget", 256, "MB of memory for the replay: statements waiting for their session get a quarter, and a stalled session's backlog beyond its share goes to disk")
	readAhead := fs.Duration("read-ahead", 0, "how far ahead of the schedule (workload time) to read (default: the workload's reorder window + 1s)")
	spillDir := fs.String("spill-dir", "", "directory for stalled sessions' backlogs (default: the system's temp directory)")
	cal := registerCalibrate(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("replay: name one workload file (from pgrehearse parse)")
	}
	if *cal.on {
		return cal.run(ctx, env, fs)
	}
	if *speed <= 0 {
		return usagef("replay: --speed must be positive")
	}
	var shardI, shardN int
	if *shard != "" {
		if _, err := fmt.Sscanf(*shard, "%d/%d", &shardI, &shardN); err != nil || shardN < 1 || shardI < 0 || shardI >= shardN {
			return usagef("replay: --shard %q: want I/N with 0 <= I < N, e.g. 0/4", *shard)
		}
	}
	window, err := lf.options()
	if err != nil {
		return err
	}
	var startTime time.Time
	if *startAt != "" {
		if startTime, err = time.Parse(time.RFC3339, *startAt); err != nil {
			return usagef("replay: --start-at %q: want RFC 3339, e.g. 2026-11-22T14:00:00Z", *startAt)
		}
	}
	var sampleCfg *pgconn.Config
	if *candMetrics != "" {
		spec, err := metrics.ParseSpec(*candMetrics)
		if err != nil {
			return usagef("replay: --candidate-metrics: %v", err)
		}
		if spec.Kind == "pg" {
			if sampleCfg, err = pgconn.ParseConfig(spec.Arg); err != nil {
				return usagef("replay: --candidate-metrics: %v", err)
			}
			if *samplesOut == "" {
				*samplesOut = strings.TrimSuffix(*out, filepath.Ext(*out)) + ".samples.jsonl"
			}
		}
		// Other sources are read by compare afterwards, from the replay
		// window in the results file.
	}
	paths := files{cmd: "replay"}
	paths.input("workload", fs.Arg(0))
	paths.input("--password-file", *passwordFile)
	paths.output("-o", *out)
	if sampleCfg != nil {
		paths.output("--samples", *samplesOut)
	}
	// Checked now, not after --start-at's wait.
	if err := paths.check(); err != nil {
		return err
	}
	var passwords map[string]string
	if *passwordFile != "" {
		if passwords, err = readPasswordFile(*passwordFile); err != nil {
			return err
		}
	}
	cfg, err := pgconn.ParseConfig(*target)
	if err != nil {
		return usagef("replay: --target: %v", err)
	}
	r, closeIn, err := openWorkload(ctx, env, fs.Arg(0), &lf)
	if err != nil {
		return err
	}
	defer closeIn()
	if shardN > 0 {
		r.SetSessionFilter(replay.ShardFilter(shardI, shardN))
	}

	safe := dsn.Describe(cfg)
	fmt.Fprintf(env.stderr, "replaying %s against %s at speed %g\n", fs.Arg(0), safe, *speed)
	rtt, err := checkTarget(ctx, cfg, *readOnly, r.Header().SystemIdentifier, *allowSame)
	if err != nil {
		return err
	}
	clock := measureClock(ctx, env, cfg)
	if !startTime.IsZero() {
		fmt.Fprintf(env.stderr, "waiting until %s to start\n", startTime.Format(time.RFC3339))
		t := time.NewTimer(time.Until(startTime))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	f, closeOut := createStream(*out, env.stdout)
	hdr := replay.ResultsHeader{Target: safe, Speed: *speed, Workload: fs.Arg(0), WorkloadID: r.Header().ID, Shard: *shard, Jump: *jump,
		CaptureStart: time.UnixMicro(r.Header().Start).UTC().Format(time.RFC3339Nano),
		Started:      time.Now().UTC().Format(time.RFC3339Nano), RTTUS: rtt.Microseconds(), Clock: clock}
	if !window.Begin.IsZero() {
		hdr.WindowBegin = window.Begin.UTC().Format(time.RFC3339Nano)
	}
	if !window.End.IsZero() {
		hdr.WindowEnd = window.End.UTC().Format(time.RFC3339Nano)
	}
	if sampleCfg != nil {
		hdr.Samples = *samplesOut
	}
	rw, err := replay.NewResultsWriter(f, hdr)
	if err != nil {
		return err
	}
	ex := &replay.PGExecutor{Config: cfg, UserMap: *userMap, DatabaseMap: *dbMap, ReadOnly: *readOnly, Passwords: passwords}
	live := &replay.Live{}
	mon := &replay.Monitor{Results: rw, Live: live, Speed: *speed, Started: time.Now()}
	if *metricsAddr != "" {
		addr := *metricsAddr
		if strings.HasPrefix(addr, ":") {
			addr = "127.0.0.1" + addr
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return usagef("replay: --metrics-addr %s: %v", addr, err)
		}
		srv := &http.Server{Handler: mon, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(env.stderr, "metrics at http://%s/metrics\n", ln.Addr())
	}
	stopSampling := func() {}
	if sampleCfg != nil {
		if stopSampling, err = sampleInBackground(ctx, env, sampleCfg, *samplesOut); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		fmt.Fprintf(env.stderr, "sampling the candidate into %s\n", *samplesOut)
	}
	stopProgress, warn := replayProgress(env, mon, *quiet)
	budget := int64(*memBudget) << 20
	if os.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector lets the heap grow to twice what is live;
		// told the budget, it collects sooner rather than pass it.
		debug.SetMemoryLimit(budget)
	}
	// Waiting statements get a quarter, so that the heap, twice what is
	// live, stays well under the limit without the collector running all
	// the time.
	opts := replay.Options{Speed: *speed, IncludeSystem: *includeSystem, Live: live, Begin: window.Begin, End: window.End, Jump: *jump,
		MemoryBudget: budget / 4, ReadAhead: *readAhead, SpillDir: *spillDir, Warn: warn}
	rctx, stopWatch := watchResults(ctx, rw, *out, warn)
	st, runErr := replay.Run(rctx, r, ex, opts, rw.Add)
	writeErr := stopWatch()
	ex.Close(context.WithoutCancel(ctx))
	stopProgress()
	stopSampling()
	// A replay the user stopped, or that stopped on a write error, did not
	// run the whole workload.
	interrupted := errors.Is(runErr, context.Canceled) || ctx.Err() != nil || writeErr != nil
	sum, err := rw.Close(st, interrupted)
	closeErr := closeOut()
	if err := cmp.Or(writeErr, err, closeErr); err != nil {
		printSummary(env, sum, *out, *speed)
		return fmt.Errorf("replay: write the results to %s: %w (the replay was stopped; the file holds the results written before; free space on its disk or write elsewhere with -o)", *out, err)
	}
	if *jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		printSummary(env, sum, *out, *speed)
	}
	if sum.BehindSchedule {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: the replay fell behind schedule: %s\n", sum.Diagnosis)
	}
	return runErr
}

// checkTarget refuses a hot standby unless the replay is read-only
// (writes would fail there and measure nothing), and the production
// cluster itself when the workload recorded its system_identifier.
func checkTarget(ctx context.Context, cfg *pgconn.Config, readOnly bool, baselineID string, allowSame bool) (time.Duration, error) {
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("replay: connect to the target: %w (check --target, and that the server accepts connections)", err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, "SELECT pg_is_in_recovery()").ReadAll()
	if err != nil {
		return 0, fmt.Errorf("replay: query the target: %w", err)
	}
	if len(res) == 1 && len(res[0].Rows) == 1 && strings.HasPrefix(string(res[0].Rows[0][0]), "t") && !readOnly {
		return 0, usagef("replay: the target is in recovery (a standby); replay writes, so point --target at a primary, or pass --read-only for a read-only workload")
	}
	if baselineID != "" && !allowSame {
		id, err := querySystemIdentifier(ctx, c)
		if err == nil && id == baselineID {
			return 0, usagef("replay: the target is the cluster the log came from (system_identifier %s): replaying would write production's statements into production again. Point --target at the candidate, or pass --allow-same-system if this really is a scratch copy", id)
		}
	}
	// The round trip, for compare to set client-side latencies beside
	// the log's server-side durations.
	var rtts []time.Duration
	for i := 0; i < 11; i++ {
		t0 := time.Now()
		if _, err := c.Exec(ctx, "").ReadAll(); err != nil {
			break
		}
		rtts = append(rtts, time.Since(t0))
	}
	if len(rtts) == 0 {
		return 0, nil
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], nil
}

// missingWhy lists the reasons production errors were not reproduced.
func missingWhy(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// printSummary prints a replay's figures on standard error.
func printSummary(env *environment, sum *replay.Summary, out string, speed float64) {
	fmt.Fprintf(env.stderr, "replayed %d of %d statements in %d sessions (%d skipped, %d pipelined); lateness p99 %.1f ms, max %.1f ms; latency p50 %.2f ms, p99 %.2f ms; results in %s\n",
		sum.Replayed, sum.Statements, sum.Sessions, sum.Skipped, sum.Pipelined, sum.LatenessP99MS, sum.LatenessMaxMS, sum.LatencyP50MS, sum.LatencyP99MS, out)
	fmt.Fprintf(env.stderr, "errors: %d on the target; of production's %d, %d reproduced, %d missing%s; %d new\n",
		sum.Errors, sum.ProductionErrors, sum.Reproduced, sum.ProductionErrors-sum.Reproduced, missingWhy(sum.Missing), sum.NewErrors)
	fmt.Fprintf(env.stderr, "took %.1f s for %.1f s of workload at speed %g; replayer CPU %.1f s\n", sum.DurationS, sum.ScheduledS, speed, sum.ReplayerCPUS)
}

// watchResults stops the replay as soon as its results can no longer be
// written (a full disk), and says so then, not at the end: a replay
// whose results are lost would load the target for nothing. stop returns
// the write error, if any.
func watchResults(ctx context.Context, rw *replay.ResultsWriter, out string, warn func(string)) (context.Context, func() error) {
	rctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return nil
			case <-t.C:
				if err := rw.Err(); err != nil {
					warn(fmt.Sprintf("writing the results to %s failed: %v; stopping the replay", out, err))
					cancel(err)
					return err
				}
			}
		}
	})
	return rctx, func() error {
		close(done)
		err := g.Wait()
		cancel(nil)
		return err
	}
}
