package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// running is a replay's shared state.
type running struct {
	Options
	ex    Executor
	sink  func(*Result)
	watch *watcher
	sync  *syncer
	// alarm wakes sleeping sessions; nil where there is none.
	alarm *alarm

	speed   float64
	started time.Time
	base    int64 // workload time (µs) at the replay's zero
	// readAheadUS is how far ahead of the schedule the reader reads, in
	// workload µs; windowUS the workload's reorder window; seenUS the
	// schedule's position when the reader last looked, or a little past
	// it after a wait (the reader's own).
	readAheadUS, windowUS, seenUS int64
	// busy counts events handed to sessions and not yet done, for Jump.
	busy atomic.Int64
	// skew is how far Jump has moved the clock, in nanoseconds.
	skew atomic.Int64
	// mem is the memory queued events hold, peak its highest.
	mem, peak atomic.Int64

	// beyondFP remembers, by fingerprint, which queries act beyond the
	// workload.
	beyondFP sync.Map
	// reach is what the sessions know of whether the target answers;
	// refused counts sessions refused with 53300, open the connections
	// the sessions hold now and peakOpen the most at once.
	reach          *reach
	refused        atomic.Int64
	refusedOnce    sync.Once
	open, peakOpen atomic.Int64

	mu      sync.Mutex // guards what follows
	stalls  []Stall
	spilled int64
	diag    sync.WaitGroup
}

// at is when an event at workload time us is due.
func (rp *running) at(us int64) time.Time {
	return rp.started.Add(time.Duration(float64(us-rp.base)*float64(time.Microsecond)/rp.speed) - time.Duration(rp.skew.Load()))
}

// now is the schedule's position in workload µs.
func (rp *running) nowUS() int64 {
	el := time.Since(rp.started) + time.Duration(rp.skew.Load())
	return rp.base + int64(float64(el.Microseconds())*rp.speed)
}

func (rp *running) addMem(n int64) {
	if n == 0 {
		return
	}
	v := rp.mem.Add(n)
	if n > 0 {
		for p := rp.peak.Load(); v > p && !rp.peak.CompareAndSwap(p, v); p = rp.peak.Load() {
		}
	}
	if rp.Live != nil {
		rp.Live.QueuedBytes.Store(v)
	}
}

func (rp *running) warn(format string, args ...any) {
	if rp.Warn != nil {
		rp.Warn(fmt.Sprintf(format, args...))
	}
}

// Run reads the workload from r and replays it through ex, calling sink
// (from several goroutines; it must be safe for that) with each result.
// It returns when every session has ended, r is exhausted, or ctx ends.
func Run(ctx context.Context, r *parse.Reader, ex Executor, options Options, sink func(*Result)) (*Stats, error) {
	rp := newRunning(r, ex, options, sink)
	// A target that stays unreachable stops the replay as Ctrl-C does.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	rp.reach.stop = stopRun
	// ctx stops the scheduling; execCtx, which outlives it by the grace
	// period, bounds the statements already sent.
	execCtx, cancelExec := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelExec()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(rp.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelExec()
		case <-execCtx.Done():
		}
	})
	defer stop()
	cpu0 := ProcessCPU()
	st := &Stats{Started: rp.started}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchDone sync.WaitGroup
	watchDone.Add(1)
	go func() { defer watchDone.Done(); rp.watch.loop(watchCtx) }()
	if rp.alarm != nil {
		watchDone.Add(1)
		go func() { defer watchDone.Done(); rp.alarm.run() }()
	}
	var wg sync.WaitGroup
	var smu sync.Mutex
	last, readErr := rp.read(ctx, r, func(ss *session) {
		st.Sessions++
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.loop(ctx, execCtx)
			smu.Lock()
			st.Statements += ss.statements
			st.Reconnects += ss.reconnects
			if ss.openErr {
				st.OpenErrors++
			}
			smu.Unlock()
		}()
	})
	wg.Wait()
	stopWatch()
	if rp.alarm != nil {
		rp.alarm.close()
	}
	watchDone.Wait()
	rp.diag.Wait()
	st.Finished = time.Now()
	st.CPU = ProcessCPU() - cpu0
	st.Jumped = time.Duration(rp.skew.Load())
	st.Scheduled = time.Duration(float64(last-rp.base)*float64(time.Microsecond)/rp.speed) - st.Jumped
	st.PeakQueuedBytes = rp.peak.Load()
	rp.mu.Lock()
	st.Stalls, st.SpilledBytes = rp.stalls, rp.spilled
	rp.mu.Unlock()
	st.LockWaits = rp.watch.summary()
	st.Sync = rp.sync.summary()
	st.RefusedConnections = int(rp.refused.Load())
	st.ConnectFailures = int(rp.reach.failures.Load())
	st.PeakConnections = int(rp.peakOpen.Load())
	if ue := rp.reach.stopped(); ue != nil {
		st.UnreachableSince = ue.Since
		return st, ue
	}
	if readErr != nil {
		st.WorkloadError = readErr.Error()
		return st, fmt.Errorf("read workload: %w", readErr)
	}
	return st, ctx.Err()
}

