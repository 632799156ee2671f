package replay

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// session replays one original session: it takes its events from its
// queue in order and runs each at its time on its own connection.
type session struct {
	s  *parse.Session
	rp *running
	q  *queue

	conn Conn
	pid  uint32 // the target backend serving conn, 0 when unknown
	// opened: a connection was made once; lost: the session has none and
	// should make one before its next statement.
	opened, lost, openErr bool
	reconnects            int
	statements            int
	// retry spaces attempts to connect; connState is the SQLSTATE the
	// last one failed with, which statements without a connection record;
	// refused is set once the target refused the session for
	// max_connections.
	retry     backoff
	connState string
	refused   bool
	// prevEnd is when the session's previous statement finished: a
	// statement due before that was held up by the target, not by us.
	prevEnd time.Time
	// prevLock is set when that statement waited for a lock.
	prevLock bool
	// connectedAt is when the session's connection was made: a statement
	// due before that waited for the connection.
	connectedAt time.Time
	// behind is why the session fell behind its schedule, and rootLate how
	// late it was then: while it catches up, its statements are late for
	// the same reason as the first one.
	behind   string
	rootLate time.Duration
	// since is when the running unit was sent (Unix ns, 0 when none), and
	// lock what the watcher saw it wait for; both are read by the watcher.
	since atomic.Int64
	lock  atomic.Pointer[string]

	// Kept from unit to unit, so that a statement costs few allocations.
	unit  []*parse.Event
	cur   runningUnit
	res   []*Result
	send  []*parse.Event
	outs  []Outcome
	timer *time.Timer
	waker *waker
	// uctx bounds the running unit; cancelAt cancels it at a time. gen
	// counts units, so a cancel timer of one that has ended does nothing.
	cancelMu sync.Mutex
	uctx     context.Context
	ucancel  context.CancelFunc
	gen      uint64
	timers   []*time.Timer
}

// loop runs the session's events until its queue ends or ctx does.
func (ss *session) loop(ctx, execCtx context.Context) {
	rp := ss.rp
	rp.sync.open(ss.s.ID)
	defer rp.sync.close(ss.s.ID)
	defer func() {
		rp.addMem(-ss.q.drop())
		ss.closeConn(context.WithoutCancel(ctx))
	}()
	ss.uctx, ss.ucancel = context.WithCancel(execCtx)
	defer func() { ss.ucancel() }()
	for {
		ev, freed, ok := ss.q.pop(ctx, ss.s)
		rp.addMem(-freed)
		if !ok {
			return
		}
		unit := append(ss.unit[:0], ev)
		if ev.Kind == parse.Statement || ev.Kind == parse.Error {
			unit = ss.gather(ctx, unit)
		}
		ss.unit = unit
		ss.cur = runningUnit{events: unit}
		ss.q.take(&ss.cur)
		if due := rp.at(ev.Time); ctx.Err() == nil && ss.sleepUntil(ctx, due) {
			ss.run(ctx, execCtx, unit, due)
		}
		ss.q.take(nil)
		rp.busy.Add(-int64(len(unit)))
		clear(unit)
	}
}

// sendEarly is how early a statement may be sent rather than slept for.
// A Go timer of less than a millisecond wakes, in a process with nothing
// else to do, a millisecond or more later (the poller waits in whole
// milliseconds), so a statement due 50 µs after its session's last answer
// (production's client sending the next statement of a transaction)
// would go out a millisecond late and every transaction take longer than
// production's, holding its locks for longer. Sent at once it is at most
// this early, less than the millisecond stamps of the log can tell, and
// the session does not sleep and wake for it. Measured on a light pgbench
// capture: lateness p99 halved, replayer CPU 8 % lower (docs/performance.md).
const sendEarly = 200 * time.Microsecond

// sleepUntil is sleepUntil for a due time, on the replay's alarm or else
// the session's own timer: it returns at once when t is less than
// sendEarly away.
func (ss *session) sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= sendEarly {
		return ctx.Err() == nil
	}
	if a := ss.rp.alarm; a != nil {
		if ss.waker == nil {
			ss.waker = newWaker()
		}
		a.wait(ss.waker, t)
		select {
		case <-ss.waker.c:
			return true
		case <-ctx.Done():
			a.leave(ss.waker)
			return false
		}
	}
	if ss.timer == nil {
		ss.timer = time.NewTimer(d)
	} else {
		ss.timer.Reset(d)
	}
	select {
	case <-ss.timer.C:
		return true
	case <-ctx.Done():
		ss.timer.Stop()
		return false
	}
}

