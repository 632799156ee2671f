package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// replayFlags are replay's flags, and what check derives from them.
type replayFlags struct {
	target, out, shard, metricsAddr, passwordFile, startAt string
	candMetrics, samplesOut, spillDir, syncMode            string
	speed                                                  float64
	jsonOut, readOnly, quiet, jump, allowSame              bool
	includeSystem, unnamed                                 bool
	userMap, dbMap                                         map[string]string
	memBudget                                              int
	readAhead, unreachable                                 time.Duration
	lf                                                     logFlags

	shardI, shardN int
	window         parse.Options
	startTime      time.Time
	sampleCfg      *pgconn.Config
	sync           replay.SyncMode
}

func (rf *replayFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&rf.target, "target", "", "the candidate cluster: a libpq DSN or URL (PG* variables and .pgpass apply)")
	fs.Float64Var(&rf.speed, "speed", 1, "replay speed: 2 runs the workload in half the time")
	fs.StringVarP(&rf.out, "output", "o", "results.jsonl", "results file to write")
	fs.BoolVar(&rf.jsonOut, "json", false, "print the summary as one JSON object on standard output")
	fs.BoolVar(&rf.readOnly, "read-only", false, "run every session with default_transaction_read_only = on")
	fs.StringToStringVar(&rf.userMap, "user-map", nil, "rename users on the target: orig=new,...")
	fs.StringToStringVar(&rf.dbMap, "database-map", nil, "rename databases on the target: orig=new,...")
	fs.StringVar(&rf.shard, "shard", "", "replay only shard I of N (I/N, 0-based): N processes replay disjoint sets of whole sessions")
	fs.StringVar(&rf.metricsAddr, "metrics-addr", "", "serve Prometheus metrics of the replay at this address (host:port; a bare :port listens on 127.0.0.1)")
	fs.BoolVarP(&rf.quiet, "quiet", "q", false, "no progress line")
	rf.lf.register(fs)
	fs.BoolVar(&rf.jump, "jump", false, "skip idle gaps: when no statement is running or waiting, move on to the next one (lateness is measured against the shifted schedule)")
	fs.StringVar(&rf.passwordFile, "password-file", "", "file of user:password lines for the target's users (keeps passwords off the command line)")
	fs.StringVar(&rf.startAt, "start-at", "", "start the replay's clock at this time (RFC 3339), so shards on several machines start together")
	fs.BoolVar(&rf.allowSame, "allow-same-system", false, "replay even when the target is the cluster the log came from (same system_identifier)")
	fs.StringVar(&rf.candMetrics, "candidate-metrics", "", "with pg:DSN, sample the candidate's statistics every second while replaying, into --samples")
	fs.StringVar(&rf.samplesOut, "samples", "", "samples file for --candidate-metrics pg:DSN (default: the results file's name with .samples.jsonl)")
	fs.BoolVar(&rf.includeSystem, "include-system", false, "also replay statements that act beyond the workload (ALTER SYSTEM, pg_terminate_backend, COPY ... PROGRAM)")
	fs.IntVar(&rf.memBudget, "memory-budget", 256, "MB of memory for the replay: statements waiting for their session get a quarter, and a stalled session's backlog beyond its share goes to disk")
	fs.DurationVar(&rf.readAhead, "read-ahead", 0, "how far ahead of the schedule (workload time) to read (default: the workload's reorder window + 1s)")
	fs.StringVar(&rf.spillDir, "spill-dir", "", "directory for stalled sessions' backlogs (default: the system's temp directory)")
	fs.BoolVar(&rf.unnamed, "unnamed", false, "send named prepared statements as unnamed Parse/Bind/Execute: needed through a transaction pooler (PgBouncer pool_mode = transaction), where a named statement does not outlive its transaction; counted and reported as a protocol change")
	fs.StringVar(&rf.syncMode, "sync", "", "order contended sessions by production's commits: objects (the default: wait for the transactions that touched the same rows or tables), commit (for every transaction), off (each session keeps only its own order; the default through a transaction pooler)")
	fs.DurationVar(&rf.unreachable, "unreachable-after", 30*time.Second, "stop the replay (exit 1) when no session could connect to the target for this long")
}

