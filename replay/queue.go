package replay

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/pgrehearse/pgrehearse/parse"
)

// queue holds the events the reader has handed to one session and the
// session has not run yet. The reader never waits for it: push always
// succeeds, in memory or, once the session is stalled and its backlog has
// gone to disk, in the spill file. Order is kept: while a spill file
// exists every new event goes after what it holds.
type queue struct {
	mu sync.Mutex
	// front is an event taken out and put back (see nextIf); it goes
	// before everything else.
	front     *parse.Event
	frontSize int64
	events    []*parse.Event
	sizes     []int64 // eventSize of each of events, computed once
	head      int
	bytes     int64 // memory the events in events[head:] hold
	spill     *spillFile
	closed    bool
	// updates holds late news (Update events) for statements that are
	// in the spill file, applied when they are read back.
	updates map[int]*parse.Event
	// running is the unit now on the target, for late news about it.
	running *runningUnit
	// wake is signalled when an event arrives or the queue closes.
	wake chan struct{}
}

// runningUnit is what a queue knows of the unit its session has taken
// out: waiting for its due time, then running.
type runningUnit struct {
	events  []*parse.Event
	started time.Time // zero while it waits for its time
	// ss cancels the unit at a time (a production cancel, also one that
	// arrives as late news); nil when nothing can cancel it.
	ss *session
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

// refSize is what one parse.Ref takes in memory.
const refSize = int64(unsafe.Sizeof(parse.Ref{}))

// eventSize is about what an event holds in memory.
func eventSize(ev *parse.Event) int64 {
	n := int64(200 + len(ev.Text) + len(ev.Name))
	for _, p := range ev.Params {
		n += 24 + int64(len(p.Value))
	}
	if s := ev.Sync; s != nil {
		n += 48 + refSize*int64(len(s.AfterCommit)+len(s.AfterObjects)+len(s.AfterLocks))
	}
	return n
}

func (q *queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// push adds ev and returns how many bytes of memory it took (0 when it
// went to the spill file).
func (q *queue) push(ev *parse.Event) (int64, error) {
	q.mu.Lock()
	defer q.notify()
	defer q.mu.Unlock()
	if q.spill != nil {
		return 0, q.spill.write(ev)
	}
	if q.head > 1024 && q.head*2 > len(q.events) {
		n := copy(q.events, q.events[q.head:])
		copy(q.sizes, q.sizes[q.head:])
		clear(q.events[n:])
		q.events, q.sizes, q.head = q.events[:n], q.sizes[:n], 0
	}
	sz := eventSize(ev)
	q.events = append(q.events, ev)
	q.sizes = append(q.sizes, sz)
	q.bytes += sz
	return sz, nil
}

// close tells the session no more events will come.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.notify()
}

// next returns the next event without waiting: ok is false when there is
// none now; done is true when there will be none.
func (q *queue) next(s *parse.Session) (ev *parse.Event, freed int64, ok, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nextLocked(s)
}

// hasNext reports whether an event is waiting.
func (q *queue) hasNext() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.front != nil || q.head < len(q.events) || q.spill != nil && q.spill.pending > 0
}

// nextIf is next, but takes the event out only when want says so.
func (q *queue) nextIf(s *parse.Session, want func(*parse.Event) bool) (ev *parse.Event, freed int64, ok, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ev, freed, ok, done = q.nextLocked(s)
	if ok && !want(ev) {
		q.front, q.frontSize = ev, freed
		q.bytes += freed
		return nil, 0, false, false
	}
	return ev, freed, ok, done
}

func (q *queue) nextLocked(s *parse.Session) (ev *parse.Event, freed int64, ok, done bool) {
	if q.front != nil {
		ev, freed, q.front = q.front, q.frontSize, nil
		q.bytes -= freed
		return ev, freed, true, false
	}
	if q.head < len(q.events) {
		ev, freed = q.events[q.head], q.sizes[q.head]
		q.events[q.head] = nil
		q.head++
		q.bytes -= freed
		return ev, freed, true, false
	}
	if q.spill != nil && q.spill.pending > 0 {
		ev, err := q.spill.read(s)
		if err != nil {
			// The disk failed under us: what is left of the backlog is
			// lost, and said so by the session's missing results.
			q.spill.close()
			q.spill = nil
			return nil, 0, false, q.closed
		}
		if u := q.updates[ev.Index]; u != nil && ev.Kind == parse.Statement {
			applyUpdate(ev, u)
			delete(q.updates, ev.Index)
		}
		if q.spill.pending == 0 {
			q.spill.close()
			q.spill = nil
		}
		return ev, 0, true, false
	}
	return nil, 0, false, q.closed
}

