//go:build !unix

package procs

import "time"

// CPU is not measured here: it is 0, and Adapt goes by the scheduling
// latencies alone.
func CPU() time.Duration { return 0 }
