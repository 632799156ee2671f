// Package replay is the second stage of pgrehearse: it runs a workload
// against a candidate cluster with the original timing and concurrency.
//
// Every original session gets its own goroutine and, through an Executor,
// its own connection. A statement starts no earlier than its original
// offset divided by the speed factor, and never before the session's
// previous statement has finished, so a session blocked on a lock holds up
// only itself. How late each statement started is measured against that
// schedule.
package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// Conn runs the statements of one session.
type Conn interface {
	// Exec runs one statement and reports what happened.
	Exec(ctx context.Context, ev *parse.Event) Outcome
	// Close ends the session.
	Close(ctx context.Context) error
	// Alive reports whether the connection is still usable.
	Alive() bool
}

// Executor opens one connection per original session.
type Executor interface {
	Open(ctx context.Context, s *parse.Session) (Conn, error)
}

// Outcome is what running a statement gave.
type Outcome struct {
	Rows     int64
	SQLState string
	Err      error
	// Skipped is set when the statement was not sent, SkipReason says why.
	Skipped    bool
	SkipReason string
}

// Result is one statement's record: when it should have started, when it
// did, and how it went.
type Result struct {
	Session   uint64
	Index     int
	Scheduled time.Time
	Started   time.Time
	Latency   time.Duration
	// Production is the SQLSTATE the statement failed with in the original
	// log, "" when it succeeded there.
	Production string
	// Fingerprint identifies the statement's normalised query.
	Fingerprint fingerprint.ID
	// LateCause says why a statement started late: CauseTarget when its
	// session's previous statement was still running on the target at its
	// due time, CauseConnect when the session had to connect first,
	// CauseReplayer when the replayer itself was slow to send it.
	LateCause string
	Outcome
}

// Causes of lateness (Result.LateCause).
const (
	CauseTarget   = "target"
	CauseConnect  = "connect"
	CauseReplayer = "replayer"
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
	// Queue is how many events a session may have waiting; the reader
	// stops reading ahead when a session's queue is full.
	Queue int
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
}

// running is a replay's shared state.
type running struct {
	Options
	fps fingerprint.Cache
	// busy counts events handed to sessions and not yet done, for Jump.
	busy atomic.Int64
	// skew is how far Jump has moved the clock, in nanoseconds.
	skew atomic.Int64
}

// Live holds figures of a running replay for a progress line or a metrics
// endpoint. Its fields are updated atomically.
type Live struct {
	// OpenSessions counts sessions with a connection now.
	OpenSessions atomic.Int64
	// WorkloadUS is how far into the workload (µs of original time) the
	// scheduler has handed out events.
	WorkloadUS atomic.Int64
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
}

