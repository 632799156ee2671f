//go:build linux

package replay

import (
	"sync"
	"testing"
	"time"
)

// TestAlarmWakesInOrder: sessions waiting for different times, added in
// any order and some while the alarm waits for a later one, each wake at
// their time (no more than sendEarly before it) and not much after; a
// waker that leaves is not woken; close ends run.
func TestAlarmWakesInOrder(t *testing.T) {
	a := newAlarm()
	if a == nil {
		t.Fatal("no timerfd on linux")
	}
	done := make(chan struct{})
	go func() { defer close(done); a.run() }()

	start := time.Now()
	offsets := []time.Duration{40, 5, 25, 5, 60, 15, 30} // ms
	var wg sync.WaitGroup
	late := make([]time.Duration, len(offsets))
	for i, off := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWaker()
			due := start.Add(off * time.Millisecond)
			a.wait(w, due)
			<-w.c
			late[i] = time.Since(due)
		}()
	}
	gone := newWaker()
	a.wait(gone, start.Add(10*time.Millisecond))
	a.leave(gone)
	wg.Wait()
	for i, l := range late {
		if l < -sendEarly || l > time.Second {
			t.Errorf("waker due at %v ms woke %v after its time", offsets[i], l)
		}
	}
	select {
	case <-gone.c:
		t.Error("a waker that left was woken")
	default:
	}

	// A time already past wakes at once.
	w := newWaker()
	a.wait(w, time.Now().Add(-time.Second))
	select {
	case <-w.c:
	case <-time.After(5 * time.Second):
		t.Fatal("a waker already due was not woken")
	}

	a.close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not end on close")
	}
}

// TestAlarmStaleWake: a wake left in a waker's channel (its session
// stopped waiting just as it fell due) does not end its next wait early.
func TestAlarmStaleWake(t *testing.T) {
	a := newAlarm()
	done := make(chan struct{})
	go func() { defer close(done); a.run() }()
	defer func() { a.close(); <-done }()
	w := newWaker()
	w.c <- struct{}{}
	due := time.Now().Add(30 * time.Millisecond)
	a.wait(w, due)
	<-w.c
	if early := time.Until(due); early > sendEarly {
		t.Fatalf("woke %v before its time", early)
	}
}
