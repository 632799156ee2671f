package replay

import (
	"context"
	"errors"
	"fmt"
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
// Paired is an Executor that opens each session on both clusters and
// sends each unit to both at once: the scheduler, its sessions and their
// timing are the candidate's replay, unchanged; a session goes on to its
// next unit when both sides have answered this one, so neither runs ahead
// of the other by more than one unit. The candidate's outcomes go to the
// replay's sink as without a control; the control's, wrapped into
// results of the same statements, go to ControlSink.

// Paired replays onto a candidate and a control at the same time.
type Paired struct {
	Candidate, Control Executor
	// ControlSink receives the control's results (from several
	// goroutines, as a sink does).
	ControlSink func(*Result)

	pending sync.Map // resultKey -> *controlOutcome
	// openErrors counts sessions that could not connect to the control
	// at least once; reconnects connections to it made again.
	openErrors, reconnects atomic.Int64
}

type resultKey struct {
	session uint64
	kind    parse.EventKind
	index   int
}

// controlOutcome is what the control did with one statement.
type controlOutcome struct {
	Outcome
	started, end time.Time
}

// Open connects a session to both clusters. Only the candidate's
// connection must succeed: a session the control refuses is opened
// there again before its next unit, and its statements meanwhile record
// the connect error on the control's side.
func (pe *Paired) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	pc := &pairedConn{pe: pe, s: s}
	var ctlErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pc.ctl, ctlErr = pe.Control.Open(ctx, s)
	}()
	cand, err := pe.Candidate.Open(ctx, s)
	wg.Wait()
	if err != nil {
		if pc.ctl != nil {
			pc.ctl.Close(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	pc.cand = cand
	if ctlErr != nil {
		pc.failed(ctlErr)
	}
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
// statement's result on the control to ControlSink.
func (pe *Paired) Sink(candidate func(*Result)) func(*Result) {
	return func(r *Result) {
		candidate(r)
		ctl := *r
		// Locks are looked up on the candidate only.
		ctl.BlockedBy = ""
		if v, ok := pe.pending.LoadAndDelete(resultKey{r.Session, r.Kind, r.Index}); ok {
			co := v.(*controlOutcome)
			ctl.Outcome, ctl.Started = co.Outcome, co.started
			done := co.Done
			if done.IsZero() {
				done = co.end
			}
			ctl.Latency = done.Sub(co.started)
			switch {
			case ctl.Lateness() <= time.Millisecond:
				ctl.LateCause = ""
			case ctl.LateCause == "":
				ctl.LateCause = CauseReplayer
			}
		}
		// A statement not sent (skipped, or without a connection to the
		// candidate) was not sent to the control either: its result is
		// the candidate's.
		pe.ControlSink(&ctl)
	}
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

// pairedConn is one session's pair of connections.
type pairedConn struct {
	pe   *Paired
	s    *parse.Session
	cand Conn
	ctl  Conn
	// ctlErr is why the session has no connection to the control;
	// retryAt when to try again.
	ctlErr     error
	retryAt    time.Time
	backoff    time.Duration
	openFailed bool
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
		pc.pe.reconnects.Add(1)
	}
	return pc.ctl
}

// Run sends unit to both clusters at once and waits for both.
func (pc *pairedConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	ctl := pc.control(ctx)
	ctlOuts := make([]Outcome, len(unit))
	var ctlStart, ctlEnd time.Time
	var wg sync.WaitGroup
	if ctl != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctlStart = time.Now()
			ctl.Run(ctx, unit, ctlOuts)
			ctlEnd = time.Now()
		}()
	}
	pc.cand.Run(ctx, unit, outs)
	candEnd := time.Now()
	wg.Wait()
	// The session's clock stops when both have answered: each side's
	// own latency ends when its own answer came.
	for i := range outs {
		if outs[i].Done.IsZero() && !outs[i].Skipped {
			outs[i].Done = candEnd
		}
	}
	if ctl == nil {
		err := fmt.Errorf("no connection to the control: %w", pc.ctlErr)
		ctlStart, ctlEnd = candEnd, candEnd
		for i := range ctlOuts {
			ctlOuts[i] = Outcome{Err: err}
		}
	}
	for i, ev := range unit {
		pc.pe.pending.Store(resultKey{pc.s.ID, ev.Kind, ev.Index}, &controlOutcome{Outcome: ctlOuts[i], started: ctlStart, end: ctlEnd})
	}
}

// Close ends the session on both clusters.
func (pc *pairedConn) Close(ctx context.Context) error {
	var err error
	if pc.ctl != nil {
		err = pc.ctl.Close(ctx)
		pc.ctl = nil
	}
	return errors.Join(pc.cand.Close(ctx), err)
}

// Alive is the candidate's connection's: a lost control connection is
// opened again by the pair itself, so the candidate's session, and its
// transaction, go on.
func (pc *pairedConn) Alive() bool { return pc.cand.Alive() }

// BackendPID is the candidate's backend, which the watcher looks up.
func (pc *pairedConn) BackendPID() uint32 {
	if b, ok := pc.cand.(Backend); ok {
		return b.BackendPID()
	}
	return 0
}
