package compare

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// Coverage: compare judges a replay only when its results are of the
// workload it was given and cover all of it, once. A results file names
// its workload (workload_id) and its shard (I/N); compare refuses the
// results of another workload, takes every shard once (replay.PickShards
// says which files those are), counts the statements the workload holds
// (not the ones the results say they ran), and calls a replay that
// covered less INCONCLUSIVE, saying what is missing.

// ErrMismatch is wrapped by Build's errors about results that are not of
// the workload, or that do not belong together: a mistake in what compare
// was given, not in the data.
var ErrMismatch = errors.New("the results do not match")

// coverage is which results files to read, the window they replayed, and
// why they do not cover the workload, if they do not.
type coverage struct {
	use        []string
	window     window
	incomplete []string
	warnings   []string
	// shardsMissing: the results lack whole shards, which is why they
	// hold fewer statements than the workload.
	shardsMissing bool
}

// window counts the workload's statements the replay was to run, as the
// replay's reader picks them: those from begin, until the first event
// after end (µs; 0 is open).
type window struct {
	begin, end int64
	past       bool
	statements int64
}

func (w *window) count(ev *parse.Event) {
	if w.past || ev.Session == nil {
		return
	}
	if w.end != 0 && ev.Time > w.end {
		w.past = true
		return
	}
	if ev.Kind == parse.Statement && ev.Time >= w.begin {
		w.statements++
	}
}

func (w *window) set() bool { return w.begin != 0 || w.end != 0 }

// checkResults reads the results files' headers and checks them against
// the workload's before anything slow is done.
func checkResults(workload string, paths []string) (*coverage, error) {
	wid, err := workloadID(workload)
	if err != nil {
		return nil, err
	}
	cov := &coverage{}
	var files []replay.ShardFile
	for _, p := range paths {
		sf, err := replay.ReadShardFile(p)
		if err != nil {
			return nil, mismatch(err)
		}
		h := sf.Header
		switch {
		case h.WorkloadID != "" && wid != "" && h.WorkloadID != wid:
			return nil, fmt.Errorf("compare: %w: %s is the replay of another workload (workload_id %s), not of %s (workload_id %s): give the results of this workload's replay, or the workload it replayed (its header names %s)",
				ErrMismatch, p, h.WorkloadID, workload, wid, h.Workload)
		case h.WorkloadID == "":
			cov.warnings = append(cov.warnings, fmt.Sprintf("%s has no workload_id (written by an older pgrehearse): it could not be checked to be a replay of %s", p, workload))
		case wid == "":
			cov.warnings = append(cov.warnings, fmt.Sprintf("%s has no workload_id (written by an older pgrehearse): the results could not be checked to be its replay", workload))
		}
		files = append(files, sf)
	}
	if err := cov.pick(files); err != nil {
		return nil, err
	}
	first := files[0]
	if cov.window.begin, err = micros(first.Header.WindowBegin); err != nil {
		return nil, fmt.Errorf("compare: %s: window_begin %q: %w", first.Path, first.Header.WindowBegin, err)
	}
	if cov.window.end, err = micros(first.Header.WindowEnd); err != nil {
		return nil, fmt.Errorf("compare: %s: window_end %q: %w", first.Path, first.Header.WindowEnd, err)
	}
	return cov, nil
}

// mismatch wraps an error of reading results files: ErrMismatch when they
// cannot be the shards of one replay.
func mismatch(err error) error {
	if se := (*replay.ShardsError)(nil); errors.As(err, &se) {
		return fmt.Errorf("compare: %w: %w", ErrMismatch, err)
	}
	return fmt.Errorf("compare: %w", err)
}

