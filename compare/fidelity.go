package compare

import (
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// setCapture sets what the workload's trailer says of the capture: its
// window and its sessions.
func (f *Fidelity) setCapture(workload string, tr *parse.Summary) {
	f.Workload = workload
	f.CaptureStart, f.CaptureEnd = time.UnixMicro(tr.FirstUS).UTC(), time.UnixMicro(tr.LastUS).UTC()
	f.OriginalSessions, f.PeakSessions = tr.Sessions, tr.PeakSessions
	f.OriginalS = f.CaptureEnd.Sub(f.CaptureStart).Seconds()
}

// replayFidelity sets the replay beside the capture: the shards' clocks,
// the sessions active at once on both sides, and how late statements
// started.
func (c *Comparison) replayFidelity(rs *replays, capt *capture) {
	fid := &c.Fidelity
	var clockWarnings []string
	fid.Clocks, clockWarnings = rs.clocks.judge()
	c.Warnings = append(c.Warnings, clockWarnings...)
	fid.OriginalPeakActive, fid.ReplayPeakActive = capt.spans.peak(), rs.spans.peak()
	if rs.lateness.TotalCount() > 0 {
		fid.LatenessP99MS = float64(rs.lateness.ValueAtQuantile(99)) / 1000
		fid.LatenessMaxMS = float64(rs.lateness.Max()) / 1000
	}
}
