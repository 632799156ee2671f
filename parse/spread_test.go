package parse

import (
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// TestStampSpread: the entries of one millisecond stamp keep the file's
// order inside it, never reach the next millisecond, and the next stamp
// starts afresh; stamps of other precisions are left alone.
func TestStampSpread(t *testing.T) {
	var sp stampSpread
	place := func(stamp, prec int64) int64 {
		e := &logentry.Entry{Time: stamp, TimePrecision: prec}
		sp.place(e)
		return e.Time
	}
	// A stamp of four entries, then one of two, then one of ten (more
	// than the previous stamp had: they close up towards its end).
	for _, n := range []int{4, 2, 10, 1} {
		stamp := int64(1_000_000 * (n + 1))
		last := stamp - 1
		for k := 0; k < n; k++ {
			got := place(stamp, 1000)
			if got <= last || got >= stamp+1000 {
				t.Fatalf("entry %d of %d at stamp %d placed at %d: want after %d and before %d", k, n, stamp, got, last, stamp+1000)
			}
			last = got
		}
	}
	// Two entries, then three at the next stamp: k/3 of it with the
	// previous count of two, then closing up (2/4).
	sp = stampSpread{}
	place(5000, 1000)
	place(5000, 1000)
	if a, b, c := place(6000, 1000), place(6000, 1000), place(6000, 1000); a != 6000 || b != 6333 || c != 6500 {
		t.Errorf("three entries after a stamp of two at %d, %d and %d, want 6000, 6333 and 6500", a, b, c)
	}
	for _, prec := range []int64{0, 1, 1_000_000} {
		if got := place(7_000_000, prec); got != 7_000_000 {
			t.Errorf("precision %d: placed at %d, want the stamp as logged", prec, got)
		}
	}
}
