package parse

import (
	"container/heap"
)

// Commit order, in the spirit of an SCN: as statements leave the reorder
// buffer (in start order), the ends of transactions that wrote are put in
// order of their end time (a COMMIT's start plus its duration when the log
// has durations, else the log's own order), and each statement records the
// ends that had passed before it began, in other sessions, that it had not
// recorded yet: for --sync commit all of them, for --sync objects those of
// transactions that touched what it touches (rowkeys.go). A failed
// statement ends its transaction too: it commits nothing, but from then on
// holds no lock.
//
// Ends are named by their statement (session, index), which is known
// when the statement is written; a rank in commit order would not be, as
// a commit that ends later may begin earlier.

// syncBook is the assembler's commit-order bookkeeping.
type syncBook struct {
	classes classCache
	keys    keyCache
	// finishing holds the ends not yet passed, by end time; passed counts
	// those that have, numbering them in commit order.
	finishing endHeap
	passed    uint64
	// latest are the last ends passed; byRel those that touched each
	// relation at all, byWhole those that touched it as a whole, byKey
	// those that touched rows of it by key.
	latest  endRing
	byRel   ringMap[string]
	byWhole ringMap[string]
	byKey   ringMap[object]
	// writers are the latest writes of each row key (arrival order).
	writers map[object]*writeRing
	// xids and pids find the session of a lock holder; two generations
	// each, so memory stays flat.
	xids gen[uint64]
	pids gen[int64]
}

// object is a relation, or rows of it named by key ("id=5").
type object struct{ rel, key string }

// txEnd is the end of a transaction that wrote.
type txEnd struct {
	end  int64 // production time it ended (µs)
	time int64 // its statement's start
	seq  uint64
	s    *session
	// index and from: the ending statement and the transaction's first.
	index, from int
	objs        []object
}

// endRing keeps the last ends passed, in commit order. A session lists
// those after the last one it listed: by induction it has then waited for
// every end before it, as an SCN would have it. Only the latest few are
// kept: an end older than that was long over before the statement began.
type endRing struct {
	e []*txEnd
	n int
}

func (r *endRing) push(e *txEnd, size int) {
	if len(r.e) < size {
		r.e = append(r.e, e)
	} else {
		r.e[r.n%size] = e
	}
	r.n++
}

// since calls f, oldest first, for the ends kept after seq that another
// session than s had.
func (r *endRing) since(seq uint64, s *session, f func(*txEnd)) {
	if r == nil {
		return
	}
	size := len(r.e)
	for i := min(r.n, size); i >= 1; i-- {
		e := r.e[(r.n-i)%size]
		if e.seq > seq && e.s != s {
			f(e)
		}
	}
}

// ringMap holds a ring per key, dropped all at once when it grows too big.
type ringMap[K comparable] struct {
	m    map[K]*endRing
	size int
}

func (rm *ringMap[K]) get(k K) *endRing { return rm.m[k] }

func (rm *ringMap[K]) push(k K, e *txEnd) {
	r := rm.m[k]
	if r == nil {
		if rm.m == nil || len(rm.m) >= 1<<16 {
			rm.m = make(map[K]*endRing)
		}
		r = &endRing{}
		rm.m[k] = r
	}
	r.push(e, rm.size)
}

type endHeap []*txEnd

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(*txEnd)) }
func (h *endHeap) Pop() (x any) {
	old := *h
	n := len(old)
	x = old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return
}

// Ring sizes: ends kept of all, of each relation, of each row key.
const (
	latestEnds = 32
	relEnds    = 16
	keyEnds    = 4
)

// gen is a map in two generations: when the new one is full it becomes
// the old one.
type gen[K comparable] struct{ cur, old map[K]*session }

func (g *gen[K]) set(k K, s *session) {
	if g.cur == nil || len(g.cur) >= 1<<15 {
		g.old, g.cur = g.cur, make(map[K]*session)
	}
	g.cur[k] = s
}

func (g *gen[K]) get(k K) *session {
	if s, ok := g.cur[k]; ok {
		return s
	}
	return g.old[k]
}

// syncSession is one session's transaction state as its statements are
// written.
type syncSession struct {
	inBlock, inTx, aborted bool
	writes                 bool
	txFirst                int
	objs                   []object
	tx                     *txRec
	// recent are the session's latest statements as they were read, for
	// finding what a lock holder was running.
	recent [32]*pending
	nrec   int
	// locks are waits logged before the statement that waited (a log of
	// durations writes a statement when it ends).
	locks []*lockRef
	// watchers are lock waits on this session whose holder statement may
	// be the next one read: it was running, not yet logged, when the wait
	// began.
	watchers []*lockRef
	// commitSeq and seen are the last ends it listed, of all and of each
	// ring of byRel, byWhole and byKey; lockSeen the statements lately
	// listed as lock holders or earlier writers.
	commitSeq uint64
	seen      map[seenKey]uint64
	objSeen   refRing
	lockSeen  refRing
	// readTx is the transaction statements read now belong to, as the
	// file shows it (rowkeys.go).
	readTx *readTx
}

