package replay

import "slices"

// quantile returns the q-quantile (0..1) of v, sorting v in place.
func quantile(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(q*float64(len(v)-1) + 0.5)
	return v[min(i, len(v)-1)]
}