// Run reads the workload from r and replays it through ex, calling sink
// (from several goroutines; it must be safe for that) with each result.
// It returns when every session has ended, r is exhausted, or ctx ends.
func Run(ctx context.Context, r *parse.Reader, ex Executor, options Options, sink func(*Result)) (*Stats, error) {
	opt := &running{Options: options}
	speed := opt.Speed
	if speed <= 0 {
		speed = 1
	}
	if opt.Queue <= 0 {
		opt.Queue = 256
	}
	if opt.Grace <= 0 {
		opt.Grace = 5 * time.Second
	}
	// ctx stops the scheduling; execCtx, which outlives it by the grace
	// period, bounds the statements already sent.
	execCtx, cancelExec := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelExec()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(opt.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelExec()
		case <-execCtx.Done():
		}
	})
	defer stop()
	cpu0 := processCPU()
	st := &Stats{Started: time.Now()}
	base := r.Header().Start
	var begin, end int64
	if !opt.Begin.IsZero() {
		begin = opt.Begin.UnixMicro()
		base = max(base, begin)
	}
	if !opt.End.IsZero() {
		end = opt.End.UnixMicro()
	}
	at := func(us int64) time.Time {
		return st.Started.Add(time.Duration(float64(us-base)*float64(time.Microsecond)/speed) - time.Duration(opt.skew.Load()))
	}
	var last int64 = base
	var wg sync.WaitGroup
	var mu sync.Mutex
	sessions := map[uint64]chan *parse.Event{}
	var readErr error
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if ctx.Err() != nil {
			break
		}
		if ev.Session == nil {
			continue
		}
		if end != 0 && ev.Time > end {
			// Past the window: what is still open closes now.
			break
		}
		if ev.Kind == parse.Statement && ev.Time < begin {
			continue
		}
		q, ok := sessions[ev.Session.ID]
		if !ok {
			if ev.Kind == parse.Update {
				continue
			}
			q = make(chan *parse.Event, opt.Queue)
			sessions[ev.Session.ID] = q
			st.Sessions++
			wg.Add(1)
			go func(s *parse.Session, q chan *parse.Event) {
				defer wg.Done()
				n, openErr, reconnects := runSession(ctx, execCtx, s, q, ex, at, sink, opt)
				mu.Lock()
				st.Statements += n
				st.Reconnects += reconnects
				if openErr {
					st.OpenErrors++
				}
				mu.Unlock()
			}(ev.Session, q)
		}
		if opt.Jump {
			// Once nothing is running or waiting, the gap until this
			// event is idle time in production too: skip it.
			for gap := time.Until(at(ev.Time)); gap > 0 && ctx.Err() == nil; gap = time.Until(at(ev.Time)) {
				if opt.busy.Load() == 0 {
					opt.skew.Add(int64(gap))
					break
				}
				sleepUntil(ctx, time.Now().Add(min(gap, 10*time.Millisecond)))
			}
		}
		// Hand the event over no sooner than a little before it is due,
		// so memory holds seconds of workload, not all of it.
		if wait := time.Until(at(ev.Time)) - time.Second; wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		opt.busy.Add(1)
		select {
		case q <- ev:
		case <-ctx.Done():
			opt.busy.Add(-1)
		}
		last = max(last, ev.Time)
		if opt.Live != nil {
			opt.Live.WorkloadUS.Store(ev.Time - base)
		}
		if ev.Kind == parse.SessionEnd {
			close(q)
			delete(sessions, ev.Session.ID)
		}
	}
	for _, q := range sessions {
		close(q)
	}
	wg.Wait()
	st.Finished = time.Now()
	st.CPU = processCPU() - cpu0
	st.Jumped = time.Duration(opt.skew.Load())
	st.Scheduled = time.Duration(float64(last-base)*float64(time.Microsecond)/speed) - st.Jumped
	if readErr != nil {
		return st, fmt.Errorf("read workload: %w", readErr)
	}
	return st, ctx.Err()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runSession replays one session's events in order.
func runSession(ctx, execCtx context.Context, s *parse.Session, q <-chan *parse.Event, ex Executor, at func(int64) time.Time, sink func(*Result), opt *running) (n int, openErr bool, reconnects int) {
	ss := &session{s: s, ex: ex, opt: opt}
	defer ss.closeConn(context.WithoutCancel(ctx))
	for ev := range q {
		if ctx.Err() == nil {
			n += ss.run(ctx, execCtx, ev, at(ev.Time), sink)
		}
		opt.busy.Add(-1)
	}
	return n, ss.openErr, ss.reconnects
}

// session is the connection state of one replayed session.
type session struct {
	s   *parse.Session
	ex  Executor
	opt *running

	conn Conn
	// opened: a connection was made once; lost: the session has none and
	// should make one before its next statement.
	opened, lost, openErr bool
	reconnects            int
	// prevEnd is when the session's previous statement finished: a
	// statement due before that was held up by the target, not by us.
	prevEnd time.Time
}

func (ss *session) closeConn(ctx context.Context) {
	if ss.conn != nil {
		ss.conn.Close(ctx)
		ss.conn = nil
		if ss.opt.Live != nil {
			ss.opt.Live.OpenSessions.Add(-1)
		}
	}
}

func (ss *session) connected(c Conn) {
	ss.conn, ss.lost = c, false
	if ss.opened {
		ss.reconnects++
	}
	ss.opened = true
	if ss.opt.Live != nil {
		ss.opt.Live.OpenSessions.Add(1)
	}
}