func newRunning(r *parse.Reader, ex Executor, opt Options, sink func(*Result)) *running {
	rp := &running{Options: opt, ex: ex, sink: sink, speed: opt.Speed, started: time.Now(), base: r.Header().Start}
	if !opt.noAlarm {
		rp.alarm = newAlarm()
	}
	if rp.speed <= 0 {
		rp.speed = 1
	}
	if rp.Grace <= 0 {
		rp.Grace = 5 * time.Second
	}
	if rp.Unreachable == 0 {
		rp.Unreachable = 30 * time.Second
	}
	rp.reach = &reach{bound: rp.Unreachable}
	if rp.MemoryBudget <= 0 {
		rp.MemoryBudget = 64 << 20
	}
	if rp.SpillDir == "" {
		rp.SpillDir = os.TempDir()
	}
	rp.windowUS = r.Header().ReorderWindowMS * 1000
	rp.readAheadUS = rp.windowUS + 1_000_000
	if rp.ReadAhead > 0 {
		rp.readAheadUS = max(rp.ReadAhead.Microseconds(), rp.windowUS)
	}
	if !opt.Begin.IsZero() {
		rp.base = max(rp.base, opt.Begin.UnixMicro())
	}
	rp.watch = newWatcher(rp)
	rp.sync = newSyncer(opt, rp.speed, rp.warn, rp.watch)
	if rp.sync.opt.Mode == SyncOff {
		// Nothing waits for another session: the statements' sync lists
		// would only take memory in the queues.
		r.SkipSync()
	}
	return rp
}

// read hands the workload's events to their sessions, starting a session
// (through start) at its first event. It never waits for a session: only
// for the schedule (it reads ReadAhead ahead of it) and, when queued
// events fill the memory budget, for room, which it makes by moving the
// biggest backlog to disk. It returns the latest event time it handed
// out.
func (rp *running) read(ctx context.Context, r *parse.Reader, start func(*session)) (int64, error) {
	var begin, end int64
	if !rp.Begin.IsZero() {
		begin = rp.Begin.UnixMicro()
	}
	if !rp.End.IsZero() {
		end = rp.End.UnixMicro()
	}
	sessions := map[uint64]*session{}
	defer func() {
		for _, ss := range sessions {
			ss.q.close()
		}
	}()
	last := rp.base
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		if ctx.Err() != nil {
			return last, nil
		}
		if ev.Session == nil {
			// An error outside any session (a failed login).
			continue
		}
		if end != 0 && ev.Time > end {
			// Past the window: what is still open closes now.
			return last, nil
		}
		if (ev.Kind == parse.Statement || ev.Kind == parse.Error) && ev.Time < begin {
			continue
		}
		ss := sessions[ev.Session.ID]
		if ss == nil {
			if ev.Kind == parse.Update {
				continue
			}
			ss = &session{s: ev.Session, rp: rp, q: newQueue()}
			sessions[ev.Session.ID] = ss
			start(ss)
		}
		if ev.Kind == parse.Update {
			ss.q.update(ev)
			continue
		}
		if !ev.Pipelined {
			// The rest of a pipeline goes to its session at once: the
			// session waits for it before sending any of it.
			if rp.Jump {
				rp.jump(ctx, ev.Time)
			}
			rp.waitForSchedule(ctx, ev.Time)
			rp.makeRoom(ctx, sessions)
		}
		rp.busy.Add(1)
		n, err := ss.q.push(ev)
		if err != nil {
			rp.warn("session %d: %v; its remaining statements are not replayed", ev.Session.ID, err)
		}
		rp.addMem(n)
		last = max(last, ev.Time)
		if rp.Live != nil {
			rp.Live.WorkloadUS.Store(ev.Time - rp.base)
		}
		if ev.Kind == parse.SessionEnd {
			ss.q.close()
			delete(sessions, ev.Session.ID)
		}
	}
}

