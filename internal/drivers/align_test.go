package drivers

import (
	"math/rand"
	"testing"
)

// lcs is the length of the longest common subsequence, by the textbook
// dynamic programme.
func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			switch {
			case a[i] == b[j]:
				dp[i][j] = dp[i+1][j+1] + 1
			case dp[i+1][j] > dp[i][j+1]:
				dp[i][j] = dp[i+1][j]
			default:
				dp[i][j] = dp[i][j+1]
			}
		}
	}
	return dp[0][0]
}

// TestAlignIsAShortestEditScript checks align on random sequences: the
// script turns a into b, and it keeps as many items as the longest common
// subsequence has.
func TestAlignIsAShortestEditScript(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	alphabet := []string{"BEGIN", "SELECT 1", "UPDATE", "COMMIT", "ROLLBACK"}
	gen := func(n, k int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = alphabet[rnd.Intn(k)]
		}
		return s
	}
	for iter := 0; iter < 2000; iter++ {
		k := 1 + rnd.Intn(len(alphabet))
		a, b := gen(rnd.Intn(15), k), gen(rnd.Intn(15), k)
		ops := align(a, b)
		i, j, kept := 0, 0, 0
		for _, o := range ops {
			switch o {
			case opEqual:
				if i >= len(a) || j >= len(b) || a[i] != b[j] {
					t.Fatalf("%q -> %q: script %v keeps unequal items at %d, %d", a, b, ops, i, j)
				}
				i, j, kept = i+1, j+1, kept+1
			case opDelete:
				i++
			case opInsert:
				j++
			}
		}
		if i != len(a) || j != len(b) {
			t.Fatalf("%q -> %q: script %v ends at %d, %d", a, b, ops, i, j)
		}
		if want := lcs(a, b); kept != want {
			t.Fatalf("%q -> %q: script keeps %d items, the longest common subsequence has %d", a, b, kept, want)
		}
	}
}

// TestAlignGivesUpGracefully: two long unrelated sequences are reported
// as deleted and inserted whole instead of exhausting memory.
func TestAlignGivesUpGracefully(t *testing.T) {
	a := make([]string, 5000)
	b := make([]string, 5000)
	for i := range a {
		a[i], b[i] = "a", "b"
	}
	a[0], b[4999] = "same", "same" // one common item the search would need 9998 edits to find
	ops := align(a, b)
	dels, ins := 0, 0
	for _, o := range ops {
		switch o {
		case opDelete:
			dels++
		case opInsert:
			ins++
		}
	}
	if dels != 5000 || ins != 5000 {
		t.Fatalf("%d deletes and %d inserts, want the whole of both", dels, ins)
	}
}
