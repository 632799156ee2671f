package replay

import (
	"context"
	"sync"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// Cycles. A statement can wait at the gate for a session that, on the
// target, waits for a lock this statement's session holds: production's
// order was lost there already (two statements stamped in one
// millisecond, or waiters racing for a row as PostgreSQL wakes them), and
// neither would go on before the bound. So a statement that has waited
// CycleAfter asks the target who blocks the sessions it waits for, and
// follows gate waits and lock waits from there; when the path comes back
// to it, it goes on at once. Without an Inspector only the bound helps.

// waitOutcome is how a wait for one ref ended.
type waitOutcome uint8

const (
	waitMet   waitOutcome = iota // it had happened, without waiting
	waitDone                     // it happened while waiting
	waitBound                    // the bound passed
	waitCycle                    // the session waited for waits for this one
)

// waitRef waits until ref has happened on the target, it can not any
// more, its deadline passes, or it turns out to wait in a cycle.
func (y *syncer) waitRef(ctx context.Context, self uint64, ref parse.Ref, deadline time.Time) waitOutcome {
	out := waitMet
	var checkAt time.Time
	var t *time.Timer
	defer func() {
		if out != waitMet {
			y.mu.Lock()
			delete(y.gates, self)
			y.mu.Unlock()
		}
	}()
	for {
		y.mu.Lock()
		st := y.sessions[ref.Session]
		var done bool
		var retry time.Time
		var ch chan struct{}
		if st == nil {
			// Not in this replay (another shard's, or never started).
			done = true
		} else {
			done, retry = st.satisfies(ref, y.opt.Settle)
			if !done {
				ch = st.watch()
			}
		}
		now := time.Now()
		if !done && out == waitMet {
			out, checkAt = waitDone, now.Add(y.opt.CycleAfter)
			y.gates[self] = ref.Session
		}
		y.mu.Unlock()
		switch {
		case done:
			return out
		case !now.Before(deadline):
			out = waitBound
			return out
		case !now.Before(checkAt) && y.watch.insp != nil:
			if y.inCycle(ctx, self, ref.Session) {
				out = waitCycle
				return out
			}
			checkAt = time.Now().Add(y.opt.CycleEvery)
			continue
		}
		until := deadline
		if !retry.IsZero() && retry.Before(until) {
			until = retry
		}
		if y.watch.insp != nil && checkAt.Before(until) {
			until = checkAt
		}
		// One timer for the whole wait: a statement that waits long
		// wakes every CycleEvery.
		if t == nil {
			t = time.NewTimer(max(time.Until(until), 0))
		} else {
			t.Reset(max(time.Until(until), 0))
		}
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			return out
		}
	}
}

// inCycle reports whether session self, waiting at the gate for session
// on, is (through gate waits and lock waits on the target) waited for by
// on.
func (y *syncer) inCycle(ctx context.Context, self, on uint64) bool {
	seen := map[uint64]bool{self: true}
	frontier := []uint64{on}
	for depth := 0; depth < 16 && len(frontier) > 0; depth++ {
		var next []uint64
		running := map[uint64]bool{}
		y.mu.Lock()
		for _, id := range frontier {
			if id == self {
				y.mu.Unlock()
				return true
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			if g, ok := y.gates[id]; ok {
				next = append(next, g)
				continue
			}
			if st := y.sessions[id]; st != nil && !st.gone && st.sent > st.done {
				// Running a statement: is it blocked, and by whom?
				running[id] = true
			}
		}
		y.mu.Unlock()
		if len(running) > 0 {
			next = append(next, y.blockers(ctx, running)...)
		}
		frontier = next
	}
	return false
}

// blockers asks the target which replayed sessions hold the locks the
// running sessions wait for.
func (y *syncer) blockers(ctx context.Context, running map[uint64]bool) []uint64 {
	w := y.watch
	waits := y.snap.get(ctx, w, running, y.opt.CycleEvery)
	var out []uint64
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wt := range waits {
		if wt.Type != "Lock" {
			continue
		}
		if ss := w.byPID[wt.PID]; ss == nil || !running[ss.s.ID] {
			continue
		}
		for _, b := range wt.BlockedBy {
			if ss := w.byPID[b.PID]; ss != nil {
				out = append(out, ss.s.ID)
			}
		}
	}
	return out
}

// lockSnapshot is the target's last answer about who waits for whom,
// shared by the statements that wait at the gate at the same time: each
// of them looks for a cycle every CycleEvery, and one question for all of
// them costs the replayer and the target one round trip instead of one
// each. An answer is used while it is younger than CycleEvery, the
// staleness each waiter had between its own questions anyway.
type lockSnapshot struct {
	mu    sync.Mutex
	at    time.Time
	asked map[uint32]bool
	waits []Wait
}

// get returns what the backends of the running sessions wait for, asking
// the target unless a fresh enough answer covers them. The question names
// every session running a statement, so that the next waiter finds its
// answer in it.
func (ls *lockSnapshot) get(ctx context.Context, w *watcher, running map[uint64]bool, fresh time.Duration) []Wait {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var pids []uint32
	covered := true
	w.mu.Lock()
	for pid, ss := range w.byPID {
		want := running[ss.s.ID]
		if want && !ls.asked[pid] {
			covered = false
		}
		if want || ss.since.Load() != 0 {
			pids = append(pids, pid)
		}
	}
	w.mu.Unlock()
	if covered && time.Since(ls.at) < fresh {
		return ls.waits
	}
	if len(pids) == 0 {
		return nil
	}
	at := time.Now()
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	waits, err := w.insp.Waits(qctx, pids)
	if err != nil {
		ls.at, ls.waits = time.Time{}, nil
		return nil
	}
	ls.at, ls.waits = at, waits
	ls.asked = make(map[uint32]bool, len(pids))
	for _, pid := range pids {
		ls.asked[pid] = true
	}
	return waits
}

// cycled tells the user, for the first few, that a statement went on
// because the session it waited for waited for it on the target.
func (y *syncer) cycled(self uint64, ev *parse.Event, ref parse.Ref) {
	y.mu.Lock()
	y.warned++
	n := y.warned
	y.mu.Unlock()
	switch {
	case n <= maxSyncWarnings:
		y.warn("sync: session %d's statement %d waited for session %d's statement %d (%s in production %.1f ms before it), which on the target waits for a lock session %d holds: it went on, so their locks are taken in another order than production's",
			self, ev.Index, ref.Session, ref.Index, refWhat(ref), float64(ref.GapUS)/1000, self)
	case n == maxSyncWarnings+1:
		y.warn("sync: more statements went on without what they waited for; the results count them (sync_timeout, sync_cycle)")
	}
}