// waitForSchedule waits until an event at workload time us is no more
// than the read-ahead ahead of the schedule. Having waited, it lets the
// events of the next readBatchUS through without waiting: each is then
// read a little further ahead than the read-ahead, and a sparse workload
// wakes the reader once for a batch of events, not once for each.
func (rp *running) waitForSchedule(ctx context.Context, us int64) {
	// Most events are within the read-ahead of the schedule's position
	// as last seen, which only moves forward: no need to ask the clock.
	if us-rp.readAheadUS <= rp.seenUS {
		return
	}
	if rp.seenUS = rp.nowUS(); us-rp.readAheadUS <= rp.seenUS {
		return
	}
	if sleepUntil(ctx, rp.at(us-rp.readAheadUS)) {
		rp.seenUS = us - rp.readAheadUS + readBatchUS
	}
}

// readBatchUS is how much of the workload, in µs, the reader lets through
// after a wait for the schedule.
const readBatchUS = 100_000

// jump waits until the event at us is due, or until nothing is running or
// waiting: then the gap until it is idle time in production too, and the
// clock skips it.
func (rp *running) jump(ctx context.Context, us int64) {
	for gap := time.Until(rp.at(us)); gap > 0 && ctx.Err() == nil; gap = time.Until(rp.at(us)) {
		if rp.busy.Load() == 0 {
			rp.skew.Add(int64(gap))
			return
		}
		sleepUntil(ctx, time.Now().Add(min(gap, 10*time.Millisecond)))
	}
}

// makeRoom keeps the queued events within the memory budget. A stalled
// session (one of its statements has run for a while on the target) whose
// backlog holds a good share of it has its backlog moved to disk, and the
// user is told what it waits for. When no session is stalled, every one
// is keeping up and the read-ahead itself is too big for the budget: the
// reader waits for them.
func (rp *running) makeRoom(ctx context.Context, sessions map[uint64]*session) {
	for rp.mem.Load() > rp.MemoryBudget && ctx.Err() == nil {
		var big *session
		var bigBytes int64
		for _, ss := range sessions {
			if b, _ := ss.q.backlog(); b > bigBytes && ss.stalled() {
				big, bigBytes = ss, b
			}
		}
		if big != nil && bigBytes >= rp.MemoryBudget/16 {
			if rp.stall(big) {
				continue
			}
		}
		sleepUntil(ctx, time.Now().Add(5*time.Millisecond))
	}
}

// stallAfter is how long a statement runs before its session counts as
// stalled.
const stallAfter = time.Second

// stalled reports whether the session's statement has been running on the
// target for stallAfter or more.
func (ss *session) stalled() bool {
	s := ss.since.Load()
	return s != 0 && time.Since(time.Unix(0, s)) >= stallAfter
}

// stall moves a stalled session's backlog to disk and says so.
func (rp *running) stall(ss *session) bool {
	_, n := ss.q.backlog()
	freed, err := ss.q.spillBacklog(rp.SpillDir)
	if err != nil {
		rp.warn("session %d is stalled with %d statements waiting, and its backlog can not go to disk: %v; the replay waits for it", ss.s.ID, n, err)
		return false
	}
	if freed == 0 {
		return false
	}
	rp.addMem(-freed)
	if rp.Live != nil {
		rp.Live.Stalled.Add(1)
		rp.Live.SpilledBytes.Add(freed)
	}
	st := Stall{Session: ss.s.ID, Backlog: n}
	if r := ss.q.current(); r != nil {
		st.Index = r.events[0].Index
		if !r.started.IsZero() {
			st.HeldS = time.Since(r.started).Seconds()
		}
	}
	rp.mu.Lock()
	rp.spilled += freed
	i := len(rp.stalls)
	rp.stalls = append(rp.stalls, st)
	rp.mu.Unlock()
	rp.diag.Add(1)
	go func() {
		defer rp.diag.Done()
		waiting := rp.watch.explain(ss)
		rp.mu.Lock()
		rp.stalls[i].Waiting = waiting
		rp.mu.Unlock()
		if waiting != "" {
			waiting = "; on the target it " + waiting
		}
		rp.warn("session %d (%s@%s, application %q) is stalled: its statement %d has run %.0f s on the target and %d statements (%d MB) wait behind it%s. Its backlog goes to disk (%s) and the other sessions keep their schedule",
			ss.s.ID, ss.s.User, ss.s.Database, ss.s.Application, st.Index, st.HeldS, n, freed>>20, waiting, rp.SpillDir)
	}()
	return true
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

// beyond reports whether ev's statement acts beyond the workload. The
// answer is the same for every statement of a normalised query, so it is
// looked up by fingerprint and the text is read once per query.
func (rp *running) beyond(ev *parse.Event) bool {
	if ev.Fingerprint == 0 {
		return reachesBeyond(ev.Text)
	}
	if v, ok := rp.beyondFP.Load(ev.Fingerprint); ok {
		return v.(bool)
	}
	b := reachesBeyond(ev.Text)
	rp.beyondFP.Store(ev.Fingerprint, b)
	return b
}

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
