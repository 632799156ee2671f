//go:build linux

package replay

import (
	"container/heap"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// alarm wakes sleeping sessions at their due times from one timerfd in
// Go's poller, read by one goroutine, instead of a runtime timer each.
//
// On a light load every session sleeps between most of its statements.
// While any runtime timer is set, Go's monitor thread, with nothing else
// to watch, sleeps only until the earliest and wakes for it: one thread
// wake more for nearly every statement, and on a virtual machine a wake
// costs more than the statement's own work in the replayer (measured in
// docs/performance.md). A timerfd is a file the poller waits on with the
// sockets, so nothing wakes but the thread already waiting for answers;
// its expiry is also exact to the microsecond, where the poller's wait
// for a runtime timer is rounded up to the millisecond.
//
// Sessions and the alarm goroutine share a heap of due times under mu;
// the timerfd is set for the earliest. System calls are made raw, as in
// directConn, for the same reason: a system call made the usual way wakes
// the sleeping monitor thread.
type alarm struct {
	f      *os.File
	rc     syscall.RawConn
	readFn func(fd uintptr) bool
	fd     int

	mu    sync.Mutex
	due   wakerHeap
	armed int64 // the monotonic ns the timerfd is set for, 0 when not
	arm   bool  // the next readTimer call sets the timerfd first
	base  time.Time
}

// newAlarm returns an alarm, or nil when the system has no timerfd:
// sessions then sleep on timers of their own.
func newAlarm() *alarm {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	a := &alarm{f: f, rc: rc, fd: fd, base: time.Now()}
	a.readFn = a.readTimer
	return a
}

// waker is one session's place in the alarm's heap.
type waker struct {
	c    chan struct{}
	when int64 // ns since the alarm's base
	i    int   // index in the heap, -1 when not in it
}

func newWaker() *waker { return &waker{c: make(chan struct{}, 1), i: -1} }

// run wakes sessions as they fall due until close; the replay runs it in
// a goroutine of its own and waits for it.
func (a *alarm) run() {
	for {
		a.mu.Lock()
		a.arm = true
		a.mu.Unlock()
		if err := a.rc.Read(a.readFn); err != nil {
			return // closed
		}
		a.fire()
	}
}

// close ends run.
func (a *alarm) close() { a.f.Close() }

// readTimer is run's read of the timerfd. Its first call sets the timer
// for the earliest due time: the read has begun, so the expiry can not be
// missed (see directConn); false waits for it.
func (a *alarm) readTimer(fd uintptr) bool {
	a.mu.Lock()
	if a.arm {
		a.arm = false
		a.armed = 0
		if len(a.due) > 0 {
			if a.due[0].when <= a.now() {
				a.mu.Unlock()
				return true
			}
			a.set(a.due[0].when)
		}
		a.mu.Unlock()
		return false
	}
	a.mu.Unlock()
	var n uint64
	for {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&n)), 8)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}

func (a *alarm) now() int64 { return int64(time.Since(a.base)) }

// set sets the timerfd for when (mu held).
func (a *alarm) set(when int64) {
	d := max(when-a.now(), 1) // 0 would disarm it
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d)}
	unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(a.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	a.armed = when
}

// fire wakes every session now due, or due within sendEarly.
func (a *alarm) fire() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now() + int64(sendEarly)
	for len(a.due) > 0 && a.due[0].when <= now {
		w := heap.Pop(&a.due).(*waker)
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}

// wait puts w in the heap for t, setting the timerfd sooner if t is the
// earliest while run waits.
func (a *alarm) wait(w *waker, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-w.c: // a wake the session did not wait for
	default:
	}
	w.when = int64(t.Sub(a.base))
	if w.i >= 0 {
		heap.Fix(&a.due, w.i)
	} else {
		heap.Push(&a.due, w)
	}
	if !a.arm && (a.armed == 0 || w.when < a.armed) {
		a.set(w.when)
	}
}

// leave takes w out of the heap: its session stopped waiting.
func (a *alarm) leave(w *waker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.i >= 0 {
		heap.Remove(&a.due, w.i)
	}
}

// wakerHeap orders wakers by due time (container/heap).
type wakerHeap []*waker

func (h wakerHeap) Len() int           { return len(h) }
func (h wakerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h wakerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *wakerHeap) Push(x any) {
	w := x.(*waker)
	w.i = len(*h)
	*h = append(*h, w)
}
func (h *wakerHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.i = -1
	return w
}
