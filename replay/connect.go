package replay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Connections. A session that has no connection (the target refused it,
// was restarted, or is gone) tries again before a later statement, but
// not before its backoff has passed: 50 ms doubling to 5 s, with full
// jitter, so that thousands of sessions do not hammer a target that is
// starting up (or, on loopback, connect to themselves on its port). What
// every session learns goes into one account of the target's
// reachability: when no connection could be made and the target answered
// nothing for Options.Unreachable, the replay stops with an
// UnreachableError instead of recording failures for the rest of the
// workload.

const (
	backoffFirst = 50 * time.Millisecond
	backoffCap   = 5 * time.Second
	// evidenceGap is how long connects may stop failing (nobody tried)
	// before an outage is counted again from the next failure: an outage
	// is only as long as the failures that show it.
	evidenceGap = 2 * backoffCap
)

// SQLSTATE the server sends when max_connections is reached.
const tooManyConnections = "53300"

// backoff spaces one session's connection attempts.
type backoff struct {
	wait  time.Duration
	retry time.Time
}

// ready reports whether an attempt may be made now.
func (b *backoff) ready(now time.Time) bool { return !now.Before(b.retry) }

// failed schedules the next attempt: a random time up to a wait that
// doubles with each failure.
func (b *backoff) failed(now time.Time) {
	b.wait = min(max(2*b.wait, backoffFirst), backoffCap)
	b.retry = now.Add(rand.N(b.wait) + time.Millisecond)
}

func (b *backoff) reset() { *b = backoff{} }

// UnreachableError ends a replay whose target could not be connected to
// for longer than Options.Unreachable.
type UnreachableError struct {
	Since time.Time
	For   time.Duration
	Last  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("the target stayed unreachable since %s: no connection could be made for %s (last error: %v)",
		e.Since.UTC().Format(time.RFC3339), e.For.Round(time.Second), e.Last)
}

func (e *UnreachableError) Unwrap() error { return e.Last }

// reach is what the sessions know together of whether the target answers.
type reach struct {
	bound time.Duration
	stop  context.CancelCauseFunc
	// answered is when the target last answered anything (Unix ns): a
	// statement's result or error, or a connection.
	answered atomic.Int64
	failures atomic.Int64

	mu       sync.Mutex
	since    time.Time // first failed connect of the current outage
	lastFail time.Time
	err      *UnreachableError
}

// ok records that the target answered.
func (r *reach) ok() { r.answered.Store(time.Now().UnixNano()) }

// failed records a connect that failed without an answer from the server
// and stops the replay when the outage has lasted longer than the bound.
func (r *reach) failed(err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	answered := time.Unix(0, r.answered.Load())
	if r.since.IsZero() || answered.After(r.since) || now.Sub(r.lastFail) > evidenceGap {
		r.since = now
	}
	r.lastFail = now
	if r.bound > 0 && r.err == nil && now.Sub(r.since) >= r.bound {
		r.err = &UnreachableError{Since: r.since, For: now.Sub(r.since), Last: err}
		r.stop(r.err)
	}
}

// stopped returns the error the replay was stopped with, if it was.
func (r *reach) stopped() *UnreachableError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// sqlState returns err's SQLSTATE, "" when the server sent none.
func sqlState(err error) string {
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		return se.SQLState()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// unanswered reports whether a connect error says the server is not
// there: no SQLSTATE at all (refused, reset, timed out), or one sent
// while it shuts down or starts up (57P01, 57P02, 57P03).
func unanswered(state string) bool {
	switch state {
	case "", "57P01", "57P02", "57P03":
		return true
	}
	return false
}

// reopen connects a session that has no connection, if its backoff
// allows; it reports whether the session has one now.
func (ss *session) reopen(ctx context.Context) bool {
	if !ss.retry.ready(time.Now()) {
		return false
	}
	c, err := ss.rp.ex.Open(ctx, ss.s)
	if err != nil {
		ss.connectFailed(ctx, err)
		return false
	}
	ss.connected(c)
	return true
}

// connectFailed records why a connection could not be made: the SQLSTATE
// its statements fail with until one is, the session's backoff, and what
// it says of the target.
func (ss *session) connectFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		// The replay is ending: that is not the target's doing.
		ss.connState = ""
		return
	}
	rp := ss.rp
	rp.reach.failures.Add(1)
	ss.retry.failed(time.Now())
	ss.connState = sqlState(err)
	if unanswered(ss.connState) {
		rp.reach.failed(err)
	} else {
		rp.reach.ok()
	}
	if ss.connState == tooManyConnections && !ss.refused {
		ss.refused = true
		rp.refused.Add(1)
		rp.refusedOnce.Do(func() { rp.warn("%s", rp.tooManyConnections()) })
	}
}

// tooManyConnections says what a refusal with 53300 means for the replay.
func (rp *running) tooManyConnections() string {
	msg := "too many connections (SQLSTATE 53300): "
	if rp.MaxConnections > 0 {
		msg += fmt.Sprintf("the target's max_connections is %d, ", rp.MaxConnections)
	} else {
		msg += "the target's max_connections is reached, "
	}
	if rp.PeakSessions > 0 {
		msg += fmt.Sprintf("the workload peaks at %d concurrent sessions", rp.PeakSessions)
	} else {
		msg += fmt.Sprintf("with %d of the replay's sessions connected", rp.open.Load())
	}
	return msg + "; sessions refused try again with backoff, their statements fail with 53300 meanwhile and count as refused_connections, and compare will call the verdict INCONCLUSIVE. Raise max_connections on the target above the workload's peak"
}

// noteAnswers records that the target answered, when one of outs came
// back from it (a result, or an error with a SQLSTATE).
func (rp *running) noteAnswers(outs []Outcome) {
	for _, o := range outs {
		if o.Err == nil || o.SQLState != "" {
			rp.reach.ok()
			return
		}
	}
}

// addOpen counts a connection made, and the most open at once.
func (rp *running) addOpen() {
	v := rp.open.Add(1)
	for p := rp.peakOpen.Load(); v > p && !rp.peakOpen.CompareAndSwap(p, v); p = rp.peakOpen.Load() {
	}
}

// closeConnections puts what the replay learnt of its connections in the
// summary.
func (rw *ResultsWriter) closeConnections(st *Stats) {
	s := &rw.sum
	s.RefusedConnections = int64(st.RefusedConnections)
	s.ConnectFailures = int64(st.ConnectFailures)
	s.PeakConnections = int64(st.PeakConnections)
	s.WorkloadError = st.WorkloadError
	if !st.UnreachableSince.IsZero() {
		s.TargetUnreachableSince = st.UnreachableSince.UTC().Format(time.RFC3339Nano)
	}
	s.setConnectionLimit(rw.maxConn)
}

// setConnectionLimit says in words that the target refused sessions, with
// its max_connections (0: unknown), when it did.
func (s *Summary) setConnectionLimit(maxConn int) {
	if s.RefusedConnections > 0 {
		limit := "its max_connections"
		if maxConn > 0 {
			limit = fmt.Sprintf("max_connections = %d", maxConn)
		}
		s.ConnectionLimit = fmt.Sprintf("too many connections (SQLSTATE 53300): the target, with %s, refused %d sessions (the replay held at most %d connections at once); their statements failed with 53300 until they could connect",
			limit, s.RefusedConnections, s.PeakConnections)
	}
}