// cancelAt cancels the running unit at t. It is called by the session and,
// for late news, by the reader.
func (ss *session) cancelAt(t time.Time) {
	ss.cancelMu.Lock()
	defer ss.cancelMu.Unlock()
	gen := ss.gen
	ss.timers = append(ss.timers, time.AfterFunc(time.Until(t), func() {
		ss.cancelMu.Lock()
		defer ss.cancelMu.Unlock()
		if ss.gen == gen {
			ss.ucancel()
		}
	}))
}

// endUnit stops the unit's cancel timers, and makes a new unit context if
// one cancelled it.
func (ss *session) endUnit(execCtx context.Context) {
	ss.cancelMu.Lock()
	defer ss.cancelMu.Unlock()
	ss.gen++
	for _, t := range ss.timers {
		t.Stop()
	}
	clear(ss.timers)
	ss.timers = ss.timers[:0]
	if ss.uctx.Err() != nil {
		ss.uctx, ss.ucancel = context.WithCancel(execCtx)
	}
}

// gather returns head and the events production sent after it before the
// same Sync (Pipelined), which follow it in the session's queue. When the
// workload says more of the pipeline follows (Continued), it waits for
// them: the reader hands them over without delay.
func (ss *session) gather(ctx context.Context, unit []*parse.Event) []*parse.Event {
	for unit[len(unit)-1].Continued {
		ev, freed, ok, done := ss.q.nextIf(ss.s, pipelinedEvent)
		ss.rp.addMem(-freed)
		if ok {
			unit = append(unit, ev)
			continue
		}
		if done || ss.q.hasNext() {
			// The next event is not part of it after all.
			return unit
		}
		select {
		case <-ss.q.wake:
		case <-ctx.Done():
			return unit
		}
	}
	for {
		// Pipelined events the parser could not announce.
		ev, freed, ok, _ := ss.q.nextIf(ss.s, pipelinedEvent)
		ss.rp.addMem(-freed)
		if !ok {
			return unit
		}
		unit = append(unit, ev)
	}
}

// pipelinedEvent reports whether ev joins the pipeline of the one before.
func pipelinedEvent(ev *parse.Event) bool {
	return ev.Pipelined && (ev.Kind == parse.Statement || ev.Kind == parse.Error)
}

func (ss *session) closeConn(ctx context.Context) {
	if ss.conn == nil {
		return
	}
	ss.conn.Close(ctx)
	ss.conn = nil
	ss.rp.open.Add(-1)
	ss.rp.watch.forget(ss)
	if ss.rp.Live != nil {
		ss.rp.Live.OpenSessions.Add(-1)
	}
}

func (ss *session) connected(c Conn) {
	ss.conn, ss.lost = c, false
	ss.connectedAt = time.Now()
	if ss.opened {
		ss.reconnects++
	}
	ss.opened = true
	ss.retry.reset()
	ss.connState = ""
	ss.rp.reach.ok()
	ss.rp.addOpen()
	ss.pid = 0
	if b, ok := c.(Backend); ok {
		ss.pid = b.BackendPID()
	}
	ss.rp.watch.note(ss)
	if ss.rp.Live != nil {
		ss.rp.Live.OpenSessions.Add(1)
	}
}

// run replays one unit that is due now (at due).
func (ss *session) run(ctx, execCtx context.Context, unit []*parse.Event, due time.Time) {
	switch unit[0].Kind {
	case parse.SessionStart:
		c, err := openWaiting(ctx, ss.rp.ex, ss.s)
		if err != nil {
			// Try again before the session's next statement: in
			// production the database or role it needs may have been
			// created by another session just before, and a slower
			// target may not have finished that yet.
			ss.openErr, ss.lost = true, true
			ss.connectFailed(ctx, err)
			return
		}
		ss.connected(c)
	case parse.SessionEnd:
		ss.closeConn(ctx)
	case parse.Statement, parse.Error:
		ss.runStatements(ctx, execCtx, unit, due)
	}
}

