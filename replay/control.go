package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// A control replay sends the workload to a second cluster beside the
// candidate: a control restored from the same snapshot, on the
// baseline's engine and settings. Whatever the replay itself does to the
// figures (the replayer's host and network, its timing, a log that lacks
// something) it does to both, so the candidate is judged against the
// control like for like, and a statement that returns other rows on the
// candidate than on the control shows.
//
// Paired is an Executor that opens each session on both clusters. The
// scheduler, its sessions and their timing are the candidate's replay,
// unchanged: each unit a session sends to the candidate is handed at the
// same moment to that session's control worker, which sends it to the
// control in the session's order. Neither side waits for the other: a
// session blocked on a lock on one cluster must not hold up its twin on
// the other, or two sessions that took a lock in opposite orders on the
// two clusters would wait for each other forever, a deadlock neither
// cluster could see. For the same reason a session's backlog for the
// control has no bound: with one, a session running ahead on the
// candidate fills it while its twin waits on the control for a lock that
// another session's twin holds, whose next statement waits on the
// candidate behind the first session's locks. The backlog holds the
// events the candidate has already run (pointers: no copies), and a
// warning says when one grows past controlBacklogWarning. A control that
// falls behind catches up on its own; its lateness says so.
//
// The candidate's results go to the replay's sink as without a control.
// Each of the control's is the candidate's result of the same statement
// (fingerprint, production's error, pipeline) with the control's own
// outcome and timing, sent to ControlSink once both sides have answered.
// The control keeps to the candidate's timing, not to the schedule: a
// statement is due on the control when the candidate's session sent it,
// so both clusters get the same statements at the same moments (also
// when the candidate falls behind production), and the control's
// lateness says how far it fell behind the candidate.

// controlBacklogWarning is the backlog of units past which a session's
// control is said to be far behind.
const controlBacklogWarning = 10000

// Paired replays onto a candidate and a control at the same time.
type Paired struct {
	Candidate, Control Executor
	// ControlSink receives the control's results (from several
	// goroutines, as a sink does).
	ControlSink func(*Result)
	// Grace is how long the control's running statements may go on once
	// the replay is stopped (default 5s), as the candidate's may.
	Grace time.Duration
	// Warn, when set, is told when a session's control falls far behind.
	Warn func(string)

	mu      sync.Mutex
	pending map[resultKey]*meeting
	// openErrors counts sessions that could not connect to the control
	// at least once; reconnects connections to it made again.
	openErrors, reconnects atomic.Int64
}

type resultKey struct {
	session uint64
	kind    parse.EventKind
	index   int
}

// meeting holds whichever side of a statement answered first.
type meeting struct {
	cand *Result
	ctl  *controlOutcome
}

// controlOutcome is what the control did with one statement.
type controlOutcome struct {
	Outcome
	// due is when the candidate's session sent it.
	due, started, end time.Time
	// late is why the control started it late, when its session's
	// previous statement was still running there.
	late string
}

// Open connects a session to the candidate, and starts its control
// worker, which connects to the control on its own: the candidate's
// session does not wait for the control's connection either. A session
// the control refuses is opened there again before its next unit, and
// its statements meanwhile record the connect error on the control's
// side.
func (pe *Paired) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	cand, err := pe.Candidate.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	pc := &pairedConn{pe: pe, s: s, cand: cand, done: make(chan struct{})}
	pc.units.cond = sync.NewCond(&pc.units.mu)
	pc.start(ctx)
	return pc, nil
}

// Waits asks the candidate what its backends wait for: lateness is
// blamed on the candidate's locks.
func (pe *Paired) Waits(ctx context.Context, pids []uint32) ([]Wait, error) {
	if in, ok := pe.Candidate.(Inspector); ok {
		return in.Waits(ctx, pids)
	}
	return nil, errors.New("the candidate's executor can not look up waits")
}

// Sink wraps the candidate's sink: each result goes to it, and the same
// statement's result on the control to ControlSink, once the control has
// answered too.
func (pe *Paired) Sink(candidate func(*Result)) func(*Result) {
	return func(r *Result) {
		candidate(r)
		if r.Skipped || errors.Is(r.Err, errNoConnection) {
			// Not sent, to either side: the control's result is the
			// candidate's.
			ctl := *r
			ctl.BlockedBy = ""
			pe.ControlSink(&ctl)
			return
		}
		c := *r
		pe.meet(resultKey{r.Session, r.Kind, r.Index}, &c, nil)
	}
}

