package replay

import (
	"context"
	"errors"
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
	// prevEnd is when the session's previous statement finished: a
	// statement due before that was held up by the target, not by us.
	prevEnd time.Time
	// prevLock is set when that statement waited for a lock.
	prevLock bool
	// since is when the running unit was sent (Unix ns, 0 when none), and
	// lock what the watcher saw it wait for; both are read by the watcher.
	since atomic.Int64
	lock  atomic.Pointer[string]
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
	for {
		ev, freed, ok := ss.q.pop(ctx, ss.s)
		rp.addMem(-freed)
		if !ok {
			return
		}
		unit := []*parse.Event{ev}
		if ev.Kind == parse.Statement || ev.Kind == parse.Error {
			unit = ss.gather(ctx, ev)
		}
		ss.q.take(&runningUnit{events: unit})
		if ctx.Err() == nil && sleepUntil(ctx, rp.at(ev.Time)) {
			ss.run(ctx, execCtx, unit)
		}
		ss.q.take(nil)
		rp.busy.Add(-int64(len(unit)))
	}
}

// gather returns head and the events production sent after it before the
// same Sync (Pipelined), which follow it in the session's queue. When the
// workload says more of the pipeline follows (Continued), it waits for
// them: the reader hands them over without delay.
func (ss *session) gather(ctx context.Context, head *parse.Event) []*parse.Event {
	unit := []*parse.Event{head}
	pipelined := func(ev *parse.Event) bool {
		return ev.Pipelined && (ev.Kind == parse.Statement || ev.Kind == parse.Error)
	}
	for unit[len(unit)-1].Continued {
		ev, freed, ok, done := ss.q.nextIf(ss.s, pipelined)
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
		ev, freed, ok, _ := ss.q.nextIf(ss.s, pipelined)
		ss.rp.addMem(-freed)
		if !ok {
			return unit
		}
		unit = append(unit, ev)
	}
}

func (ss *session) closeConn(ctx context.Context) {
	if ss.conn == nil {
		return
	}
	ss.conn.Close(ctx)
	ss.conn = nil
	ss.rp.watch.forget(ss)
	if ss.rp.Live != nil {
		ss.rp.Live.OpenSessions.Add(-1)
	}
}

func (ss *session) connected(c Conn) {
	ss.conn, ss.lost = c, false
	if ss.opened {
		ss.reconnects++
	}
	ss.opened = true
	ss.pid = 0
	if b, ok := c.(Backend); ok {
		ss.pid = b.BackendPID()
	}
	ss.rp.watch.note(ss)
	if ss.rp.Live != nil {
		ss.rp.Live.OpenSessions.Add(1)
	}
}

// run replays one unit that is due now.
func (ss *session) run(ctx, execCtx context.Context, unit []*parse.Event) {
	switch unit[0].Kind {
	case parse.SessionStart:
		c, err := openWaiting(ctx, ss.rp.ex, ss.s)
		if err != nil {
			// Try again before the session's next statement: in
			// production the database or role it needs may have been
			// created by another session just before, and a slower
			// target may not have finished that yet.
			ss.openErr, ss.lost = true, true
			return
		}
		ss.connected(c)
	case parse.SessionEnd:
		ss.closeConn(ctx)
	case parse.Statement, parse.Error:
		ss.runStatements(ctx, execCtx, unit)
	}
}

// runStatements sends a unit of statements (one, or a pipelined run) and
// records a result for each.
func (ss *session) runStatements(ctx, execCtx context.Context, unit []*parse.Event) {
	rp := ss.rp
	sw := rp.sync.wait(ctx, ss.s.ID, unit)
	due := rp.at(unit[0].Time)
	cause := CauseReplayer
	switch {
	case ss.prevEnd.After(due) && ss.prevLock:
		cause = CauseLock
	case ss.prevEnd.After(due):
		cause = CauseTarget
	}
	if ss.conn == nil && ss.lost {
		// The connection was lost (killed backend, restarted target),
		// or never made: the application would have connected again.
		if c, err := rp.ex.Open(ctx, ss.s); err == nil {
			ss.connected(c)
		}
		cause = CauseConnect
	}
	uctx, cancel := context.WithCancel(execCtx)
	defer cancel()
	// Cancel deadlines may be set later by late news, from the reader's
	// goroutine.
	var tmu sync.Mutex
	var timers []*time.Timer
	defer func() {
		tmu.Lock()
		for _, t := range timers {
			t.Stop()
		}
		tmu.Unlock()
	}()
	started := time.Now()
	ss.q.start(started, func(at time.Time) {
		t := time.AfterFunc(time.Until(at), cancel)
		tmu.Lock()
		timers = append(timers, t)
		tmu.Unlock()
	})
	results, send, outs := ss.prepare(unit, started, cause)
	rp.sync.note(results, sw)
	if len(send) > 0 {
		ss.since.Store(started.UnixNano())
		ss.conn.Run(uctx, send, outs)
		ss.since.Store(0)
	}
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
	if ss.conn != nil && !ss.conn.Alive() && ctx.Err() == nil {
		// The connection is gone (a killed backend, a restarted target,
		// a network fault).
		ss.closeConn(ctx)
		ss.lost = true
	}
	ss.prevEnd, ss.prevLock = end, blocked != ""
}

// sendable reports whether a result's statement goes to the target: it
// was not decided in prepare.
func (ss *session) sendable(res *Result) bool {
	return !res.Skipped && res.Err == nil
}

// prepare makes the results of a unit and picks what to send: statements
// that can not be replayed as they stand, or that act beyond the workload,
// are skipped; without a connection nothing can be sent.
func (ss *session) prepare(unit []*parse.Event, started time.Time, cause string) (results []*Result, send []*parse.Event, outs []Outcome) {
	rp := ss.rp
	results = make([]*Result, len(unit))
	for i, ev := range unit {
		res := &Result{Session: ss.s.ID, Kind: ev.Kind, Index: ev.Index, Scheduled: rp.at(ev.Time), Started: started,
			Fingerprint: ev.Fingerprint, Pipelined: i > 0}
		if res.Lateness() > time.Millisecond {
			res.LateCause = cause
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
		case !rp.IncludeSystem && reachesBeyond(ev.Text):
			res.Skipped, res.SkipReason = true, "beyond_workload"
		case ev.Kind == parse.Error && notSendable(ev) != "":
			res.Skipped, res.SkipReason = true, notSendable(ev)
		case ss.conn == nil:
			res.Err = errNoConnection
		default:
			send = append(send, ev)
		}
		results[i] = res
	}
	return results, send, make([]Outcome, len(send))
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
