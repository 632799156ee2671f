package compare

import (
	"math"
	"strconv"
	"strings"
)

// fmtp formats a gate's observed value or threshold for a verdict's
// reason: a count as an integer (96690, never 9.669e+04), other values
// with two decimals, small ones with four.
func fmtp(p *float64) string {
	if p == nil {
		return "n/a"
	}
	v := *p
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	s := strings.TrimRight(strconv.FormatFloat(v, 'f', 4, 64), "0")
	return strings.TrimSuffix(s, ".")
}
