package drivers

// op is one step of an edit script from a to b.
type op uint8

const (
	opEqual  op = iota // a[i] == b[j]
	opDelete           // a[i] is not in b
	opInsert           // b[j] is not in a
)

// maxEdits bounds the Myers search: past it the middle of the two
// sequences is reported as deleted and inserted whole, which keeps memory
// flat when a replay went completely wrong.
const maxEdits = 2000

// align returns a shortest edit script turning a into b (Myers' O(ND)
// algorithm after stripping the common prefix and suffix).
func align(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := make([]op, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		ops = append(ops, opEqual)
	}
	ops = append(ops, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for i := 0; i < suf; i++ {
		ops = append(ops, opEqual)
	}
	return ops
}

func myers(a, b []string) []op {
	n, m := len(a), len(b)
	if n == 0 || m == 0 || n+m > 64*maxEdits {
		return wholesale(n, m)
	}
	off := n + m
	v := make([]int, 2*(n+m)+2)
	var trace [][]int
	for d := 0; d <= n+m; d++ {
		if d > maxEdits {
			return wholesale(n, m)
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insert
			} else {
				x = v[off+k-1] + 1 // right: a delete
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m, d)
			}
		}
	}
	return wholesale(n, m)
}

// backtrack walks the saved frontiers from (n, m) back to (0, 0). trace[d]
// holds v[-d .. d+1] as it was before step d.
func backtrack(trace [][]int, n, m, d int) []op {
	var rev []op
	x, y := n, m
	for ; d > 0; d-- {
		prev := trace[d]
		at := func(k int) int { return prev[k+d] } // v[k] before step d
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, opEqual)
			x, y = x-1, y-1
		}
		if pk == k+1 {
			rev = append(rev, opInsert)
		} else {
			rev = append(rev, opDelete)
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		rev = append(rev, opEqual)
		x, y = x-1, y-1
	}
	ops := make([]op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

func wholesale(n, m int) []op {
	ops := make([]op, 0, n+m)
	for i := 0; i < n; i++ {
		ops = append(ops, opDelete)
	}
	for j := 0; j < m; j++ {
		ops = append(ops, opInsert)
	}
	return ops
}
