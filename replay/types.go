package replay

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// Conn runs the statements of one session.
type Conn interface {
	// Run sends one unit and fills outs, one Outcome per event: a
	// statement or an Error event alone, or several extended ones that
	// production sent before a single Sync, which go in one pipeline so
	// that they commit or fail together. An Error event is a statement
	// production had fail at Parse or Bind: Run sends it so that the
	// target raises the same error.
	Run(ctx context.Context, unit []*parse.Event, outs []Outcome)
	// Close ends the session.
	Close(ctx context.Context) error
	// Alive reports whether the connection is still usable.
	Alive() bool
}

// Executor opens one connection per original session.
type Executor interface {
	Open(ctx context.Context, s *parse.Session) (Conn, error)
}

// Backend is implemented by connections that know the server process
// serving them, so that a wait can be looked up on the target.
type Backend interface {
	BackendPID() uint32
}

// Inspector is implemented by executors that can ask the target what its
// backends are waiting for (pg_stat_activity, pg_blocking_pids).
type Inspector interface {
	Waits(ctx context.Context, pids []uint32) ([]Wait, error)
}

// Wait is what the target says one backend is doing.
type Wait struct {
	PID   uint32
	State string
	Type  string // wait_event_type: Lock, IO, Client, ...
	Event string // wait_event: transactionid, relation, ...
	// BlockedBy are the backends holding what it waits for
	// (pg_blocking_pids), described.
	BlockedBy []Blocker
}

// Blocker describes a backend that holds what another waits for.
type Blocker struct {
	PID         uint32
	Application string
	User        string
	State       string
}

// Outcome is what running a statement gave.
type Outcome struct {
	Rows     int64
	SQLState string
	Err      error
	// Skipped is set when the statement was not sent, SkipReason says why.
	Skipped    bool
	SkipReason string
	// Done is when its result came back; zero means when Run returned.
	Done time.Time
	// Retyped is set when the target could not infer a parameter's type
	// that the client had declared in production (the log keeps values,
	// not types) and the statement was prepared again with typed
	// parameters.
	Retyped bool
	// StandIn is set when a production error the log lacks the values to
	// reproduce (a Bind error without its parameters) was raised on
	// purpose with the same SQLSTATE, so that the transaction is in the
	// same state after it as in production.
	StandIn bool
	// Interrupted is set when the end of the replay cut the statement
	// short (the grace period after Ctrl-C ran out): not an error of the
	// target.
	Interrupted bool
	// Unnamed is set when a named prepared statement was sent as an
	// unnamed Parse/Bind/Execute (PGExecutor.Unnamed): a protocol change.
	Unnamed bool
	// Checksummed is set when checksums were on and the statement
	// returned rows: Checksum digests them whatever their order, and
	// OrderedChecksum in their order when Ordered (its top level has
	// ORDER BY).
	Checksummed     bool
	Ordered         bool
	Checksum        uint64
	OrderedChecksum uint64
	// NonDeterministic says what in the statement's text makes its
	// result differ between two runs on the same data ("random()",
	// "now()", "LIMIT without ORDER BY", ...): it is left out of the
	// divergence counts.
	NonDeterministic string
}

// Result is one statement's record: when it should have started, when it
// did, and how it went.
type Result struct {
	Session uint64
	// Kind is parse.Statement, or parse.Error for a production error
	// raised again (Index then numbers the session's Error events).
	Kind      parse.EventKind
	Index     int
	Scheduled time.Time
	Started   time.Time
	Latency   time.Duration
	// Production is the SQLSTATE the statement failed with in the original
	// log, "" when it succeeded there, "unknown" when the log did not say.
	Production string
	// Fingerprint identifies the statement's normalised query.
	Fingerprint fingerprint.ID
	// Pipelined: sent in one pipeline with the statement before it.
	Pipelined bool
	// LateCause says why a statement started late: CauseTarget when its
	// session's previous statement was still running on the target at its
	// due time, CauseLock when that statement was waiting for a lock,
	// CauseConnect when the session had to connect first, CauseReplayer
	// when the replayer itself was slow to send it.
	LateCause string
	// BlockedBy names who held the lock this statement waited for on the
	// target, when the target said.
	BlockedBy string
	// Sync is how long the statement waited for other sessions under
	// --sync before it was sent (sync.go).
	Sync SyncWait
	Outcome
}

// Causes of lateness (Result.LateCause).
const (
	CauseTarget   = "target"
	CauseLock     = "lock"
	CauseConnect  = "connect"
	CauseReplayer = "replayer"
	// CauseSync: it waited (--sync) for another session to get as far as
	// it had in production.
	CauseSync = "sync"
)

// Lateness is how long after its scheduled time the statement started.
func (r *Result) Lateness() time.Duration {
	if d := r.Started.Sub(r.Scheduled); d > 0 {
		return d
	}
	return 0
}

