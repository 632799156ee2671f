package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// TestResultsMustCoverTheWorkload: compare judges only results of its
// workload, every shard once: a missing or doubled shard is INCONCLUSIVE
// and names it, results of another workload or shards that are not of
// one replay are refused, and the statements counted are the workload's.
func TestResultsMustCoverTheWorkload(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	dsn := pgtest.DSN(t)
	s0 := replayShard(t, wl, dsn, filepath.Join(dir, "s0.jsonl"), 0, 2)
	s1 := replayShard(t, wl, dsn, filepath.Join(dir, "s1.jsonl"), 1, 2)
	t0 := replayShard(t, wl, dsn, filepath.Join(dir, "t0.jsonl"), 0, 3)
	whole := replayShard(t, wl, dsn, filepath.Join(dir, "whole.jsonl"), 0, 0)
	other := filepath.Join(t.TempDir(), "other.pgrw")
	os.Rename(parseCapture(t, filepath.Dir(other)), other)
	otherRes := replayShard(t, other, dsn, filepath.Join(dir, "other.jsonl"), 0, 0)
	passing := []Gate{mustGate(t, "replay.lateness.p99 < 10s")}
	build := func(results ...string) (*Comparison, error) {
		return Build(context.Background(), Input{Workload: wl, Results: results, Gates: passing, Warmup: -1})
	}

	for _, tc := range []struct {
		name    string
		results []string
		reason  string
	}{
		{"one shard of two", []string{s0}, "shard 1/2 is missing"},
		{"the same shard twice", []string{s0, s0}, "shard 0/2 was given twice (" + s0 + ", " + s0 + ")"},
		{"a whole replay twice", []string{whole, whole}, "2 results files of whole replays were given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := build(tc.results...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Verdict.Result != INCONCLUSIVE || !strings.Contains(c.Verdict.Reason+strings.Join(c.Verdict.Next, "\n"), tc.reason) {
				t.Errorf("verdict %+v, want INCONCLUSIVE saying %q", c.Verdict, tc.reason)
			}
			// A missing shard is not a replay that stopped early.
			if inc := strings.Join(c.Fidelity.Incomplete, "\n"); strings.Contains(inc, "did not run to the end") {
				t.Errorf("incomplete says the replay stopped early: %s", inc)
			}
			// The statements are the workload's, and a shard given twice
			// is counted once.
			if f := c.Fidelity; f.Statements != 41 || f.ResultStatements > 41 || f.Replayed > 41 {
				t.Errorf("statements %d, in the results %d, replayed %d", f.Statements, f.ResultStatements, f.Replayed)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		results []string
		want    []string
	}{
		{"another workload", []string{otherRes}, []string{otherRes, "another workload", other, wl}},
		{"a whole replay and a shard", []string{whole, s1}, []string{whole, s1, "whole replay"}},
		{"shards of two splits", []string{s0, t0}, []string{"0/2", "0/3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(tc.results...)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("err %v, want ErrMismatch", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not say %q", err, w)
				}
			}
		})
	}
	ids := func(path string) string {
		rr, f, err := replay.OpenResults(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return rr.Header().WorkloadID
	}
	if _, err := build(otherRes); err == nil || !strings.Contains(err.Error(), ids(otherRes)) || !strings.Contains(err.Error(), ids(whole)) {
		t.Errorf("the error does not give both ids: %v", err)
	}

	// Every shard once: compared as one replay, and GO.
	c, err := build(s1, s0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Verdict.Result != GO || c.Fidelity.ResultStatements != 41 || c.Fidelity.Statements != 41 || len(c.Fidelity.Incomplete) != 0 {
		t.Errorf("both shards: %+v, fidelity %+v", c.Verdict, c.Fidelity)
	}

	// Results of an older version, without a workload id: compared, with
	// a warning.
	old := rewriteHeader(t, whole, filepath.Join(dir, "old.jsonl"), func(h map[string]any) { delete(h, "workload_id") })
	c, err = build(old)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), old+" has no workload_id") || c.Verdict.Result != GO {
		t.Errorf("results without an id: %+v, warnings %q", c.Verdict, c.Warnings)
	}
}

