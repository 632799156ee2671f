package compare

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/replay"
)

// lostTargetResults fabricates the results of a replay whose target went
// away after each session's statement 14: the rest failed for want of a
// connection, 57P01 for the statement the shutdown ended. With blip, a
// statement of session 2 also failed so before, its session then
// reconnected. With since, the replay stopped because the target stayed
// unreachable.
func lostTargetResults(t *testing.T, dir string, blip bool, since time.Time) (wl, res string) {
	t.Helper()
	wl = parseCapture(t, dir)
	res = filepath.Join(dir, "r.jsonl")
	fabricate(t, wl, res, replay.ResultsHeader{Target: "test", Speed: 1}, &replay.Stats{UnreachableSince: since, ConnectFailures: 12}, false, func(r *replay.Result) {
		switch {
		case r.Index == 15 && r.Session == 1:
			r.Err, r.SQLState = errors.New("terminating connection due to administrator command"), "57P01"
		case r.Index >= 15:
			r.Err, r.SQLState = errors.New("no connection for this session"), ""
		case blip && r.Index == 3 && r.Session == 2:
			r.Err, r.SQLState = errors.New("connection reset"), "08006"
		}
	})
	return wl, res
}

// TestLostTargetIsInconclusive: with the default gates, a replay that
// stopped because its target stayed unreachable is INCONCLUSIVE, saying
// since when, with the statements that failed for want of a connection
// counted apart (not as new errors, nor as production errors missing); a
// gate measured across the outage that failed is named, not a NO-GO.
func TestLostTargetIsInconclusive(t *testing.T) {
	since := time.Date(2026, 11, 22, 12, 30, 0, 123e6, time.UTC)
	wl, res := lostTargetResults(t, t.TempDir(), false, since)
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := "the target stayed unreachable since 2026-11-22T12:30:00Z and the replay stopped there: 0 of the workload's 41 statements were not run, and 11 failed for want of a connection after it was lost (counted apart as lost to the outage, not as errors of the candidate)"
	if c.Verdict.Result != INCONCLUSIVE || c.Verdict.Reason != want {
		t.Errorf("verdict %+v, want INCONCLUSIVE: %q", c.Verdict, want)
	}
	e, f := c.Errors, c.Fidelity
	if e.NewN != 0 || e.MissingN != 0 || e.Total != 0 || f.LostToOutage != 11 || f.TargetUnreachableSince != since.Format(time.RFC3339Nano) {
		t.Errorf("new %d, missing %d, total %d, lost %d, since %q", e.NewN, e.MissingN, e.Total, f.LostToOutage, f.TargetUnreachableSince)
	}
	byState := map[string]int64{}
	for _, x := range e.LostToOutage {
		byState[x.SQLState] += x.Count
	}
	if byState["connection"] != 10 || byState["57P01"] != 1 || len(byState) != 2 {
		t.Errorf("lost to the outage: %v", byState)
	}
	// The candidate's latency (1 ms) is over the baseline's (0.25 ms):
	// that gate failed, but over a replay the outage cut short.
	var failed []string
	for _, g := range c.Gates {
		if g.Status == Fail {
			failed = append(failed, g.Expr)
		}
	}
	next := strings.Join(c.Verdict.Next, "\n")
	if len(failed) != 1 || failed[0] != "latency.p99 <= baseline * 1.25" ||
		!strings.Contains(next, "the failed gate (latency.p99 <= baseline * 1.25) measured the replay across the outage") ||
		!strings.Contains(next, "replay the whole workload once it stays up") {
		t.Errorf("failed gates %q, next %q", failed, next)
	}
}

// TestErrorsBeforeTheOutageCount: a statement that failed before the
// outage, its session answered again after, is a new error of the
// candidate, and a failed gate on the errors stays NO-GO with the target
// lost; without a lost target, the failures at the end are new errors
// too.
func TestErrorsBeforeTheOutageCount(t *testing.T) {
	since := time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)
	wl, res := lostTargetResults(t, t.TempDir(), true, since)
	gates := []Gate{mustGate(t, "errors.new == 0"), mustGate(t, "latency.p99 <= baseline * 1.25")}
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Gates: gates, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Verdict.Result != NOGO || c.Verdict.Reason != `gate "errors.new == 0" failed: observed 1, threshold 0` || c.Errors.NewN != 1 || c.Fidelity.LostToOutage != 11 ||
		!strings.Contains(strings.Join(c.Verdict.Next, "\n"), "the target stayed unreachable since 2026-11-22T12:30:00Z") {
		t.Errorf("verdict %+v, %d new errors, %d lost", c.Verdict, c.Errors.NewN, c.Fidelity.LostToOutage)
	}

	wl, res = lostTargetResults(t, t.TempDir(), true, time.Time{})
	c, err = Build(context.Background(), Input{Workload: wl, Results: []string{res}, Gates: gates[:1], Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The blip and the 10 failures at the end of statements that worked
	// in production, and production's one error (22012), which failed
	// otherwise.
	if c.Verdict.Result != NOGO || c.Errors.NewN != 12 || c.Fidelity.LostToOutage != 0 || c.Fidelity.TargetUnreachableSince != "" {
		t.Errorf("without a lost target: verdict %+v, %d new errors, %d lost", c.Verdict, c.Errors.NewN, c.Fidelity.LostToOutage)
	}
}
