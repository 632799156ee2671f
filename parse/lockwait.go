package parse

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// What log_lock_waits says. After deadlock_timeout a backend waiting for a
// lock logs, in its own session:
//
//	process 25550 still waiting for ShareLock on transaction 728 after 1.070 ms
//	DETAIL:  Process holding the lock: 25549. Wait queue: 25550.
//
// and later "process N acquired ... after X ms" (or "detected deadlock
// while waiting for ...", "avoided deadlock for ... by rearranging queue
// order", "failed to acquire ..."). The lock is described by
// DescribeLockTag: "ShareLock on transaction 728", "ExclusiveLock on tuple
// (0,1) of relation 16386 of database 16385", "AccessExclusiveLock on
// relation 16386 of database 16385", ... The DETAIL names the processes
// holding it ("Processes holding the lock: 1, 2.") when the waiter could
// see them.

// lockVerb is what a lock message says happened.
type lockVerb uint8

const (
	lockWaiting  lockVerb = iota + 1 // still waiting for
	lockAcquired                     // acquired
	lockDeadlock                     // detected deadlock while waiting for
	lockAvoided                      // avoided deadlock for ... by rearranging queue order
	lockFailed                       // failed to acquire
)

// lockMsg is one parsed lock message.
type lockMsg struct {
	PID  int64
	Verb lockVerb
	// Mode is the lock mode ("ShareLock"), Object what it is on
	// ("transaction 728", "tuple (0,1) of relation 16386 of database 5").
	Mode, Object string
	// XID is the transaction waited for, when the lock is a transaction
	// lock (a row another transaction updated).
	XID uint64
	// AfterUS is how long the process had waited when it logged, in µs.
	AfterUS int64
}

var (
	lockProcess = []byte("process ")
	lockAfter   = []byte(" after ")
)

// parseLockMsg reads a log_lock_waits message; ok is false for anything
// else.
func parseLockMsg(msg []byte) (m lockMsg, ok bool) {
	rest, found := bytes.CutPrefix(msg, lockProcess)
	if !found {
		return m, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 10 || i >= len(rest) || rest[i] != ' ' {
		return m, false
	}
	pid, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return m, false
	}
	m.PID = pid
	rest = rest[i+1:]
	for _, v := range []struct {
		verb   lockVerb
		prefix string
	}{
		{lockWaiting, "still waiting for "},
		{lockAcquired, "acquired "},
		{lockDeadlock, "detected deadlock while waiting for "},
		{lockAvoided, "avoided deadlock for "},
		{lockFailed, "failed to acquire "},
	} {
		if r, found := bytes.CutPrefix(rest, []byte(v.prefix)); found {
			m.Verb, rest = v.verb, r
			break
		}
	}
	if m.Verb == 0 {
		return m, false
	}
	j := bytes.LastIndex(rest, lockAfter)
	if j < 0 {
		return m, false
	}
	lock, after := rest[:j], rest[j+len(lockAfter):]
	if m.Verb == lockAvoided {
		lock, _, _ = bytes.Cut(lock, []byte(" by rearranging queue order"))
	}
	us, tail, okMS := parseMS(after)
	if !okMS || len(tail) != 0 {
		return m, false
	}
	m.AfterUS = us
	mode, object, found := bytes.Cut(lock, []byte(" on "))
	if !found || len(mode) == 0 || bytes.IndexByte(mode, ' ') >= 0 {
		return m, false
	}
	m.Mode, m.Object = string(mode), string(object)
	if x, found := bytes.CutPrefix(object, []byte("transaction ")); found {
		if v, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			m.XID = v
		}
	}
	return m, true
}

