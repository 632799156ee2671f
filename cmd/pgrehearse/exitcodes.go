package main

import "github.com/pgrehearse/pgrehearse/compare"

// Exit codes. The README's table is this one; keep them in step.
//
//	0   success; for compare and run: GO
//	1   runtime error (I/O, a damaged input, a target lost for --unreachable-after)
//	2   usage or configuration error (bad flag, unreadable log format, a
//	    transaction pooler without --unnamed, results of another workload)
//	3   a launch gate failed: NO-GO
//	4   inconclusive: a gate could not be evaluated, or the replay fell
//	    behind, was interrupted, refused connections, lost its target
//	    (--unreachable-after), or does not cover the workload
//	130 interrupted (Ctrl-C, SIGTERM)
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitNoGo         = 3
	exitInconclusive = 4
	exitInterrupted  = 130
)

// exitFor is the exit code of a verdict.
func exitFor(r compare.Result) int {
	switch r {
	case compare.NOGO:
		return exitNoGo
	case compare.INCONCLUSIVE:
		return exitInconclusive
	}
	return exitOK
}
