package replay

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// Commit-order synchronisation (--sync). Sessions replay independently,
// each at its own schedule; where they contend for rows, which one gets a
// lock first on the target is a race, and the winner keeps the lock until
// its COMMIT is due. With --sync a statement first waits until what
// production had finished before it began has happened on the target: the
// transaction ends the workload names for it (parse.Sync), of every
// session (commit) or of those that touched a relation it touches
// (objects), and the lock holders production's log_lock_waits showed.
//
// The gate never hangs the replay. A wait is bounded (Multiple times the
// production gap, at least Floor); past it the statement goes on and the
// user is told which sessions were involved. A transaction that fails on
// the target, or a session that ends, lets its waiters go.

// SyncMode chooses what a statement waits for.
type SyncMode string

// The modes of --sync.
const (
	// SyncOff: sessions wait only for their own previous statement.
	SyncOff SyncMode = "off"
	// SyncCommit: every transaction end production had passed, in any
	// other session.
	SyncCommit SyncMode = "commit"
	// SyncObjects: only the ends of transactions that touched a relation
	// the statement touches.
	SyncObjects SyncMode = "objects"
)

// ParseSyncMode reads a --sync value.
func ParseSyncMode(s string) (SyncMode, error) {
	switch m := SyncMode(s); m {
	case SyncOff, SyncCommit, SyncObjects:
		return m, nil
	case "":
		return DefaultSync, nil
	}
	return "", fmt.Errorf("--sync %q: want commit, objects or off", s)
}

// DefaultSync is the mode replay uses unless told otherwise (README: why).
const DefaultSync = SyncObjects

// SyncOptions controls commit-order synchronisation.
type SyncOptions struct {
	// Mode: off, commit or objects; "" is DefaultSync.
	Mode SyncMode
	// A wait ends after Multiple times the production gap between the two
	// statements (at the replay's speed), but never before Floor nor
	// after Ceiling. Defaults 4, 1 s, 30 s: a wait in a cycle is found
	// sooner (CycleAfter), so the bound is for sessions far behind.
	Multiple       float64
	Floor, Ceiling time.Duration
	// Settle is how long a statement waits after the holder's statement
	// it follows was sent, so that the holder reaches the lock first.
	// Default 0.5 ms.
	Settle time.Duration
	// CycleAfter is how long a statement waits before it asks the target
	// whether the session it waits for is blocked by its own (default
	// 1 ms); CycleEvery how often it asks again (default 5 ms).
	CycleAfter, CycleEvery time.Duration
}

// SyncSummary sums up the waits of a replay.
type SyncSummary struct {
	Mode string `json:"mode"`
	// Waited counts the statements (units) that waited, WaitS the time
	// they spent, TimedOut those that went on at the bound, MaxWaitMS the
	// longest wait.
	Waited   int64   `json:"waited"`
	WaitS    float64 `json:"wait_s"`
	TimedOut int64   `json:"timed_out"`
	// Cycles counts those that went on because the session they waited
	// for was waiting on the target for a lock of theirs.
	Cycles    int64   `json:"cycles"`
	MaxWaitMS float64 `json:"max_wait_ms"`
	// Sessions are the sessions that waited longest, with what they
	// waited for.
	Sessions []SessionSync `json:"sessions,omitempty"`
}

// SessionSync is one session's waits.
type SessionSync struct {
	Session  uint64  `json:"session"`
	Waited   int64   `json:"waited"`
	WaitS    float64 `json:"wait_s"`
	TimedOut int64   `json:"timed_out"`
	// On are the sessions it waited for longest.
	On []uint64 `json:"on,omitempty"`
}

// SyncWait is what one statement's gate did (Result.Sync).
type SyncWait struct {
	Wait time.Duration
	// TimedOut: it went on at the bound; Cycle: it went on because the
	// session it waited for waited on the target for this one.
	TimedOut, Cycle bool
}

// syncer tracks, per session, how far it has got on the target.
type syncer struct {
	opt   SyncOptions
	speed float64
	// begin is the replay window's start (--begin, µs), 0 when none: a
	// statement before it is not replayed, so nobody waits for it.
	begin int64
	warn  func(string, ...any)

	// watch knows the sessions' backends and asks the target who blocks
	// them, for finding cycles.
	watch *watcher
	// snap shares the target's answers among the waiters looking for
	// cycles.
	snap lockSnapshot

	mu       sync.Mutex
	sessions map[uint64]*syncState
	tally    map[uint64]*syncTally
	// gates are the sessions waiting now, and for which session.
	gates  map[uint64]uint64
	warned int
}

// syncState is one session's progress: the statements it has sent and
// finished, the last place a transaction of it failed.
type syncState struct {
	sent, done, failed int
	sentAt             time.Time
	gone               bool
	// changed is closed whenever any of it moves; it is made when a
	// waiter needs it (nil while nobody waits), so that a session
	// nobody waits for makes no channel per statement.
	changed chan struct{}
}

