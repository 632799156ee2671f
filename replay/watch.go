package replay

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// watcher asks the target, now and then, what the replay's long-running
// statements wait for, so that lateness is blamed on what held it: a lock
// and who held it (another replayed session, or a backend outside the
// replay), rather than "the target" in general. It needs an Executor that
// is an Inspector; without one it does nothing.
type watcher struct {
	rp   *running
	insp Inspector

	mu    sync.Mutex
	byPID map[uint32]*session
	waits map[string]*lockTally
}

type lockTally struct {
	sessions   map[uint64]bool
	statements int64
	max        time.Duration
}

func newWatcher(rp *running) *watcher {
	w := &watcher{rp: rp, byPID: map[uint32]*session{}, waits: map[string]*lockTally{}}
	w.insp, _ = rp.ex.(Inspector)
	return w
}

// note records the backend serving a session's new connection.
func (w *watcher) note(ss *session) {
	if ss.pid == 0 {
		return
	}
	w.mu.Lock()
	w.byPID[ss.pid] = ss
	w.mu.Unlock()
}

// forget drops a session's closed connection.
func (w *watcher) forget(ss *session) {
	if ss.pid == 0 {
		return
	}
	w.mu.Lock()
	if w.byPID[ss.pid] == ss {
		delete(w.byPID, ss.pid)
	}
	w.mu.Unlock()
}

// loop looks at the running statements every WatchEvery until ctx ends.
func (w *watcher) loop(ctx context.Context) {
	every := w.rp.WatchEvery
	if every == 0 {
		every = time.Second
	}
	if w.insp == nil || every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.look(ctx, every)
		}
	}
}

// look asks the target about sessions whose statement has run longer than
// min, and marks those waiting for a lock with who holds it.
func (w *watcher) look(ctx context.Context, min time.Duration) {
	now := time.Now().UnixNano()
	var pids []uint32
	w.mu.Lock()
	for pid, ss := range w.byPID {
		if s := ss.since.Load(); s != 0 && time.Duration(now-s) >= min {
			pids = append(pids, pid)
		}
	}
	w.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	waits, err := w.insp.Waits(qctx, pids)
	if err != nil {
		return
	}
	for _, wt := range waits {
		if wt.Type != "Lock" || len(wt.BlockedBy) == 0 {
			continue
		}
		w.mu.Lock()
		ss := w.byPID[wt.PID]
		w.mu.Unlock()
		if ss != nil {
			d := w.describe(wt)
			ss.lock.Store(&d)
		}
	}
}

// describe names who holds what wt waits for.
func (w *watcher) describe(wt Wait) string {
	var names []string
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range wt.BlockedBy {
		if ss := w.byPID[b.PID]; ss != nil {
			names = append(names, fmt.Sprintf("session %d", ss.s.ID))
			continue
		}
		names = append(names, fmt.Sprintf("backend %d outside the replay (application %q, user %s, %s)", b.PID, b.Application, b.User, b.State))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// explain says what a stalled session's statement waits for on the
// target, asking it now: "waits for a Lock (transactionid) held by
// session 3".
func (w *watcher) explain(ss *session) string {
	if w.insp == nil || ss.pid == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waits, err := w.insp.Waits(ctx, []uint32{ss.pid})
	if err != nil || len(waits) == 0 {
		return ""
	}
	wt := waits[0]
	switch {
	case wt.Type == "Lock" && len(wt.BlockedBy) > 0:
		return fmt.Sprintf("waits for a lock (%s) held by %s", wt.Event, w.describe(wt))
	case wt.Type != "":
		return fmt.Sprintf("is %s, waiting on %s (%s)", wt.State, wt.Type, wt.Event)
	case wt.State != "":
		return "is " + wt.State
	}
	return ""
}

// record counts a statement that waited d for a lock held by blocker.
func (w *watcher) record(blocker string, session uint64, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.waits[blocker]
	if t == nil {
		t = &lockTally{sessions: map[uint64]bool{}}
		w.waits[blocker] = t
	}
	t.sessions[session] = true
	t.statements++
	t.max = max(t.max, d)
}

// summary lists the lock waits by blocker, longest first.
func (w *watcher) summary() []LockWait {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []LockWait
	for b, t := range w.waits {
		out = append(out, LockWait{BlockedBy: b, Sessions: len(t.sessions), Statements: t.statements, MaxS: t.max.Seconds()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MaxS > out[j].MaxS })
	return out
}