// pick keeps every shard once, or the one whole replay (replay.PickShards),
// and says what is missing or given twice: the comparison of such results
// is INCONCLUSIVE. Results that can not be one replay are an error.
func (cov *coverage) pick(files []replay.ShardFile) error {
	set, err := replay.PickShards(files)
	if err != nil {
		return mismatch(err)
	}
	for _, sf := range set.Files {
		cov.use = append(cov.use, sf.Path)
	}
	if files[0].Of == 0 {
		if len(set.Again) > 0 {
			names := []string{set.Files[0].Path}
			for _, r := range set.Again {
				names = append(names, r.File.Path)
			}
			cov.incomplete = append(cov.incomplete, fmt.Sprintf("%d results files of whole replays were given (%s): only %s is counted; give one, or every shard of one replay", len(files), strings.Join(names, ", "), set.Files[0].Path))
		}
		return nil
	}
	for _, r := range set.Again {
		cov.incomplete = append(cov.incomplete, fmt.Sprintf("shard %s was given twice (%s, %s): only the first is counted", r.File.Header.Shard, r.First, r.File.Path))
	}
	if missing := set.Missing; len(missing) > 0 {
		cov.shardsMissing = true
		what := "shard " + missing[0] + " is"
		if len(missing) > 1 {
			what = "shards " + strings.Join(missing, ", ") + " are"
		}
		cov.incomplete = append(cov.incomplete, fmt.Sprintf("%s missing: the sessions of %s were not compared (give every shard's results with --results)", what, plural(len(missing), "that shard", "those shards")))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// workloadID reads the workload's id from its header.
func workloadID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("compare: %w", err)
	}
	defer f.Close()
	r, err := parse.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("compare: workload %s: %w", path, err)
	}
	defer r.Close()
	return r.Header().ID, nil
}

func micros(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMicro(), nil
}

// finish sets the workload's statement count, and says why the results
// fall short of it.
func (cov *coverage) finish(c *Comparison, capt *capture) {
	f := &c.Fidelity
	f.Statements = capt.trailer.Statements
	if cov.window.set() {
		f.Statements = cov.window.statements
	}
	switch {
	case f.ResultStatements < f.Statements && cov.shardsMissing:
		cov.incomplete = append(cov.incomplete, fmt.Sprintf("the shards given hold %d of the workload's %d statements", f.ResultStatements, f.Statements))
	case f.ResultStatements < f.Statements:
		cov.incomplete = append(cov.incomplete, fmt.Sprintf("the results hold %d of the workload's %d statements: the replay did not run to the end", f.ResultStatements, f.Statements))
	case f.ResultStatements > f.Statements:
		cov.incomplete = append(cov.incomplete, fmt.Sprintf("the results hold %d statements, more than the workload's %d: are they of this workload?", f.ResultStatements, f.Statements))
	}
	f.Incomplete = append(cov.incomplete, f.Incomplete...)
	c.Warnings = append(c.Warnings, cov.warnings...)
}

// connectionsVerdict makes the verdict INCONCLUSIVE when the candidate
// refused sessions for max_connections: their statements failed with
// 53300 or ran late, so every gate, failed or passed, measures the
// connection limit as much as the candidate. It reports whether it did.
func (c *Comparison) connectionsVerdict() bool {
	f := &c.Fidelity
	if f.RefusedConnections == 0 {
		return false
	}
	limit := "the target's max_connections was reached"
	if f.TargetMaxConnections > 0 {
		limit = fmt.Sprintf("the target's max_connections is %d", f.TargetMaxConnections)
	}
	v := &c.Verdict
	v.Result = INCONCLUSIVE
	v.Reason = fmt.Sprintf("too many connections (SQLSTATE 53300): %s, the workload peaks at %d concurrent sessions; %d %s refused a connection, so their statements failed or ran late",
		limit, f.PeakSessions, f.RefusedConnections, plural(int(f.RefusedConnections), "session was", "sessions were"))
	v.Next = append(v.Next, fmt.Sprintf("raise max_connections on the candidate above the workload's peak of %d sessions (plus superuser_reserved_connections and a few for the replayer), or replay through the pooler production uses, then replay again", f.PeakSessions))
	var failed []string
	for _, g := range c.Gates {
		if g.Status == Fail {
			failed = append(failed, g.Expr)
		}
	}
	if len(failed) > 0 {
		v.Next = append(v.Next, fmt.Sprintf("the failed gates (%s) count the refused sessions' errors too: judge them on a replay the candidate did not refuse", strings.Join(failed, ", ")))
	}
	return true
}

// coverageVerdict makes the verdict INCONCLUSIVE when the results do not
// cover the whole workload. It reports whether it did.
func (c *Comparison) coverageVerdict() bool {
	f := &c.Fidelity
	if len(f.Incomplete) == 0 {
		return false
	}
	v := &c.Verdict
	v.Result, v.Reason = INCONCLUSIVE, "the results do not cover the whole workload: "+f.Incomplete[0]
	v.Next = append(v.Next, f.Incomplete[1:]...)
	v.Next = append(v.Next, "compare the results of one complete replay: every shard once, or one whole replay")
	return true
}