// pop waits for the next event; ok is false when the queue is closed and
// empty, or ctx ended.
func (q *queue) pop(ctx context.Context, s *parse.Session) (*parse.Event, int64, bool) {
	for {
		ev, freed, ok, done := q.next(s)
		if ok {
			return ev, freed, true
		}
		if done {
			return nil, 0, false
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, 0, false
		}
	}
}

// spillBacklog moves everything but the next event to a spill file, and
// returns the memory that freed. The next event stays in memory: it is
// what the session runs as soon as it is free.
func (q *queue) spillBacklog(dir string) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.spill != nil || len(q.events)-q.head < 2 {
		return 0, nil
	}
	f, err := newSpill(dir)
	if err != nil {
		return 0, err
	}
	var freed int64
	for i := q.head + 1; i < len(q.events); i++ {
		if err := f.write(q.events[i]); err != nil {
			f.close()
			return 0, err
		}
		freed += q.sizes[i]
		q.events[i] = nil
	}
	q.events, q.sizes = q.events[:q.head+1], q.sizes[:q.head+1]
	q.bytes -= freed
	q.spill = f
	return freed, nil
}

// spilled returns the bytes the spill file holds now.
func (q *queue) spilled() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.spill == nil {
		return 0
	}
	return q.spill.bytes
}

// backlog returns the memory the waiting events hold and how many there
// are.
func (q *queue) backlog() (int64, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.events) - q.head
	if q.spill != nil {
		n += q.spill.pending
	}
	return q.bytes, n
}

// update applies late news to the statement it concerns: one still
// waiting gets it before it runs; one running gets its cancel deadline;
// one already done is compare's business.
func (q *queue) update(u *parse.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.running; r != nil {
		for _, ev := range r.events {
			if ev.Kind != parse.Statement || ev.Index != u.Index {
				continue
			}
			if r.started.IsZero() {
				applyUpdate(ev, u)
			} else if u.Err != nil && u.Err.SQLState == "57014" && u.Duration > 0 && r.ss != nil {
				r.ss.cancelAt(r.started.Add(time.Duration(u.Duration) * time.Microsecond))
			}
			return
		}
	}
	for _, ev := range q.events[q.head:] {
		if ev.Kind == parse.Statement && ev.Index == u.Index {
			applyUpdate(ev, u)
			return
		}
	}
	if q.spill != nil {
		if q.updates == nil {
			q.updates = map[int]*parse.Event{}
		}
		q.updates[u.Index] = u
	}
}

// current returns a copy of the unit the session has taken out, nil when
// none.
func (q *queue) current() *runningUnit {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running == nil {
		return nil
	}
	r := *q.running
	return &r
}

// take records the unit the session has taken out (nil when it is
// done).
func (q *queue) take(r *runningUnit) {
	q.mu.Lock()
	q.running = r
	q.mu.Unlock()
}

// start marks the taken unit as sent at t by ss. A statement production's
// client cancelled (57014) is cancelled after its original duration, now
// or when that news arrives late. After start, late news no longer
// changes the unit's events, so the session may read them without the
// lock.
func (q *queue) start(t time.Time, ss *session) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.running
	if r == nil {
		return
	}
	r.started, r.ss = t, ss
	for _, ev := range r.events {
		if ev.Err != nil && ev.Err.SQLState == "57014" && ev.Duration > 0 {
			ss.cancelAt(t.Add(time.Duration(ev.Duration) * time.Microsecond))
		}
	}
}

// drop releases what the queue still holds; the session has ended.
func (q *queue) drop() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	freed := q.bytes
	clear(q.events)
	q.events, q.sizes, q.head, q.bytes = nil, nil, 0, 0
	if q.spill != nil {
		q.spill.close()
		q.spill = nil
	}
	return freed
}

// applyUpdate folds late news into a statement that has not run yet.
func applyUpdate(ev, u *parse.Event) {
	if u.Duration >= 0 {
		ev.Duration = u.Duration
	}
	if u.Err != nil {
		ev.Err = u.Err
	}
}
