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
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/dsn"
	"github.com/pgrehearse/pgrehearse/internal/procs"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

func runReplay(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "replay", "WORKLOAD (- for standard input)")
	var rf replayFlags
	rf.register(fs)
	var ctl controlFlags
	ctl.register(fs)
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
	workload := fs.Arg(0)
	if err := ctl.setup(rf.out, workload); err != nil {
		return err
	}
	if err := rf.check(workload, ctl.files); err != nil {
		return err
	}
	cfg, passwords, err := rf.targetConfig()
	if err != nil {
		return err
	}
	r, closeIn, err := openWorkload(ctx, env, workload, &rf.lf)
	if err != nil {
		return err
	}
	defer closeIn()
	if rf.shardN > 0 {
		r.SetSessionFilter(replay.ShardFilter(rf.shardI, rf.shardN))
	}

	pf, err := rf.preflight(ctx, env, &ctl, cfg, r.Header(), workload)
	if err != nil {
		return err
	}
	ti, peak, ctlRTT := pf.target, pf.peak, pf.controlRTT
	if err := rf.waitForStart(ctx, env); err != nil {
		return err
	}
	f, closeOut := createStream(rf.out, env.stdout)
	hdr := rf.header(pf.safe, workload, r.Header(), ti)
	hdr.Clock = pf.clock
	hdr.ControlMode, hdr.Checksums, hdr.Collation = ctl.mode(), ctl.checksums, ctl.collation
	rw, err := newResultsWriter(f, closeOut, hdr, rf.out, "-o")
	if err != nil {
		return err
	}
	ex := rf.executor(cfg, passwords, ctl.checksums)
	var exec replay.Executor = ex
	sink := rw.Add
	var ctlRun *controlReplay
	ctlEx := rf.executor(ctl.cfg, passwords, ctl.checksums)
	if ctl.cfg != nil && !ctl.after {
		if ctlRun, exec, sink, err = ctl.start(ctx, env, ctl.header(hdr, ctlRTT), ex, ctlEx, sink); err != nil {
			return err
		}
		defer ctlEx.Close(context.WithoutCancel(ctx))
	}
	live := &replay.Live{}
	mon := &replay.Monitor{Results: rw, Live: live, Speed: rf.speed, Started: time.Now()}
	if rf.metricsAddr != "" {
		stopMetrics, err := serveMetrics(env, rf.metricsAddr, mon)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	stopSampling, err := rf.sampleCandidate(ctx, env)
	if err != nil {
		return err
	}
	stopProgress, warn := replayProgress(env, mon, rf.quiet)
	opts := rf.options(live, warn, ti, peak)
	rctx, stopWatch := watchResults(ctx, rw, rf.out, "-o", warn)
	stopCtlWatch := func() error { return nil }
	if ctlRun != nil {
		rctx, stopCtlWatch = watchResults(rctx, ctlRun.rw, ctl.output, "--control-output", warn)
	}
	stopProcs := procs.Adapt(ctx, procs.DefaultPolicy, nil)
	st, runErr := replay.Run(rctx, r, exec, opts, sink)
	stopProcs()
	// Asked before the watches stop, which ends rctx in every case.
	interrupted := errors.Is(runErr, context.Canceled) || rctx.Err() != nil
	writeErr := cmp.Or(stopCtlWatch(), stopWatch())
	ex.Close(context.WithoutCancel(ctx))
	stopProgress()
	stopSampling()
	sum, err := rw.Close(st, interrupted)
	closeErr := closeOut()
	var ctlSum *replay.Summary
	if ctlRun != nil {
		var cerr error
		ctlSum, cerr = ctlRun.finish(st, interrupted)
		closeErr = cmp.Or(closeErr, cerr)
	}
	ferr := rf.finish(env, sum, cmp.Or(writeErr, err, closeErr), runErr)
	if ctlSum != nil {
		printControlSummary(env, ctlSum, ctl.output)
	}
	if ferr == nil && ctl.after && !interrupted {
		a := afterRun{workload: workload, lf: &rf.lf, shardI: rf.shardI, shardN: rf.shardN, opts: opts, speed: rf.speed, quiet: rf.quiet, ex: ctlEx, hdr: ctl.header(hdr, ctlRTT)}
		return ctl.replayAfter(ctx, env, a)
	}
	return ferr
}

