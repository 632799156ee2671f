package replay

import (
	"fmt"
	"net/http"
	"time"
)

// Monitor reports a running replay: a one-line progress view for a
// terminal, and the same figures in the Prometheus text format for long
// runs watched from elsewhere.
type Monitor struct {
	Results *ResultsWriter
	Live    *Live
	Speed   float64
	Started time.Time
}

// Line returns the progress line: elapsed time against workload time,
// statements per second, open sessions, lateness p99 and errors.
func (m *Monitor) Line() string {
	n, errs, newErrs, p99 := m.Results.Snapshot()
	el := time.Since(m.Started)
	wl := time.Duration(m.Live.WorkloadUS.Load()) * time.Microsecond
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	return fmt.Sprintf("elapsed %s  workload %s (×%g)  %d statements  %.0f/s  %d sessions open  lateness p99 %.1f ms  errors %d (%d new)",
		el.Round(time.Second), wl.Round(time.Second), m.Speed, n, rate, m.Live.OpenSessions.Load(), p99, errs, newErrs)
}

// ServeHTTP writes the figures in the Prometheus text exposition format.
func (m *Monitor) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n, errs, newErrs, p99 := m.Results.Snapshot()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	metrics := []struct {
		name, help, kind string
		v                float64
	}{
		{"pgrehearse_replay_statements_total", "Statements run or skipped so far.", "counter", float64(n)},
		{"pgrehearse_replay_errors_total", "Statements that failed on the target.", "counter", float64(errs)},
		{"pgrehearse_replay_new_errors_total", "Statements that failed on the target but not in production.", "counter", float64(newErrs)},
		{"pgrehearse_replay_sessions_open", "Sessions with an open connection.", "gauge", float64(m.Live.OpenSessions.Load())},
		{"pgrehearse_replay_lateness_p99_seconds", "99th percentile of how late statements started.", "gauge", p99 / 1000},
		{"pgrehearse_replay_workload_seconds", "How far into the original workload the replay is.", "gauge", float64(m.Live.WorkloadUS.Load()) / 1e6},
		{"pgrehearse_replay_elapsed_seconds", "Wall time since the replay started.", "gauge", time.Since(m.Started).Seconds()},
	}
	for _, x := range metrics {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", x.name, x.help, x.name, x.kind, x.name, x.v)
	}
}