// run replays one event due at due, and returns 1 for a statement.
func (ss *session) run(ctx, execCtx context.Context, ev *parse.Event, due time.Time, sink func(*Result)) int {
	opt := ss.opt
	if !sleepUntil(ctx, due) {
		return 0
	}
	switch ev.Kind {
	case parse.SessionStart:
		c, err := openWaiting(ctx, ss.ex, ss.s)
		if err != nil {
			// Try again before the session's next statement: in
			// production the database or role it needs may have been
			// created by another session just before, and a slower
			// target may not have finished that yet.
			ss.openErr, ss.lost = true, true
			return 0
		}
		ss.connected(c)
	case parse.SessionEnd:
		ss.closeConn(ctx)
	case parse.Statement:
		cause := CauseReplayer
		if ss.prevEnd.After(due) {
			cause = CauseTarget
		}
		if ss.conn == nil && ss.lost {
			// The connection was lost (killed backend, restarted target),
			// or never made: the application would have connected again.
			if c, err := ss.ex.Open(ctx, ss.s); err == nil {
				ss.connected(c)
			}
			cause = CauseConnect
		}
		res := &Result{Session: ss.s.ID, Index: ev.Index, Scheduled: due, Started: time.Now()}
		if res.Lateness() > time.Millisecond {
			res.LateCause = cause
		}
		res.Fingerprint, _ = opt.fps.Lookup(ev.Text)
		if ev.Err != nil {
			res.Production = ev.Err.SQLState
			if res.Production == "" {
				res.Production = "unknown"
			}
		}
		switch {
		case ev.Skip != parse.Replayable:
			res.Skipped, res.SkipReason = true, ev.Skip.String()
		case !opt.IncludeSystem && reachesBeyond(ev.Text):
			res.Skipped, res.SkipReason = true, "beyond_workload"
		case ss.conn == nil:
			res.Err = errors.New("no connection for this session")
		default:
			res.Outcome = execute(execCtx, ss.conn, ev)
			if res.Err != nil && !ss.conn.Alive() && ctx.Err() == nil {
				// The connection is gone (a killed backend, a restarted
				// target, a network fault).
				ss.closeConn(ctx)
				ss.lost = true
			}
		}
		ss.prevEnd = time.Now()
		res.Latency = ss.prevEnd.Sub(res.Started)
		sink(res)
		return 1
	}
	return 0
}

// openWaiting opens a session's connection. When its database or role
// does not exist yet it waits for it a while: in production another
// session created it just before, and the target may be slower at that.
func openWaiting(ctx context.Context, ex Executor, s *parse.Session) (Conn, error) {
	deadline := time.Now().Add(15 * time.Second)
	wait := 20 * time.Millisecond
	for {
		c, err := ex.Open(ctx, s)
		if err == nil || !notYet(err) || time.Now().After(deadline) {
			return c, err
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return nil, err
		}
		wait = min(2*wait, time.Second)
	}
}

// notYet reports whether a connect error says the database or role is
// missing (3D000, 28000): something a statement of the workload creates.
func notYet(err error) bool {
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		switch se.SQLState() {
		case "3D000", "28000":
			return true
		}
	}
	return false
}

// execute runs one statement. A statement a client cancelled in
// production (57014) is cancelled after its original duration, with a real
// cancel request, so the target does the same work.
func execute(ctx context.Context, conn Conn, ev *parse.Event) Outcome {
	if ev.Err != nil && ev.Err.SQLState == "57014" && ev.Duration > 0 {
		c, cancel := context.WithTimeout(ctx, time.Duration(ev.Duration)*time.Microsecond)
		defer cancel()
		return conn.Exec(c, ev)
	}
	return conn.Exec(ctx, ev)
}

// ShardFilter keeps the sessions of shard i of n (0 <= i < n), chosen by
// a hash of the session's key, so n processes replay disjoint sets of
// sessions and every session stays whole.
func ShardFilter(i, n int) func(*parse.Session) bool {
	return func(s *parse.Session) bool {
		h := fnv.New64a()
		h.Write([]byte(s.Key))
		// FNV's low bits are weak for keys that differ in a few
		// characters; a splitmix64 finaliser spreads them.
		x := h.Sum64()
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
		return int(x%uint64(n)) == i
	}
}

// beyond lists what, in a statement, acts outside the workload: on the
// server's configuration, on other sessions, on replication, or on the
// host. Replaying it would change the target rather than load it.
var beyond = []string{"alter system", "pg_reload_conf", "pg_terminate_backend", "pg_cancel_backend",
	"replication_slot", "pg_promote", "pg_rotate_logfile", "pg_switch_wal", "program '", "program $"}

// reachesBeyond reports whether text holds one of those.
func reachesBeyond(text string) bool {
	low := strings.ToLower(text)
	for _, b := range beyond {
		if strings.Contains(low, b) {
			return true
		}
	}
	return false
}