// targetConfig reads --target and the --password-file.
func (rf *replayFlags) targetConfig() (*pgconn.Config, map[string]string, error) {
	var passwords map[string]string
	var err error
	if rf.passwordFile != "" {
		if passwords, err = readPasswordFile(rf.passwordFile); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := pgconn.ParseConfig(rf.target)
	if err != nil {
		return nil, nil, usagef("replay: --target: %v", err)
	}
	return cfg, passwords, nil
}

// replayPreflight is what the checks before a replay found.
type replayPreflight struct {
	safe       string // the target without its password
	target     *targetInfo
	peak       int64 // the capture's peak of concurrent sessions
	controlRTT time.Duration
	clock      *replay.Clock
}

// preflight checks the target and the control before the replay starts:
// reachable, not the baseline, enough connections, a pooler's limits.
func (rf *replayFlags) preflight(ctx context.Context, env *environment, ctl *controlFlags, cfg *pgconn.Config, wh *parse.Header, workload string) (*replayPreflight, error) {
	pf := &replayPreflight{safe: dsn.Describe(cfg)}
	fmt.Fprintf(env.stderr, "replaying %s against %s at speed %g\n", workload, pf.safe, rf.speed)
	ti, err := checkTarget(ctx, cfg, rf.readOnly, wh.SystemIdentifier, rf.allowSame)
	if err != nil {
		return nil, err
	}
	pf.target = ti
	var named, own int64
	if tr := peekTrailer(ctx, workload); tr != nil {
		pf.peak, named, own = tr.PeakSessions, tr.StatementsByProtocol["prepared"], ownConnections(tr)
	}
	if err := ti.pooler.check(env, rf.unnamed, named); err != nil {
		return nil, err
	}
	rf.syncThroughPooler(env, ti.pooler)
	ti.connections(env, pf.peak, own)
	if pf.controlRTT, err = ctl.preflight(ctx, env, cfg, rf.readOnly, wh.SystemIdentifier, rf.allowSame); err != nil {
		return nil, err
	}
	pf.clock = measureClock(ctx, env, cfg)
	return pf, nil
}

// executor makes the executor of a cluster with the replay's options.
func (rf *replayFlags) executor(cfg *pgconn.Config, passwords map[string]string, checksums bool) *replay.PGExecutor {
	return &replay.PGExecutor{Config: cfg, UserMap: rf.userMap, DatabaseMap: rf.dbMap, ReadOnly: rf.readOnly, Passwords: passwords, Unnamed: rf.unnamed, Checksums: checksums}
}

// serveMetrics serves the replay's live figures at addr until stop.
func serveMetrics(env *environment, addr string, mon *replay.Monitor) (stop func() error, err error) {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("replay: --metrics-addr %s: %v", addr, err)
	}
	srv := &http.Server{Handler: mon, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(env.stderr, "metrics at http://%s/metrics\n", ln.Addr())
	return srv.Close, nil
}

// sampleCandidate samples the candidate's metrics during the replay when
// --candidate-metrics asks for it.
func (rf *replayFlags) sampleCandidate(ctx context.Context, env *environment) (stop func(), err error) {
	if rf.sampleCfg == nil {
		return func() {}, nil
	}
	if stop, err = sampleInBackground(ctx, env, rf.sampleCfg, rf.samplesOut); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(env.stderr, "sampling the candidate into %s\n", rf.samplesOut)
	return stop, nil
}

// options makes the replay's options, and sets the process's memory
// limit from --memory-budget.
func (rf *replayFlags) options(live *replay.Live, warn func(string), ti *targetInfo, peak int64) replay.Options {
	budget := int64(rf.memBudget) << 20
	if os.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector lets the heap grow to twice what is live;
		// told the budget, it collects sooner rather than pass it.
		debug.SetMemoryLimit(budget)
	}
	// Waiting statements get a quarter, so that the heap, twice what is
	// live, stays well under the limit without the collector running all
	// the time.
	return replay.Options{Speed: rf.speed, IncludeSystem: rf.includeSystem, Live: live, Begin: rf.window.Begin, End: rf.window.End, Jump: rf.jump,
		MemoryBudget: budget / 4, ReadAhead: rf.readAhead, SpillDir: rf.spillDir, Warn: warn,
		Unreachable: rf.unreachable, MaxConnections: ti.maxConnections, PeakSessions: peak,
		Sync: replay.SyncOptions{Mode: rf.sync}}
}

// finish prints the summary and says how the replay ended.
func (rf *replayFlags) finish(env *environment, sum *replay.Summary, writeErr, runErr error) error {
	if writeErr != nil {
		printSummary(env, sum, rf.out, rf.speed)
		return stoppedByWrite(writeErr, rf.out, "-o")
	}
	if rf.jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		printSummary(env, sum, rf.out, rf.speed)
	}
	if sum.BehindSchedule {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: the replay fell behind schedule: %s\n", sum.Diagnosis)
	}
	printConnections(env, sum)
	var ue *replay.UnreachableError
	if errors.As(runErr, &ue) {
		return fmt.Errorf("replay: %w; the replay was stopped, and the results written until then are in %s (compare calls them INCONCLUSIVE). Check that the target is up, or give it longer with --unreachable-after", ue, rf.out)
	}
	return runErr
}

// checkTarget refuses a hot standby unless the replay is read-only
// (writes would fail there and measure nothing), and the production
// cluster itself when the workload recorded its system_identifier. It
// measures the round trip, and asks the connection limit and whether a
// pooler is in front of the server.
func checkTarget(ctx context.Context, cfg *pgconn.Config, readOnly bool, baselineID string, allowSame bool) (*targetInfo, error) {
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: connect to the target: %w (check --target, and that the server accepts connections)", err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, "SELECT pg_is_in_recovery()").ReadAll()
	if err != nil {
		return nil, fmt.Errorf("replay: query the target: %w", err)
	}
	if len(res) == 1 && len(res[0].Rows) == 1 && strings.HasPrefix(string(res[0].Rows[0][0]), "t") && !readOnly {
		return nil, usagef("replay: the target is in recovery (a standby); replay writes, so point --target at a primary, or pass --read-only for a read-only workload")
	}
	if baselineID != "" && !allowSame {
		id, err := querySystemIdentifier(ctx, c)
		if err == nil && id == baselineID {
			return nil, usagef("replay: the target is the cluster the log came from (system_identifier %s): replaying would write production's statements into production again. Point --target at the candidate, or pass --allow-same-system if this really is a scratch copy", id)
		}
	}
	ti := &targetInfo{}
	ti.limits(ctx, c)
	if ti.pooler, err = detectPooler(ctx, cfg, c); err != nil {
		return nil, err
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
	if len(rtts) > 0 {
		slices.Sort(rtts)
		ti.rtt = rtts[len(rtts)/2]
	}
	return ti, nil
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
	if y := sum.Sync; y != nil && y.Mode != string(replay.SyncOff) {
		fmt.Fprintf(env.stderr, "sync %s: %d statements waited for other sessions, %.1f s in all (longest %.0f ms); %d went on at the bound\n", y.Mode, y.Waited, y.WaitS, y.MaxWaitMS, y.TimedOut)
	}
}