// runStatements sends a unit of statements (one, or a pipelined run) and
// records a result for each.
func (ss *session) runStatements(ctx, execCtx context.Context, unit []*parse.Event, due time.Time) {
	rp := ss.rp
	sw := rp.sync.wait(ctx, ss.s.ID, unit)
	started := time.Now()
	cause := ss.lateCause(due, started)
	if ss.conn == nil && ss.lost {
		// The connection was lost (killed backend, restarted target),
		// or never made: the application would have connected again.
		ss.reopen(ctx)
		cause = CauseConnect
		started = time.Now()
	}
	ss.q.start(started, ss)
	results, send, outs := ss.prepare(unit, due, started, cause)
	rp.sync.note(results, sw)
	if len(send) > 0 {
		ss.since.Store(started.UnixNano())
		ss.conn.Run(ss.uctx, send, outs)
		ss.since.Store(0)
		rp.noteAnswers(outs)
	}
	ss.endUnit(execCtx)
	end := time.Now()
	var blocked string
	if p := ss.lock.Swap(nil); p != nil {
		blocked = *p
	}
	k := 0
	for _, res := range results {
		if ss.sendable(res) {
			res.Outcome = outs[k]
			k++
		}
		markInterrupted(ctx, execCtx, res)
		done := res.Done
		if done.IsZero() {
			done = end
		}
		res.Latency = done.Sub(res.Started)
		res.BlockedBy = blocked
		if blocked != "" {
			rp.watch.record(blocked, ss.s.ID, end.Sub(started))
		}
		rp.sink(res)
		ss.statements++
	}
	rp.sync.done(ss.s.ID, unit, results)
	clear(results)
	if ss.conn != nil && !ss.conn.Alive() && ctx.Err() == nil {
		// The connection is gone (a killed backend, a restarted target,
		// a network fault).
		ss.closeConn(ctx)
		ss.lost = true
	}
	ss.prevEnd, ss.prevLock = end, blocked != ""
}

// lateCause says why a unit due at due starts late (at now), if it does:
// what held the session up when it fell behind (a lock, the target, the
// connection, the replayer), for as long as it is catching up, and the
// target when it falls further behind.
func (ss *session) lateCause(due, now time.Time) string {
	late := now.Sub(due)
	if late <= time.Millisecond {
		ss.behind, ss.rootLate = "", 0
		return ""
	}
	cause := CauseReplayer
	switch {
	case ss.prevEnd.After(due) && ss.prevLock:
		cause = CauseLock
	case ss.behind != "" && late <= ss.rootLate+max(100*time.Millisecond, ss.rootLate/10):
		// Catching up, not much later than when it fell behind, and for
		// the same reason.
		cause = ss.behind
	case ss.prevEnd.After(due):
		// Further behind: the target took longer over the statements
		// before than production left until this one.
		cause = CauseTarget
	case ss.connectedAt.After(due):
		// The connection (or the wait for its database or role to
		// exist) took until after the statement was due.
		cause = CauseConnect
	}
	if cause != ss.behind {
		ss.behind, ss.rootLate = cause, late
	}
	return cause
}

// sendable reports whether a result's statement goes to the target: it
// was not decided in prepare.
func (ss *session) sendable(res *Result) bool {
	return !res.Skipped && res.Err == nil
}

// prepare makes the results of a unit and picks what to send: statements
// that can not be replayed as they stand, or that act beyond the workload,
// are skipped; without a connection nothing can be sent.
func (ss *session) prepare(unit []*parse.Event, due, started time.Time, cause string) (results []*Result, send []*parse.Event, outs []Outcome) {
	rp := ss.rp
	results, send = ss.res[:0], ss.send[:0]
	for i, ev := range unit {
		sched := due
		if i > 0 {
			sched = rp.at(ev.Time)
		}
		res := &Result{Session: ss.s.ID, Kind: ev.Kind, Index: ev.Index, Scheduled: sched, Started: started,
			Fingerprint: ev.Fingerprint, Pipelined: i > 0}
		if res.Lateness() > time.Millisecond {
			res.LateCause = cause
			if res.LateCause == "" {
				// Late only after the unit's first statement.
				res.LateCause = CauseReplayer
			}
		}
		if ev.Err != nil {
			res.Production = ev.Err.SQLState
			if res.Production == "" {
				res.Production = "unknown"
			}
		}
		switch {
		case ev.Kind == parse.Statement && ev.Skip != parse.Replayable:
			res.Skipped, res.SkipReason = true, ev.Skip.String()
		case !rp.IncludeSystem && rp.beyond(ev):
			res.Skipped, res.SkipReason = true, "beyond_workload"
		case ev.Kind == parse.Error && notSendable(ev) != "":
			res.Skipped, res.SkipReason = true, notSendable(ev)
		case ss.conn == nil:
			res.Err, res.SQLState = errNoConnection, ss.connState
		default:
			send = append(send, ev)
		}
		results = append(results, res)
	}
	ss.res, ss.send = results, send
	outs = append(ss.outs[:0], make([]Outcome, len(send))...)
	ss.outs = outs
	return results, send, outs
}

var errNoConnection = errors.New("no connection for this session")

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
// PgBouncer passes the server's message on with its own SQLSTATE, 08P01.
func notYet(err error) bool {
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		switch se.SQLState() {
		case "3D000", "28000":
			return true
		case "08P01":
			return strings.Contains(err.Error(), "does not exist")
		}
	}
	return false
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
