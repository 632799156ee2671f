package compare

import "sort"

// spans are sessions' active spans: first statement start to last
// statement end, in µs.
type spans map[uint64][2]int64

func (sp spans) add(id uint64, from, to int64) {
	v, ok := sp[id]
	if !ok {
		sp[id] = [2]int64{from, to}
		return
	}
	sp[id] = [2]int64{min(v[0], from), max(v[1], to)}
}

// peak is the most spans open at one time.
func (sp spans) peak() int64 {
	type edge struct {
		t int64
		d int64
	}
	edges := make([]edge, 0, 2*len(sp))
	for _, v := range sp {
		edges = append(edges, edge{v[0], 1}, edge{v[1], -1})
	}
	// Ends before starts at the same instant: back-to-back is not overlap.
	sort.Slice(edges, func(i, j int) bool {
		return edges[i].t < edges[j].t || edges[i].t == edges[j].t && edges[i].d < edges[j].d
	})
	var n, best int64
	for _, e := range edges {
		n += e.d
		best = max(best, n)
	}
	return best
}
