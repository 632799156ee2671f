package parse

import "container/heap"

// reorderBuffer orders held events by (time, seq). Log entries arrive almost in
// time order, so most events go to the back of a FIFO in order; only the
// ones that arrive earlier than the FIFO's tail (cross-session jitter,
// statements dated back by their duration) pay for the heap.
type reorderBuffer struct {
	fifo []*pending
	head int
	late eventHeap
}

func before(a, b *pending) bool {
	if a.time != b.time {
		return a.time < b.time
	}
	return a.seq < b.seq
}

func (q *reorderBuffer) len() int { return len(q.fifo) - q.head + len(q.late) }

func (q *reorderBuffer) push(p *pending) {
	if n := len(q.fifo); n > q.head && before(p, q.fifo[n-1]) {
		heap.Push(&q.late, p)
		return
	}
	if q.head > 4096 && q.head*2 > len(q.fifo) {
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo = q.fifo[:n]
		q.head = 0
	}
	q.fifo = append(q.fifo, p)
}

func (q *reorderBuffer) peek() *pending {
	var f *pending
	if q.head < len(q.fifo) {
		f = q.fifo[q.head]
	}
	if len(q.late) > 0 && (f == nil || before(q.late[0], f)) {
		return q.late[0]
	}
	return f
}

func (q *reorderBuffer) pop() *pending {
	p := q.peek()
	if p == nil {
		return nil
	}
	if len(q.late) > 0 && q.late[0] == p {
		heap.Pop(&q.late)
		return p
	}
	q.fifo[q.head] = nil
	q.head++
	return p
}

type eventHeap []*pending

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return before(h[i], h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(*pending)) }
func (h *eventHeap) Pop() (x any) {
	old := *h
	n := len(old)
	x = old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return
}

// push holds p in the reorder buffer, after the events held before it at
// the same time.
func (a *assembler) push(p *pending) {
	a.seq++
	p.seq = a.seq
	a.pending.push(p)
}