// lockHolders returns the pids a lock message's DETAIL names as holding
// the lock: "Process holding the lock: 25549. Wait queue: 25550." or
// "Processes holding the lock: 1, 2. Wait queue: 3.".
func lockHolders(detail []byte) []int64 {
	var list []byte
	for _, p := range []string{"Process holding the lock: ", "Processes holding the lock: "} {
		if _, r, found := bytes.Cut(detail, []byte(p)); found {
			list = r
			break
		}
	}
	if list == nil {
		return nil
	}
	if k := bytes.IndexByte(list, '.'); k >= 0 {
		list = list[:k]
	}
	var pids []int64
	for _, f := range bytes.Split(list, []byte(",")) {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(f)), 10, 64)
		if err == nil && v > 0 && len(pids) < maxHolders {
			pids = append(pids, v)
		}
	}
	return pids
}

// maxHolders bounds the holders kept of one message: a shared lock can
// have hundreds.
const maxHolders = 8

// lockRef is one wait production logged: the holder's statement the
// waiter must follow on the target.
type lockRef struct {
	// on is the holder session; holder what it had begun last when the
	// wait began, nil when the log did not show it.
	on     *session
	holder *pending
	// waitStart is when the wait began (µs); prec the log's time
	// resolution, within which two stamps can not be ordered.
	waitStart, prec int64
}

// lockMessage reads a log_lock_waits entry of a client session and notes
// who the waiting statement waited for.
func (a *assembler) lockMessage(e *logentry.Entry, msg []byte) {
	m, ok := parseLockMsg(msg)
	if !ok {
		a.sum.Skipped["other_message"]++
		return
	}
	a.sum.Skipped["lock_message"]++
	if m.Verb == lockAcquired || m.Verb == lockFailed {
		return
	}
	a.sum.LockWaits++
	s := a.lookup(e, false)
	if s == nil {
		a.sum.LockWaitsUnresolved++
		return
	}
	waitStart := e.Time - m.AfterUS
	prec := max(e.TimePrecision, 1)
	var holders []*session
	for _, pid := range lockHolders(e.Detail) {
		holders = append(holders, a.sy.pids.get(pid))
	}
	if m.XID != 0 {
		holders = append(holders, a.sy.xids.get(m.XID))
	}
	if !a.lockWait(s, holders, waitStart, prec, false) {
		a.sum.LockWaitsUnresolved++
	}
}

// lockWait notes that a statement of session s began at waitStart to wait
// for locks the holders' sessions held. It reports whether any holder was
// known. Only the first wait of a statement counts, unless always.
func (a *assembler) lockWait(s *session, holders []*session, waitStart, prec int64, always bool) bool {
	var hs []*session
	for _, h := range holders {
		if h != nil && h != s && !h.ended && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return false
	}
	list := s.waitList(waitStart + prec)
	if !always && len(*list) > 0 && waitStart > (*list)[0].waitStart+prec {
		// A later wait of the same statement: it was queued already, and
		// what it met then follows from the first.
		return true
	}
	for _, h := range hs {
		lr := &lockRef{on: h, waitStart: waitStart, prec: prec, holder: h.sy.latestBy(waitStart + prec)}
		if lr.holder == nil || lr.holder.finishedBy(waitStart) {
			// The holder may have been running a statement its log
			// writes only when it ends: the next one read.
			if len(h.sy.watchers) < maxRefs {
				h.sy.watchers = append(h.sy.watchers, lr)
			}
		}
		if len(*list) < maxRefs {
			*list = append(*list, lr)
		}
	}
	return true
}

var (
	deadlockProcess = []byte("Process ")
	deadlockBlocked = []byte("; blocked by process ")
)

// syncDeadlock reads a deadlock error's DETAIL ("Process 3203 waits for
// ShareLock on transaction 940; blocked by process 3207."): the victim,
// the process that logged it, had waited first, as its deadlock_timeout
// ran out first; every other process of the cycle began to wait after it,
// for it. The others' waits were often too short for log_lock_waits.
func (a *assembler) syncDeadlock(victim *session, e *logentry.Entry, state string) {
	if state != "40P01" || e.PID == 0 {
		return
	}
	prec := max(e.TimePrecision, 1)
	mine := *victim.waitList(e.Time + prec)
	for _, pid := range deadlockWaiters(e.Detail) {
		w := a.sy.pids.get(pid)
		if pid == e.PID || w == nil {
			continue
		}
		// The victim waited for what w held, not for the statement w
		// waits in: that began to wait after it.
		for _, lr := range mine {
			if lr.on == w {
				w.sy.unwatch(lr)
			}
		}
		a.lockWait(w, []*session{victim}, e.Time, prec, true)
	}
}