// readTx is a transaction as it was read: the read order (pending.seq)
// of its end, 0 while none has been read. A log of durations writes a
// statement when it ends, so this says which statements of other
// sessions ended after it did, which the estimated start times can not.
type readTx struct{ endSeq uint64 }

// readStatement notes, as p is read, the transaction it belongs to, and
// that it ends it (COMMIT, END, ROLLBACK, ABORT).
func (ss *syncSession) readStatement(p *pending, text []byte) {
	if ss.readTx == nil {
		ss.readTx = &readTx{}
	}
	p.sy.rtx = ss.readTx
	if !blockStatement(true, text) {
		ss.readTx.endSeq = p.seq
		ss.readTx = nil
	}
}

// finishedBy reports whether the statement had finished, in production,
// by time t (µs); false when the log gave it no duration.
func (p *pending) finishedBy(t int64) bool {
	return p.ev.Duration >= 0 && p.time+p.ev.Duration <= t
}

// endedBefore reports whether the transaction of statement w was read to
// its end before the entry read as seq.
func endedBefore(w *pending, seq uint64) bool {
	return w.sy.rtx != nil && w.sy.rtx.endSeq != 0 && w.sy.rtx.endSeq < seq
}

// seenKey names a ring: kind 'a' byRel, 'w' byWhole, 'k' byKey.
type seenKey struct {
	kind byte
	obj  object
}

// txRec is a transaction as its writes' later readers see it: whether
// and when it ended, with its ending statement and its first.
type txRec struct {
	ended       bool
	end         int64
	index, from int
}

type refKey struct {
	session uint64
	index   int
	sent    bool
}

type refRing struct {
	keys [16]refKey
	n    int
}

// add reports whether k is new, remembering it.
func (r *refRing) add(k refKey) bool {
	for _, have := range r.keys {
		if have == k {
			return false
		}
	}
	r.keys[r.n%len(r.keys)] = k
	r.n++
	return true
}

// stmtSync is a pending statement's sync bookkeeping.
type stmtSync struct {
	// from is the first statement of its transaction, set when written.
	from  int
	locks []*lockRef
	// failedAt is when its error was logged: a failed statement has no
	// duration, and its transaction held its locks until then.
	failedAt int64
	// rtx is its transaction as read.
	rtx *readTx
}

// advance passes every end before t.
func (b *syncBook) advance(t int64) {
	b.byRel.size, b.byWhole.size, b.byKey.size = relEnds, relEnds, keyEnds
	for len(b.finishing) > 0 && b.finishing[0].end < t {
		e := heap.Pop(&b.finishing).(*txEnd)
		b.passed++
		e.seq = b.passed
		b.latest.push(e, latestEnds)
		for _, o := range e.objs {
			b.byRel.push(o.rel, e)
			if o.key == "" {
				b.byWhole.push(o.rel, e)
			} else {
				b.byKey.push(o, e)
			}
		}
	}
}

// objects returns what a statement touches: its relations, or the rows
// of its one relation that it names by key.
func (b *syncBook) objects(cls stmtClass, ev *Event) []object {
	if len(cls.rels) == 1 {
		if parts := b.keys.get(ev.Text); parts != nil {
			if k := keyValue(parts, ev.Params); k != "" {
				return []object{{cls.rels[0], k}}
			}
		}
	}
	objs := make([]object, len(cls.rels))
	for i, r := range cls.rels {
		objs[i] = object{rel: r}
	}
	return objs
}