// rewriteHeader copies a results file with its header changed by edit.
func rewriteHeader(t *testing.T, from, to string, edit func(map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(raw), "\n")
	var v map[string]map[string]any
	if err := json.Unmarshal([]byte(first), &v); err != nil {
		t.Fatal(err)
	}
	edit(v["header"])
	b, _ := json.Marshal(v)
	if err := os.WriteFile(to, append(append(b, '\n'), rest...), 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestReplayOfATruncatedWorkload: a replay that could not read its
// workload to the end says so in its results, and compare, given the
// whole workload, counts its statements against the workload's and calls
// it INCONCLUSIVE.
func TestReplayOfATruncatedWorkload(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Uncompressed, so that a cut file reads up to the cut.
	wl := filepath.Join(dir, "capture.pgrw")
	f, err := os.Create(wl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse.Run(ctx, []string{captureLog(t, dir)}, f, parse.Options{Prefix: "%m [%p] %c %e ", Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	raw, err := os.ReadFile(wl)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pgrw")
	os.WriteFile(cut, raw[:len(raw)*3/4], 0o600)
	cfg, err := pgconn.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := parse.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(dir, "results.jsonl")
	out, err := os.Create(res)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := replay.NewResultsWriter(out, replay.ResultsHeader{Target: "test", Speed: 1, WorkloadID: r.Header().ID, Started: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	st, runErr := replay.Run(ctx, r, &replay.PGExecutor{Config: cfg}, replay.Options{Speed: 4}, rw.Add)
	if !errors.Is(runErr, parse.ErrTruncated) {
		t.Fatalf("replay of a cut workload: %v", runErr)
	}
	sum, err := rw.Close(st, false)
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	if sum.WorkloadError == "" || sum.Statements >= 41 {
		t.Fatalf("summary: workload error %q, %d statements", sum.WorkloadError, sum.Statements)
	}
	c, err := Build(ctx, Input{Workload: wl, Results: []string{res}, Gates: []Gate{mustGate(t, "errors.missing >= 0")}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	fid := c.Fidelity
	want := fmt.Sprintf("the results hold %d of the workload's 41 statements", sum.Statements)
	if fid.Statements != 41 || fid.ResultStatements != sum.Statements || c.Verdict.Result != INCONCLUSIVE ||
		!strings.Contains(strings.Join(fid.Incomplete, "\n"), "could not read its workload to the end") || !strings.Contains(strings.Join(fid.Incomplete, "\n"), want) {
		t.Errorf("verdict %+v, fidelity statements %d of %d, incomplete %q", c.Verdict, fid.ResultStatements, fid.Statements, fid.Incomplete)
	}
}

// fabricate writes a results file for the workload's statements, as a
// replay that ran them all would, with each result changed by edit.
func fabricate(t *testing.T, wl, path string, h replay.ResultsHeader, st *replay.Stats, interrupted bool, edit func(*replay.Result)) {
	t.Helper()
	in, err := os.Open(wl)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := parse.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	h.WorkloadID, h.Started = r.Header().ID, time.Now().UTC().Format(time.RFC3339Nano)
	rw, err := replay.NewResultsWriter(out, h)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sessions := map[uint64]bool{}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != parse.Statement {
			continue
		}
		sessions[ev.Session.ID] = true
		res := &replay.Result{Session: ev.Session.ID, Kind: ev.Kind, Index: ev.Index, Scheduled: now, Started: now, Latency: time.Millisecond, Fingerprint: ev.Fingerprint}
		if ev.Err != nil {
			res.Production, res.SQLState, res.Err = ev.Err.SQLState, ev.Err.SQLState, errors.New(ev.Err.Message)
		}
		edit(res)
		rw.Add(res)
	}
	st.Sessions, st.Started, st.Finished = len(sessions), now, now.Add(time.Second)
	if _, err := rw.Close(st, interrupted); err != nil {
		t.Fatal(err)
	}
}

// TestInterruptedStatementsAreNotErrors: statements the grace period after
// Ctrl-C cancelled are interruptions: no new error, and the verdict is
// INCONCLUSIVE, not NO-GO.
func TestInterruptedStatementsAreNotErrors(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	res := filepath.Join(dir, "r.jsonl")
	n := 0
	fabricate(t, wl, res, replay.ResultsHeader{Target: "test", Speed: 1}, &replay.Stats{}, true, func(r *replay.Result) {
		if r.Production == "" && n < 3 {
			n++
			r.Err, r.SQLState, r.Interrupted = context.Canceled, "57014", true
		}
	})
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Gates: []Gate{mustGate(t, "errors.new == 0")}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Errors.NewN != 0 || c.Fidelity.InterruptedStatements != 3 || c.Verdict.Result != INCONCLUSIVE || !strings.Contains(c.Verdict.Reason, "interrupted") {
		t.Errorf("new errors %d, interrupted %d, verdict %+v", c.Errors.NewN, c.Fidelity.InterruptedStatements, c.Verdict)
	}
}

// TestRefusedConnectionsAreInconclusive: when the candidate refused
// sessions for max_connections, the verdict is INCONCLUSIVE with that
// reason, even though the refused statements' 53300 errors fail a gate.
func TestRefusedConnectionsAreInconclusive(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	res := filepath.Join(dir, "r.jsonl")
	fabricate(t, wl, res, replay.ResultsHeader{Target: "test", Speed: 1, MaxConnections: 10}, &replay.Stats{RefusedConnections: 1, PeakConnections: 10}, false, func(r *replay.Result) {
		if r.Session == 2 && r.Production == "" {
			r.Err, r.SQLState = errors.New("no connection for this session"), "53300"
		}
	})
	c, err := Build(context.Background(), Input{Workload: wl, Results: []string{res}, Gates: []Gate{mustGate(t, "errors.new == 0")}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := "too many connections (SQLSTATE 53300): the target's max_connections is 10, the workload peaks at 2 concurrent sessions; 1 session was refused"
	if c.Verdict.Result != INCONCLUSIVE || !strings.Contains(c.Verdict.Reason, want) || c.Fidelity.RefusedConnections != 1 {
		t.Errorf("verdict %+v, want INCONCLUSIVE: %q", c.Verdict, want)
	}
	if len(c.Gates) != 1 || c.Gates[0].Status != Fail || !strings.Contains(strings.Join(c.Verdict.Next, "\n"), "errors.new == 0") {
		t.Errorf("gates %+v, next %q", c.Gates, c.Verdict.Next)
	}
}

// TestWindowedReplayCoversItsWindow: a replay of a --begin/--end window
// is compared against the statements of that window, not of the whole
// workload.
func TestWindowedReplayCoversItsWindow(t *testing.T) {
	dir := t.TempDir()
	wl := parseCapture(t, dir)
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(wl)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := parse.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	begin, end := base.Add(200*time.Millisecond), base.Add(600*time.Millisecond)
	res := filepath.Join(dir, "w.jsonl")
	out, err := os.Create(res)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := replay.NewResultsWriter(out, replay.ResultsHeader{Target: "test", Speed: 1, WorkloadID: r.Header().ID, Started: time.Now().UTC().Format(time.RFC3339Nano),
		WindowBegin: begin.Format(time.RFC3339Nano), WindowEnd: end.Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := replay.Run(ctx, r, &replay.PGExecutor{Config: cfg}, replay.Options{Speed: 2, Begin: begin, End: end}, rw.Add)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := rw.Close(st, false)
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	c, err := Build(ctx, Input{Workload: wl, Results: []string{res}, Gates: []Gate{mustGate(t, "replay.lateness.p99 < 10s")}, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Statements at 220 ms to 580 ms of both sessions: 10 and 10.
	if f := c.Fidelity; f.Statements != 20 || f.ResultStatements != sum.Statements || len(f.Incomplete) != 0 || c.Verdict.Result != GO {
		t.Errorf("window: %d of %d statements, incomplete %q, verdict %+v", f.ResultStatements, f.Statements, f.Incomplete, c.Verdict)
	}
}