// Options controls a replay.
type Options struct {
	// Speed divides every original offset: 2 replays twice as fast. 0
	// means 1.
	Speed float64
	// ReadAhead is how far ahead of the schedule, in workload time, the
	// reader hands events to the sessions. Default: the workload's reorder
	// window plus one second, so statements the log wrote out of order
	// still reach their session on time.
	ReadAhead time.Duration
	// MemoryBudget bounds the bytes of events waiting in memory for all
	// sessions together. A stalled session whose backlog grows past its
	// share has the rest written to a spill file in SpillDir. Default
	// 64 MiB.
	MemoryBudget int64
	// SpillDir holds spill files (default: the system's temp directory).
	SpillDir string
	// Warn, when set, is called with messages for the user about a stalled
	// session and what it waits for.
	Warn func(string)
	// IncludeSystem replays statements that reach beyond the workload
	// (ALTER SYSTEM, pg_terminate_backend, COPY ... PROGRAM, ...), which
	// are skipped by default.
	IncludeSystem bool
	// Begin and End pick a window of the workload (zero: open). The
	// replay's clock starts at Begin; statements outside are not run.
	Begin, End time.Time
	// Live, when set, is kept up to date while the replay runs.
	Live *Live
	// Grace is how long statements already running may finish after ctx
	// is cancelled (Ctrl-C) before they are cancelled too. Default 5s.
	Grace time.Duration
	// Jump skips idle gaps: when no statement is running or waiting, the
	// clock moves on to the next one (pgreplay -j). Lateness is measured
	// against the shifted schedule.
	Jump bool
	// WatchEvery is how often running statements are looked up on the
	// target to see whether they wait for a lock (Executor must be an
	// Inspector). Default 1s; negative turns it off.
	WatchEvery time.Duration
	// Unreachable is how long every attempt to connect may fail, without
	// any answer from the target, before the replay stops with an
	// UnreachableError. Default 30s; negative never stops.
	Unreachable time.Duration
	// MaxConnections is the target's max_connections and PeakSessions
	// the workload's peak of concurrent sessions, when known: they go in
	// the warning given when the target refuses a session with 53300.
	MaxConnections int
	PeakSessions   int64
	// Sync orders contended sessions by production's commits (sync.go).
	Sync SyncOptions
	// noAlarm makes sessions sleep on runtime timers rather than the
	// timerfd alarm: for tests under testing/synctest, whose fake clock
	// a timerfd does not follow.
	noAlarm bool
}

// Live holds figures of a running replay for a progress line or a metrics
// endpoint. Its fields are updated atomically.
type Live struct {
	// OpenSessions counts sessions with a connection now.
	OpenSessions atomic.Int64
	// WorkloadUS is how far into the workload (µs of original time) the
	// scheduler has handed out events.
	WorkloadUS atomic.Int64
	// QueuedBytes is the memory events waiting for their session hold;
	// SpilledBytes what stalled sessions' backlogs hold on disk.
	QueuedBytes  atomic.Int64
	SpilledBytes atomic.Int64
	// Stalled counts sessions whose backlog went to disk.
	Stalled atomic.Int64
}

// Stats sums up a schedule run.
type Stats struct {
	Sessions   int
	Statements int
	OpenErrors int
	// Reconnects counts connections lost mid-run and opened again.
	Reconnects int
	Started    time.Time
	Finished   time.Time
	// Scheduled is how long the replayed part of the workload lasts at
	// the replay's speed, the yardstick for Finished - Started.
	Scheduled time.Duration
	// Jumped is how much idle time Jump skipped.
	Jumped time.Duration
	// CPU is the CPU time the replayer used, user and system.
	CPU time.Duration
	// PeakQueuedBytes is the most memory events waited in at once;
	// SpilledBytes how much went to disk in all.
	PeakQueuedBytes int64
	SpilledBytes    int64
	// Stalls lists sessions whose backlog outgrew memory, and LockWaits
	// the waits for locks the target reported, by blocker.
	Stalls    []Stall
	LockWaits []LockWait
	// RefusedConnections counts sessions the target refused at least
	// once with 53300 (too many connections); ConnectFailures every
	// failed attempt to connect; PeakConnections the most connections
	// the sessions held at once.
	RefusedConnections int
	ConnectFailures    int
	PeakConnections    int
	// WorkloadError is why the workload could not be read to its end
	// (a truncated file), "" when it was; UnreachableSince is set when
	// the replay stopped because the target could not be reached.
	WorkloadError    string
	UnreachableSince time.Time
	// Sync sums up the waits of --sync.
	Sync *SyncSummary
}

// Stall is a session whose backlog outgrew its share of memory because
// one of its statements ran long on the target.
type Stall struct {
	Session uint64 `json:"session"`
	// Index is the statement it was held up by; HeldS how long it had run
	// when the backlog went to disk.
	Index   int     `json:"statement"`
	HeldS   float64 `json:"held_s"`
	Backlog int     `json:"backlog"`
	// Waiting says what the target said it waited for, when it did.
	Waiting string `json:"waiting,omitempty"`
}

// LockWait sums up the waits for locks one blocker caused.
type LockWait struct {
	// BlockedBy is "session N" for a replayed session, or a description
	// of a backend outside the replay.
	BlockedBy  string  `json:"blocked_by"`
	Sessions   int     `json:"sessions"`
	Statements int64   `json:"statements"`
	MaxS       float64 `json:"max_s"`
}
