// Package procs sets how many threads run the replayer's Go code
// (GOMAXPROCS) from what the replay needs, while it runs.
//
// A replayer mostly waits: for a statement's time, for the target's
// answer. Each time a session's goroutine becomes ready, a Go process
// with idle processors wakes a second thread to look for work, which
// finds none and sleeps again: on a light load those wake-ups cost more
// CPU than the statements. One processor has no one to wake, but caps
// the replayer at one core. So the replay starts with one and takes all
// of them as soon as it is busy (its CPU use near one core, or goroutines
// kept waiting for a turn), and goes back to one when it has been quiet
// for a while.
//
// A GOMAXPROCS set in the environment is the user's choice and is left
// alone. cmd/pgrehearse runs Adapt beside a replay; cancelling its
// context, or calling the stop function it returns, restores the number
// it started with.
package procs

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// Policy is when Adapt changes the number.
type Policy struct {
	// Every is how often it looks.
	Every time.Duration
	// Busy is the CPU use, in cores, at or above which one processor is
	// too few; Quiet the use below which all are too many.
	Busy, Quiet float64
	// Waiting is how long the slowest goroutines of a look (the 99th
	// percentile of the time runnable goroutines waited to run) may wait
	// on one processor.
	Waiting time.Duration
	// WaitLooks is how many looks in a row must see goroutines wait
	// longer than Waiting before one processor is too few: the burst of
	// a replay's start (every session connecting at once) is not a load.
	WaitLooks int
	// QuietLooks is how many looks in a row must be quiet (CPU under
	// Quiet, waits at most a quarter of Waiting) before it goes back to
	// one.
	QuietLooks int
}

// DefaultPolicy looks four times a second, takes every processor at 0.7
// of a core or at waits over 1 ms in two looks running, and goes back
// after two quiet seconds below 0.4 of a core.
var DefaultPolicy = Policy{Every: 250 * time.Millisecond, Busy: 0.7, Quiet: 0.4, Waiting: time.Millisecond,
	WaitLooks: 2, QuietLooks: 8}

// Look is what one look saw.
type Look struct {
	Cores   float64       // CPU used per second of wall time since the last look
	Waiting time.Duration // 99th percentile of the scheduling latency since then
}

// next returns the number of processors after a look, given the current
// one, the most there may be and the looks counted before it: on one
// processor those that saw long waits, on all the quiet ones.
func (p Policy) next(cur, most int, l Look, counted int) (n, countedAfter int) {
	if cur == 1 {
		switch {
		case l.Cores >= p.Busy:
			return most, 0
		case l.Waiting > p.Waiting:
			if counted+1 >= p.WaitLooks {
				return most, 0
			}
			return 1, counted + 1
		}
		return 1, 0
	}
	quiet := counted
	if l.Cores < p.Quiet && l.Waiting <= p.Waiting/4 {
		quiet++
		if quiet >= p.QuietLooks {
			return 1, 0
		}
		return cur, quiet
	}
	return cur, 0
}

// Adapt sets GOMAXPROCS to one and changes it by policy until ctx ends or
// stop is called; stop waits for it and restores the number it found. It
// does nothing (stop still works) when GOMAXPROCS was set in the
// environment or there is only one processor. changed, when not nil, is
// told of each change and the look that made it.
func Adapt(ctx context.Context, p Policy, changed func(n int, l Look)) (stop func()) {
	most := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" || most == 1 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		run(ctx, p, most, changed)
	}()
	return func() {
		cancel()
		wg.Wait()
		runtime.GOMAXPROCS(most)
	}
}

func run(ctx context.Context, p Policy, most int, changed func(int, Look)) {
	cur, counted := 1, 0
	runtime.GOMAXPROCS(cur)
	w := newWatch()
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l := w.look()
		var n int
		n, counted = p.next(cur, most, l, counted)
		if n != cur {
			runtime.GOMAXPROCS(n)
			cur = n
			if changed != nil {
				changed(n, l)
			}
		}
	}
}

// watch reads the process's CPU time and the runtime's scheduling
// latencies, and gives what changed between two reads.
type watch struct {
	at      time.Time
	cpu     time.Duration
	samples []metrics.Sample
	last    []uint64 // the latency histogram's counts at the last read
}

const latencies = "/sched/latencies:seconds"

func newWatch() *watch {
	w := &watch{samples: []metrics.Sample{{Name: latencies}}}
	w.look()
	return w
}

func (w *watch) look() Look {
	now, cpu := time.Now(), CPU()
	metrics.Read(w.samples)
	var l Look
	if el := now.Sub(w.at); !w.at.IsZero() && el > 0 {
		l.Cores = float64(cpu-w.cpu) / float64(el)
	}
	if w.samples[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := w.samples[0].Value.Float64Histogram()
		if w.last != nil && len(w.last) == len(h.Counts) {
			l.Waiting = percentile(h, w.last, 0.99)
		}
		w.last = append(w.last[:0], h.Counts...)
	}
	w.at, w.cpu = now, cpu
	return l
}

// percentile is the q-th quantile of what h gained since the counts in
// before: the upper bound of the bucket it falls in.
func percentile(h *metrics.Float64Histogram, before []uint64, q float64) time.Duration {
	var total uint64
	for i, c := range h.Counts {
		total += c - before[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i, c := range h.Counts {
		seen += c - before[i]
		if seen > want {
			up := h.Buckets[i+1]
			if up > 3600 { // the last bucket is open (+Inf)
				up = h.Buckets[i]
			}
			return time.Duration(up * float64(time.Second))
		}
	}
	return 0
}
