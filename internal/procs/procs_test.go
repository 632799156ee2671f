package procs

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNext(t *testing.T) {
	p := DefaultPolicy
	for _, tc := range []struct {
		name       string
		cur, quiet int
		look       Look
		want       int
		wantQuiet  int
	}{
		{"light load stays on one", 1, 0, Look{Cores: 0.3, Waiting: 100 * time.Microsecond}, 1, 0},
		{"near a core takes all", 1, 0, Look{Cores: 0.7}, 8, 0},
		{"one look of waiting goroutines is counted", 1, 0, Look{Cores: 0.2, Waiting: 2 * time.Millisecond}, 1, 1},
		{"goroutines kept waiting two looks running take all", 1, 1, Look{Cores: 0.2, Waiting: 2 * time.Millisecond}, 8, 0},
		{"a look without long waits starts the count again", 1, 1, Look{Cores: 0.2, Waiting: 200 * time.Microsecond}, 1, 0},
		{"busy on all stays", 8, 3, Look{Cores: 1.5}, 8, 0},
		{"a quiet look is counted", 8, 3, Look{Cores: 0.2, Waiting: 50 * time.Microsecond}, 8, 4},
		{"enough quiet looks go back to one", 8, 7, Look{Cores: 0.2}, 1, 0},
		{"quiet CPU but waiting goroutines is not quiet", 8, 7, Look{Cores: 0.2, Waiting: 500 * time.Microsecond}, 8, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, q := p.next(tc.cur, 8, tc.look, tc.quiet)
			if n != tc.want || q != tc.wantQuiet {
				t.Fatalf("next = %d (quiet %d), want %d (quiet %d)", n, q, tc.want, tc.wantQuiet)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{0, 1e-6, 1e-5, 1e-4, 1e-3, 1e300},
		Counts:  []uint64{10, 100, 1000, 1000, 1},
	}
	before := []uint64{10, 100, 0, 1000, 0}
	// Since before: 1,000 in [10 µs, 100 µs) and 1 in [1 ms, +Inf).
	if got := percentile(h, before, 0.99); got != 100*time.Microsecond {
		t.Fatalf("p99 = %v, want 100µs", got)
	}
	if got := percentile(h, before, 0.9995); got != time.Millisecond {
		t.Fatalf("p99.95 = %v, want 1ms (the open bucket's lower bound)", got)
	}
	if got := percentile(h, h.Counts, 0.99); got != 0 {
		t.Fatalf("p99 of nothing = %v, want 0", got)
	}
}

// TestAdaptTakesAllWhenBusy burns CPU on one processor and checks Adapt
// gives the process every processor, and stop restores the number.
func TestAdaptTakesAllWhenBusy(t *testing.T) {
	most := runtime.GOMAXPROCS(0)
	if most == 1 {
		t.Skip("one processor: Adapt has nothing to choose")
	}
	t.Setenv("GOMAXPROCS", "")
	changes := make(chan int, 16)
	p := Policy{Every: 20 * time.Millisecond, Busy: 0.5, Quiet: 0.01, Waiting: time.Second, QuietLooks: 1000}
	stop := Adapt(context.Background(), p, func(n int, _ Look) { changes <- n })
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	select {
	case n := <-changes:
		if n != most {
			t.Errorf("changed to %d processors, want %d", n, most)
		}
	case <-time.After(30 * time.Second):
		t.Error("a goroutine spinning on one processor did not make Adapt take more in 30 s")
	}
	close(done)
	stop()
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("after stop GOMAXPROCS = %d, want %d", got, most)
	}
}

// TestAdaptLeavesTheUsersChoice: a GOMAXPROCS in the environment is not
// changed.
func TestAdaptLeavesTheUsersChoice(t *testing.T) {
	most := runtime.GOMAXPROCS(0)
	t.Setenv("GOMAXPROCS", "2")
	stop := Adapt(context.Background(), DefaultPolicy, nil)
	time.Sleep(10 * time.Millisecond)
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Errorf("GOMAXPROCS = %d with GOMAXPROCS set in the environment, want %d", got, most)
	}
	stop()
}