// syncStatement does the bookkeeping of a statement being written (its
// index and fingerprint set) and gives it its sync lists.
func (a *assembler) syncStatement(s *session, p *pending) {
	b, ss := &a.sy, &s.sy
	b.advance(p.time)
	cls := b.classes.get(p.ev.Fingerprint, p.ev.Text)
	objs := b.objects(cls, &p.ev)
	if !ss.inTx {
		ss.inTx, ss.txFirst, ss.writes, ss.objs = true, p.index, false, ss.objs[:0]
		ss.tx = &txRec{}
	}
	p.sy.from = ss.txFirst
	var sy Sync
	b.latest.since(ss.commitSeq, s, func(e *txEnd) { sy.AfterCommit = appendRef(sy.AfterCommit, e, p.time) })
	ss.commitSeq = b.passed
	add := func(e *txEnd) {
		// An end waited for through another of its objects is not
		// waited for again.
		if ss.objSeen.add(refKey{e.s.id, e.index, false}) {
			sy.AfterObjects = appendRef(sy.AfterObjects, e, p.time)
		}
	}
	for _, o := range objs {
		if o.key == "" {
			ss.since(seenKey{'a', object{rel: o.rel}}, b.byRel.get(o.rel), b.passed, s, add)
			continue
		}
		ss.since(seenKey{'w', object{rel: o.rel}}, b.byWhole.get(o.rel), b.passed, s, add)
		ss.since(seenKey{'k', o}, b.byKey.get(o), b.passed, s, add)
	}
	sy.AfterLocks = a.lockRefs(ss, p)
	if cls.writes {
		quick := b.classes.quick(p.ev.Fingerprint, p.ev.Duration)
		sy.AfterLocks = b.arrivals(ss, s, p, objs, quick, sy.AfterLocks)
	}
	if !sy.empty() {
		p.ev.Sync = &sy
	}
	a.syncTxState(s, p, cls, objs)
}

// since lists the ends of ring r the session has not listed yet, and
// notes that it has now.
func (ss *syncSession) since(k seenKey, r *endRing, passed uint64, s *session, f func(*txEnd)) {
	if ss.seen == nil || len(ss.seen) >= 4096 {
		ss.seen = make(map[seenKey]uint64)
	}
	r.since(ss.seen[k], s, f)
	ss.seen[k] = passed
}

// syncTxState moves the session's transaction state past a statement.
func (a *assembler) syncTxState(s *session, p *pending, cls stmtClass, objs []object) {
	ss := &s.sy
	text := []byte(p.ev.Text)
	ss.inBlock = blockAfter(ss.inBlock, text)
	if w1, rest := word(text); isWord(w1, "rollback") {
		if w2, _ := word(rest); isWord(w2, "to") {
			// Back to a savepoint: the transaction goes on.
			ss.aborted = false
		}
	}
	if !ss.aborted {
		ss.writes = ss.writes || cls.writes || p.ev.XID != 0
		for _, o := range objs {
			ss.addObject(o)
		}
	}
	failed := p.ev.Err != nil
	if failed && !ss.aborted || !ss.inBlock && !p.ev.Continued {
		end := p.time + max(p.ev.Duration, 0)
		if p.ev.Duration < 0 && p.sy.failedAt > end {
			end = p.sy.failedAt
		}
		a.endTx(s, p.index, p.time, end)
		ss.aborted = failed && ss.inBlock
	}
	if !ss.inBlock {
		ss.aborted = false
	}
}

// syncError does the bookkeeping of an Error event being written: in a
// transaction, it fails it.
func (a *assembler) syncError(s *session, p *pending) {
	ss := &s.sy
	if p.ev.Text == "" {
		return
	}
	ss.inBlock = blockAfter(ss.inBlock, []byte(p.ev.Text))
	if ss.inTx && !ss.aborted {
		// The transaction ends here, before the session's next statement:
		// replay lets its waiters go when the error is raised again.
		a.endTx(s, s.written, p.time, p.time)
		ss.aborted = ss.inBlock
	}
	if !ss.inBlock {
		ss.aborted = false
	}
}

// endTx ends the session's open transaction at statement index; one that
// wrote becomes an end others may wait for.
func (a *assembler) endTx(s *session, index int, start, end int64) {
	ss := &s.sy
	ss.inTx = false
	if ss.tx != nil {
		ss.tx.ended, ss.tx.end, ss.tx.index, ss.tx.from = true, end, index, min(ss.txFirst, index)
	}
	if !ss.writes {
		return
	}
	a.sum.Commits++
	e := &txEnd{end: end, time: start, s: s, index: index, from: min(ss.txFirst, index)}
	if len(ss.objs) > 0 {
		e.objs = append([]object(nil), ss.objs...)
	}
	heap.Push(&a.sy.finishing, e)
	ss.writes = false
}

func (ss *syncSession) addObject(o object) {
	for _, have := range ss.objs {
		if have == o {
			return
		}
	}
	if len(ss.objs) < 4*maxRels {
		ss.objs = append(ss.objs, o)
	}
}

// appendRef appends a ref to the end e for a statement that began at t,
// unless refs has it.
func appendRef(refs []Ref, e *txEnd, t int64) []Ref {
	if e.s.id == 0 || len(refs) >= maxRefs {
		return refs
	}
	for _, r := range refs {
		if r.Session == e.s.id && r.Index == e.index {
			return refs
		}
	}
	return append(refs, Ref{Session: e.s.id, Index: e.index, From: e.from, GapUS: t - e.time})
}
