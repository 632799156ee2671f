package calibrate

import (
	"fmt"
	"math"
)

// plan works out the shards and cores the whole workload needs at speed 1
// from the fastest step that kept the schedule, and says what limits the
// figures.
func (r *Report) plan() {
	r.warn()
	if r.Best == nil {
		if len(r.Steps) > 0 {
			// Measured all the same: the replayer's cost does not depend
			// on whether the target kept up.
			r.CPUUSPerStatement = r.Steps[0].CPUUSPerStatement
		}
		r.Note = r.noBest()
		return
	}
	r.SustainedPerS = r.Best.StatementsPerS
	r.CPUUSPerStatement = r.Best.CPUUSPerStatement
	r.AtLeast = r.Limit == "none"
	if r.SustainedPerS <= 0 || r.PeakPerS <= 0 {
		r.Note = "no statement rate was measured"
		return
	}
	r.Shards = max(1, int(math.Ceil(float64(r.PeakPerS)/r.SustainedPerS)))
	r.CoresPerShard = Cores(r.CPUUSPerStatement, float64(r.PeakPerS)/float64(r.Shards))
	switch r.Limit {
	case "none":
		r.Note = fmt.Sprintf("every speed kept the schedule, up to %g: one process sustains at least %.0f statements/s against this target", r.Best.Speed, r.SustainedPerS)
	case "target", "lock":
		r.Note = fmt.Sprintf("at speed %g the target held the replay back (%s): the rate is the target's limit as much as the replayer's, and more shards will not raise it", r.Steps[len(r.Steps)-1].Speed, r.Limit)
	default:
		r.Note = fmt.Sprintf("at speed %g the replayer fell behind: %.0f statements/s is what one process on %d cores sustains", r.Steps[len(r.Steps)-1].Speed, r.SustainedPerS, r.Cores)
	}
}

func (r *Report) noBest() string {
	if len(r.Steps) == 0 {
		return "no step ran"
	}
	s := r.Steps[0]
	if s.Bottleneck == "target" || s.Bottleneck == "lock" {
		return fmt.Sprintf("even at speed 1 the target did not keep up (lateness p99 %.0f ms, %s): the candidate cannot take this workload's busiest stretch; more replayers will not help", s.LatenessP99MS, s.Bottleneck)
	}
	if s.CPUCores < Headroom*float64(r.Cores) {
		return fmt.Sprintf("even at speed 1 the replayer sent statements late (lateness p99 %.0f ms) though it kept only %.1f of this machine's %d cores busy: other processes here (the target, if it runs on this machine) took the CPU it needed; calibrate from a machine of its own", s.LatenessP99MS, s.CPUCores, r.Cores)
	}
	n := Cores(s.CPUUSPerStatement, s.ScheduledPerS)
	return fmt.Sprintf("even at speed 1 the replayer fell behind (lateness p99 %.0f ms, %.1f cores busy): shard the workload (--shard) over machines with at least %d %s each", s.LatenessP99MS, s.CPUCores, n, plural(n, "core"))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// Cores is how many cores a replayer needs for rate statements per second
// at cpuUS of CPU each, busy no more than Headroom of the time.
func Cores(cpuUS, rate float64) int {
	return max(1, int(math.Ceil(cpuUS*rate/1e6/Headroom)))
}

// ErrorShare is the share of failed statements past which a step does
// not measure the workload.
const ErrorShare = 0.05

// warn says when steps mostly failed: a target without the captured
// database's roles, databases or tables fails statements fast (or not
// at all connects), and the figures then describe failures.
func (r *Report) warn() {
	for _, s := range r.Steps {
		switch {
		case s.ConnectErrors > 0:
			r.Warnings = append(r.Warnings, fmt.Sprintf("at speed %g, %d sessions could not connect: the target lacks the workload's roles or databases (calibrate against a clone of the captured cluster)", s.Speed, s.ConnectErrors))
		case s.Statements > 0 && float64(s.Errors) > ErrorShare*float64(s.Statements):
			r.Warnings = append(r.Warnings, fmt.Sprintf("at speed %g, %d of %d statements failed: the target is not a copy of the captured database (its tables or data differ), and the figures measure failures", s.Speed, s.Errors, s.Statements))
		default:
			continue
		}
		return
	}
}