// waitList is where the waits of the statement a session runs at time t
// go: its last one while it runs (a log of statements), else the next one
// read (a log of durations writes a statement when it ends).
func (s *session) waitList(t int64) *[]*lockRef {
	if w := s.last; w != nil && s.lastOpen && !w.written && w.time <= t {
		return &w.sy.locks
	}
	return &s.sy.locks
}

// unwatch keeps lr's holder what it is.
func (ss *syncSession) unwatch(lr *lockRef) {
	for i, w := range ss.watchers {
		if w == lr {
			ss.watchers = append(ss.watchers[:i], ss.watchers[i+1:]...)
			return
		}
	}
}

// deadlockWaiters returns the processes a deadlock DETAIL says waited.
func deadlockWaiters(detail []byte) []int64 {
	var pids []int64
	for _, line := range bytes.Split(detail, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, deadlockProcess)
		if !ok || !bytes.Contains(rest, deadlockBlocked) {
			continue
		}
		sp := bytes.IndexByte(rest, ' ')
		if sp <= 0 {
			continue
		}
		if pid, err := strconv.ParseInt(string(rest[:sp]), 10, 64); err == nil && pid > 0 && len(pids) < maxHolders {
			pids = append(pids, pid)
		}
	}
	return pids
}

// latestBy returns the session's latest statement read that began by t.
func (ss *syncSession) latestBy(t int64) *pending {
	n := len(ss.recent)
	for i := 1; i <= min(ss.nrec, n); i++ {
		p := ss.recent[(ss.nrec-i)%n]
		if p.time <= t {
			return p
		}
	}
	return nil
}

// syncCreated notes a statement as it is read: lock waits logged before
// it are its own, and it may be what a lock holder was running.
func (a *assembler) syncCreated(s *session, p *pending) {
	ss := &s.sy
	if len(ss.locks) > 0 {
		if p.ev.Duration < 0 && ss.locks[0].waitStart < p.time {
			// A failed statement of a log of durations is dated by its
			// error; it began no later than its wait.
			t := ss.locks[0].waitStart
			if prev := ss.latestBy(p.time); prev != nil {
				t = max(t, prev.time)
			}
			p.time, s.lastStart = t, t
		}
		p.sy.locks = append(p.sy.locks, ss.locks...)
		ss.locks = nil
	}
	for _, lr := range ss.watchers {
		if p.time < lr.waitStart {
			lr.holder = p
		}
	}
	ss.watchers = ss.watchers[:0]
	ss.recent[ss.nrec%len(ss.recent)] = p
	ss.nrec++
	if p.ev.XID != 0 {
		a.sy.xids.set(p.ev.XID, s)
	}
	if s.pid != 0 {
		a.sy.pids.set(s.pid, s)
	}
}

// lockRefs turns a statement's lock waits into refs, now that the
// holders' statements are written.
func (a *assembler) lockRefs(ss *syncSession, p *pending) []Ref {
	var refs []Ref
	for _, lr := range p.sy.locks {
		h := lr.holder
		if h == nil || !h.written || h.s.id == 0 || len(refs) >= maxRefs {
			continue
		}
		sent := !h.finishedBy(lr.waitStart)
		if !ss.lockSeen.add(refKey{h.s.id, h.index, sent}) {
			continue
		}
		refs = append(refs, Ref{Session: h.s.id, Index: h.index, From: h.sy.from, GapUS: p.time - h.time, Sent: sent})
	}
	p.sy.locks = nil
	return refs
}