type syncTally struct {
	waited, timedOut, cycles int64
	wait, max                time.Duration
	on                       map[uint64]time.Duration
}

const maxSyncWarnings = 10

func newSyncer(o Options, speed float64, warn func(string, ...any), w *watcher) *syncer {
	opt := o.Sync
	var begin int64
	if !o.Begin.IsZero() {
		begin = o.Begin.UnixMicro()
	}
	if opt.Mode == "" {
		opt.Mode = DefaultSync
	}
	if opt.Multiple <= 0 {
		opt.Multiple = 4
	}
	if opt.Floor <= 0 {
		opt.Floor = time.Second
	}
	if opt.Ceiling <= 0 {
		opt.Ceiling = 30 * time.Second
	}
	opt.Ceiling = max(opt.Ceiling, opt.Floor)
	if opt.Settle <= 0 {
		opt.Settle = 500 * time.Microsecond
	}
	if opt.CycleAfter <= 0 {
		opt.CycleAfter = time.Millisecond
	}
	if opt.CycleEvery <= 0 {
		opt.CycleEvery = 5 * time.Millisecond
	}
	return &syncer{opt: opt, speed: speed, begin: begin, warn: warn, watch: w, sessions: map[uint64]*syncState{}, tally: map[uint64]*syncTally{},
		gates: map[uint64]uint64{}}
}

// open registers a session of the replay: only those are waited for.
func (y *syncer) open(id uint64) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.sessions[id] == nil {
		y.sessions[id] = &syncState{sent: -1, done: -1, failed: -1}
	}
}

// close marks a session ended: nothing of it is waited for any more.
func (y *syncer) close(id uint64) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if st := y.sessions[id]; st != nil {
		st.gone = true
		st.moved()
	}
}

func (st *syncState) moved() {
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
}

// watch returns the channel closed at the state's next move (under y.mu).
func (st *syncState) watch() chan struct{} {
	if st.changed == nil {
		st.changed = make(chan struct{})
	}
	return st.changed
}

// refs returns what the unit waits for under the mode.
func (y *syncer) refs(unit []*parse.Event) []parse.Ref {
	var refs []parse.Ref
	for _, ev := range unit {
		if ev.Kind != parse.Statement || ev.Sync == nil {
			continue
		}
		switch y.opt.Mode {
		case SyncCommit:
			refs = append(refs, ev.Sync.AfterCommit...)
		case SyncObjects:
			refs = append(refs, ev.Sync.AfterObjects...)
		}
		refs = append(refs, ev.Sync.AfterLocks...)
	}
	return refs
}

// wait holds a unit of session self until what it waits for has happened
// on the target, or its bound has passed, then marks it sent.
func (y *syncer) wait(ctx context.Context, self uint64, unit []*parse.Event) SyncWait {
	if y == nil || y.opt.Mode == SyncOff {
		return SyncWait{}
	}
	var sw SyncWait
	var on map[uint64]time.Duration
	start := time.Now()
	for _, ref := range y.refs(unit) {
		if ref.Session == self || y.begin != 0 && unit[0].Time-ref.GapUS < y.begin {
			continue
		}
		t0 := time.Now()
		out := y.waitRef(ctx, self, ref, start.Add(y.bound(ref)))
		if ctx.Err() != nil {
			break
		}
		if out != waitMet {
			if on == nil {
				on = map[uint64]time.Duration{}
			}
			on[ref.Session] += time.Since(t0)
		}
		switch out {
		case waitBound:
			sw.TimedOut = true
			y.timedOut(self, unit[0], ref, time.Since(start))
		case waitCycle:
			sw.Cycle = true
			y.cycled(self, unit[0], ref)
		}
	}
	if on != nil {
		sw.Wait = time.Since(start)
		y.account(self, sw, on)
	}
	y.mark(self, unit, func(st *syncState) {
		for _, ev := range unit {
			if ev.Kind == parse.Statement {
				st.sent = max(st.sent, ev.Index)
			}
		}
		st.sentAt = time.Now()
	})
	return sw
}

// bound is how long a statement waits for ref at most.
func (y *syncer) bound(ref parse.Ref) time.Duration {
	gap := time.Duration(float64(ref.GapUS) * float64(time.Microsecond) * y.opt.Multiple / y.speed)
	return min(max(gap, y.opt.Floor), y.opt.Ceiling)
}