// check validates the flags and the files before anything connects.
func (rf *replayFlags) check(workload string, more ...func(*files)) error {
	if rf.speed <= 0 {
		return usagef("replay: --speed must be positive")
	}
	if rf.shard != "" {
		if _, err := fmt.Sscanf(rf.shard, "%d/%d", &rf.shardI, &rf.shardN); err != nil || rf.shardN < 1 || rf.shardI < 0 || rf.shardI >= rf.shardN {
			return usagef("replay: --shard %q: want I/N with 0 <= I < N, e.g. 0/4", rf.shard)
		}
	}
	var err error
	if rf.sync, err = replay.ParseSyncMode(rf.syncMode); err != nil {
		return usagef("replay: %v", err)
	}
	if rf.window, err = rf.lf.options(); err != nil {
		return err
	}
	if rf.startAt != "" {
		if rf.startTime, err = time.Parse(time.RFC3339, rf.startAt); err != nil {
			return usagef("replay: --start-at %q: want RFC 3339, e.g. 2026-11-22T14:00:00Z", rf.startAt)
		}
	}
	if rf.candMetrics != "" {
		spec, err := metrics.ParseSpec(rf.candMetrics)
		if err != nil {
			return usagef("replay: --candidate-metrics: %v", err)
		}
		if spec.Kind == "pg" {
			if rf.sampleCfg, err = pgconn.ParseConfig(spec.Arg); err != nil {
				return usagef("replay: --candidate-metrics: %v", err)
			}
			if rf.samplesOut == "" {
				rf.samplesOut = strings.TrimSuffix(rf.out, filepath.Ext(rf.out)) + ".samples.jsonl"
			}
		}
		// Other sources are read by compare afterwards, from the replay
		// window in the results file.
	}
	paths := files{cmd: "replay"}
	paths.input("workload", workload)
	paths.input("--password-file", rf.passwordFile)
	paths.output("-o", rf.out)
	if rf.sampleCfg != nil {
		paths.output("--samples", rf.samplesOut)
	}
	for _, f := range more {
		f(&paths)
	}
	// Checked now, not after --start-at's wait.
	return paths.check()
}

// waitForStart waits for --start-at.
func (rf *replayFlags) waitForStart(ctx context.Context, env *environment) error {
	if rf.startTime.IsZero() {
		return nil
	}
	fmt.Fprintf(env.stderr, "waiting until %s to start\n", rf.startTime.Format(time.RFC3339))
	t := time.NewTimer(time.Until(rf.startTime))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// header is the results file's header.
func (rf *replayFlags) header(safe, workload string, wh *parse.Header, ti *targetInfo) replay.ResultsHeader {
	h := replay.ResultsHeader{Target: safe, Speed: rf.speed, Workload: workload, WorkloadID: wh.ID, Shard: rf.shard, Jump: rf.jump,
		CaptureStart: time.UnixMicro(wh.Start).UTC().Format(time.RFC3339Nano),
		Started:      time.Now().UTC().Format(time.RFC3339Nano), RTTUS: ti.rtt.Microseconds(), MaxConnections: ti.maxConnections, Unnamed: rf.unnamed}
	if !rf.window.Begin.IsZero() {
		h.WindowBegin = rf.window.Begin.UTC().Format(time.RFC3339Nano)
	}
	if !rf.window.End.IsZero() {
		h.WindowEnd = rf.window.End.UTC().Format(time.RFC3339Nano)
	}
	if rf.sampleCfg != nil {
		h.Samples = rf.samplesOut
	}
	return h
}

// syncThroughPooler keeps commit-order sync away from a transaction
// pooler unless asked for. A session waiting at the gate inside a
// transaction holds one of the pool's server connections, which the
// session it waits for may need; the gate cannot see the pooler's queue
// (nor the backends' PIDs, to find the cycle), so both would wait out the
// gate's bound, one after another, and the replay would crawl. So the
// default there is off, and an explicit mode gets a warning.
func (rf *replayFlags) syncThroughPooler(env *environment, p *pooler) {
	if p == nil || !p.transaction || rf.sync == replay.SyncOff {
		return
	}
	if rf.syncMode == "" {
		rf.sync = replay.SyncOff
		fmt.Fprintf(env.stderr, "pgrehearse: note: through a transaction pooler the replay runs with --sync off, not the default --sync %s: a session waiting for another inside a transaction would hold a server connection the other may need; pass --sync %s to ask for it anyway\n", replay.DefaultSync, replay.DefaultSync)
		return
	}
	fmt.Fprintf(env.stderr, "pgrehearse: warning: --sync %s through a transaction pooler: a session waiting for another inside a transaction holds a server connection the other may need, and the pooler hides who waits for whom; if the replay falls behind, use --sync off\n", rf.sync)
}