// meet records one side's answer to a statement; the second side's
// completes the control's result.
func (pe *Paired) meet(k resultKey, cand *Result, ctl *controlOutcome) {
	pe.mu.Lock()
	if pe.pending == nil {
		pe.pending = map[resultKey]*meeting{}
	}
	m := pe.pending[k]
	if m == nil {
		m = &meeting{}
		pe.pending[k] = m
	}
	if cand != nil {
		m.cand = cand
	} else {
		m.ctl = ctl
	}
	if m.cand == nil || m.ctl == nil {
		pe.mu.Unlock()
		return
	}
	delete(pe.pending, k)
	pe.mu.Unlock()
	pe.ControlSink(controlResult(m.cand, m.ctl))
}

// controlResult is the control's result of a statement: the candidate's,
// with the control's outcome and timing.
func controlResult(cand *Result, co *controlOutcome) *Result {
	r := *cand
	// Locks are looked up on the candidate only.
	r.BlockedBy = ""
	r.Outcome, r.Started, r.Scheduled = co.Outcome, co.started, co.due
	done := co.Done
	if done.IsZero() {
		done = co.end
	}
	r.Latency = done.Sub(co.started)
	switch {
	case r.Lateness() <= time.Millisecond:
		r.LateCause = ""
	case co.late != "":
		r.LateCause = co.late
	default:
		r.LateCause = CauseReplayer
	}
	return &r
}

// ControlStats is the control's copy of a replay's figures: the timing is
// the shared schedule's, the connections the control's own; lock waits
// and stalls were looked up on the candidate only.
func (pe *Paired) ControlStats(st *Stats) *Stats {
	c := *st
	c.OpenErrors = int(pe.openErrors.Load())
	c.Reconnects = int(pe.reconnects.Load())
	c.Stalls, c.LockWaits = nil, nil
	return &c
}

// pairedConn is one session's pair of connections: the candidate's, used
// by the session's goroutine, and the control's, used by its worker.
type pairedConn struct {
	pe    *Paired
	s     *parse.Session
	cand  Conn
	units unitQueue
	done  chan struct{}

	// The worker's: the control's connection, why there is none, and
	// when to try again.
	ctl        Conn
	ctlErr     error
	retryAt    time.Time
	backoff    time.Duration
	opened     bool
	openFailed bool
	prevEnd    time.Time
}

// controlUnit is a unit on its way to the control. When the candidate's
// statement was cancelled (production cancelled it, or the replay was
// stopped), the control's is cancelled as long after its own start.
type controlUnit struct {
	events []*parse.Event
	due    time.Time

	mu          sync.Mutex
	cancelAfter time.Duration // < 0: not cancelled
	started     time.Time
	cancel      func()
	timer       *time.Timer
}

func (u *controlUnit) cancelAt(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cancelAfter = d
	if u.cancel != nil && u.timer == nil {
		u.timer = time.AfterFunc(time.Until(u.started.Add(d)), u.cancel)
	}
}

func (u *controlUnit) begin(cancel func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.started, u.cancel = time.Now(), cancel
	if u.cancelAfter >= 0 {
		u.timer = time.AfterFunc(u.cancelAfter, cancel)
	}
}

func (u *controlUnit) finish() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.timer != nil {
		u.timer.Stop()
	}
	u.cancel = nil
}

// Run sends unit to the candidate, and hands it to the session's control
// worker at the same moment.
func (pc *pairedConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	// The session reuses unit's array for its next unit; the worker may
	// still be behind.
	u := &controlUnit{events: slices.Clone(unit), due: time.Now(), cancelAfter: -1}
	if n := pc.units.push(u); n == controlBacklogWarning && pc.pe.Warn != nil {
		pc.pe.Warn(fmt.Sprintf("session %d: the control is %d statements behind the candidate (a lock on the control, or a slower control); it catches up on its own, and its lateness will show it", pc.s.ID, n))
	}
	started := time.Now()
	stop := context.AfterFunc(ctx, func() { u.cancelAt(time.Since(started)) })
	pc.cand.Run(ctx, unit, outs)
	stop()
}

