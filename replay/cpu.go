package replay

import (
	"time"

	"github.com/pgrehearse/pgrehearse/internal/procs"
)

// ProcessCPU is the CPU time this process has used so far, user and
// system (0 where the system does not say), for callers that measure
// the replayer's cost over part of a run.
func ProcessCPU() time.Duration { return procs.CPU() }