// satisfies reports whether ref has happened; retry, when set, is when a
// sent statement will have had time to reach its lock.
func (st *syncState) satisfies(ref parse.Ref, settle time.Duration) (ok bool, retry time.Time) {
	switch {
	case st.gone, st.done >= ref.Index, st.failed >= ref.From:
		return true, time.Time{}
	case ref.Sent && st.sent > ref.Index:
		return true, time.Time{}
	case ref.Sent && st.sent == ref.Index:
		at := st.sentAt.Add(settle)
		if !time.Now().Before(at) {
			return true, time.Time{}
		}
		return false, at
	}
	return false, time.Time{}
}

// note puts a unit's wait on its first result, and blames its lateness
// on the wait when the wait made most of it.
func (y *syncer) note(results []*Result, sw SyncWait) {
	if len(results) == 0 || sw.Wait <= 0 {
		return
	}
	r := results[0]
	r.Sync = sw
	if r.LateCause != "" && sw.Wait >= r.Lateness()/2 {
		r.LateCause = CauseSync
	}
}

// done records how a unit went: finished, and failed when the target
// raised an error in it (its transaction then holds nothing).
func (y *syncer) done(self uint64, unit []*parse.Event, results []*Result) {
	if y == nil || y.opt.Mode == SyncOff {
		return
	}
	y.mark(self, unit, func(st *syncState) {
		failed := false
		for i, ev := range unit {
			if ev.Kind == parse.Statement {
				st.done = max(st.done, ev.Index)
			}
			if i < len(results) && results[i].Err != nil {
				failed = true
			}
		}
		if failed {
			st.failed = max(st.failed, st.done)
		}
	})
}

func (y *syncer) mark(self uint64, unit []*parse.Event, f func(*syncState)) {
	y.mu.Lock()
	defer y.mu.Unlock()
	st := y.sessions[self]
	if st == nil {
		return
	}
	f(st)
	st.moved()
}

// account adds a unit's wait to its session's tally.
func (y *syncer) account(self uint64, sw SyncWait, on map[uint64]time.Duration) {
	y.mu.Lock()
	defer y.mu.Unlock()
	t := y.tally[self]
	if t == nil {
		t = &syncTally{on: map[uint64]time.Duration{}}
		y.tally[self] = t
	}
	t.waited++
	t.wait += sw.Wait
	t.max = max(t.max, sw.Wait)
	if sw.TimedOut {
		t.timedOut++
	}
	if sw.Cycle {
		t.cycles++
	}
	for id, d := range on {
		t.on[id] += d
	}
}

// timedOut tells the user, for the first few, that a statement went on
// without what it waited for.
func (y *syncer) timedOut(self uint64, ev *parse.Event, ref parse.Ref, waited time.Duration) {
	y.mu.Lock()
	y.warned++
	n := y.warned
	y.mu.Unlock()
	switch {
	case n <= maxSyncWarnings:
		y.warn("sync: session %d's statement %d waited %v for session %d's statement %d (%s in production %.1f ms before it) and went on without it: on the target that session is behind or waits for this one; the order of their locks may differ from production's",
			self, ev.Index, waited.Round(time.Millisecond), ref.Session, ref.Index, refWhat(ref), float64(ref.GapUS)/1000)
	case n == maxSyncWarnings+1:
		y.warn("sync: more statements went on without what they waited for; the results count them (sync_timeout, sync_cycle)")
	}
}

func refWhat(ref parse.Ref) string {
	if ref.Sent {
		return "sent"
	}
	return "finished"
}

// summary sums up the waits, the sessions that waited longest first.
func (y *syncer) summary() *SyncSummary {
	if y == nil {
		return nil
	}
	sum := &SyncSummary{Mode: string(y.opt.Mode)}
	y.mu.Lock()
	var all []SessionSync
	for id, t := range y.tally {
		sum.Waited += t.waited
		sum.TimedOut += t.timedOut
		sum.Cycles += t.cycles
		sum.WaitS += t.wait.Seconds()
		sum.MaxWaitMS = max(sum.MaxWaitMS, float64(t.max.Microseconds())/1000)
		ss := SessionSync{Session: id, Waited: t.waited, WaitS: t.wait.Seconds(), TimedOut: t.timedOut}
		ss.On = longest(t.on, 3)
		all = append(all, ss)
	}
	y.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		return all[i].WaitS > all[j].WaitS || all[i].WaitS == all[j].WaitS && all[i].Session < all[j].Session
	})
	if len(all) > maxSyncSessions {
		all = all[:maxSyncSessions]
	}
	sum.Sessions = all
	return sum
}

// maxSyncSessions bounds the sessions a summary lists.
const maxSyncSessions = 10

// longest returns the n sessions waited for longest.
func longest(on map[uint64]time.Duration, n int) []uint64 {
	ids := make([]uint64, 0, len(on))
	for id := range on {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return on[ids[i]] > on[ids[j]] || on[ids[i]] == on[ids[j]] && ids[i] < ids[j]
	})
	if len(ids) > n {
		ids = ids[:n]
	}
	return ids
}