// start runs the session's control worker until Close.
func (pc *pairedConn) start(ctx context.Context) {
	grace := pc.pe.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	// Statements already sent get the grace period once the replay is
	// stopped; no further one is sent.
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	go func() {
		defer close(pc.done)
		defer cancel()
		defer stop()
		pc.control(ctx)
		for {
			u, ok := pc.units.pop()
			if !ok {
				break
			}
			if ctx.Err() != nil {
				continue
			}
			pc.runControl(ectx, u)
		}
		if pc.ctl != nil {
			pc.ctl.Close(context.WithoutCancel(ctx))
			pc.ctl = nil
		}
	}()
}

// runControl sends one unit to the control.
func (pc *pairedConn) runControl(ctx context.Context, u *controlUnit) {
	late := ""
	if pc.prevEnd.After(u.due) {
		// Its previous statement was still running on the control.
		late = CauseTarget
	}
	ctl := pc.control(ctx)
	outs := make([]Outcome, len(u.events))
	started := time.Now()
	if ctl == nil {
		err := fmt.Errorf("no connection to the control: %w", pc.ctlErr)
		for i := range outs {
			outs[i] = Outcome{Err: err}
		}
	} else {
		uctx, cancel := context.WithCancel(ctx)
		u.begin(cancel)
		ctl.Run(uctx, u.events, outs)
		u.finish()
		cancel()
	}
	end := time.Now()
	pc.prevEnd = end
	for i, ev := range u.events {
		pc.pe.meet(resultKey{pc.s.ID, ev.Kind, ev.Index}, nil, &controlOutcome{Outcome: outs[i], due: u.due, started: started, end: end, late: late})
	}
}

func (pc *pairedConn) failed(err error) {
	pc.ctl, pc.ctlErr = nil, err
	if !pc.openFailed {
		pc.openFailed = true
		pc.pe.openErrors.Add(1)
	}
	pc.backoff = min(max(2*pc.backoff, 100*time.Millisecond), 30*time.Second)
	pc.retryAt = time.Now().Add(pc.backoff)
}

// control returns the session's connection to the control, opening it
// again when it was lost and the back-off has passed.
func (pc *pairedConn) control(ctx context.Context) Conn {
	if pc.ctl != nil && !pc.ctl.Alive() {
		pc.ctl.Close(ctx)
		pc.ctl, pc.ctlErr, pc.backoff = nil, errors.New("the connection to the control was lost"), 0
		pc.retryAt = time.Time{}
	}
	if pc.ctl == nil && !time.Now().Before(pc.retryAt) {
		c, err := pc.pe.Control.Open(ctx, pc.s)
		if err != nil {
			pc.failed(err)
			return nil
		}
		pc.ctl, pc.ctlErr, pc.backoff = c, nil, 0
		if pc.opened {
			pc.pe.reconnects.Add(1)
		}
		pc.opened = true
	}
	return pc.ctl
}

// Close ends the session on the candidate, then on the control once it
// has sent what it was handed.
func (pc *pairedConn) Close(ctx context.Context) error {
	err := pc.cand.Close(ctx)
	pc.units.close()
	<-pc.done
	return err
}

// unitQueue is a session's backlog for the control: unbounded, in order.
type unitQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*controlUnit
	closed bool
}

// push adds u and returns the backlog's length.
func (q *unitQueue) push(u *controlUnit) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, u)
	q.cond.Signal()
	return len(q.items)
}

// pop waits for the next unit; ok is false once the queue is closed and
// empty.
func (q *unitQueue) pop() (*controlUnit, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return nil, false
	}
	u := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		// Let the array go once drained.
		q.items = nil
	}
	return u, true
}

func (q *unitQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Alive is the candidate's connection's: a lost control connection is
// opened again by the worker itself, so the candidate's session, and its
// transaction, go on.
func (pc *pairedConn) Alive() bool { return pc.cand.Alive() }

// BackendPID is the candidate's backend, which the watcher looks up.
func (pc *pairedConn) BackendPID() uint32 {
	if b, ok := pc.cand.(Backend); ok {
		return b.BackendPID()
	}
	return 0
}
