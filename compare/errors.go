package compare

import (
	"context"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/replay"
)

// Errors: each result is set beside what production did at the same
// statement, which compare reads from the workload (late news included):
// a statement that failed here but not there is new, one that failed
// there but not here is missing, and both are divergences.
//
// A replay that stopped because the target stayed unreachable ends, in
// each session, with statements that failed for want of a connection
// (replay.LostConnection: none could be made, it broke, the server shut
// down). Those after the session's last answer from the target are lost
// to the outage: counted apart, never as the candidate's errors. A
// session's failures of that kind are held until the file says which
// they are: a later answer in the session makes them errors like any
// other, and so does a replay that did not stop for the target.

type errorKey struct{ state, fp, reason string }

// errorTally counts results' errors against production's.
type errorTally struct {
	newErrs, both, missing map[errorKey]int64
	reproduced, standIns   int64
	// With ShowParams: the first failing statement of each new error.
	showParams bool
	examples   map[errorKey]*Example
	wanted     map[stmtKey]*Example
	// pending holds each session's failures for want of a connection
	// since its last answer, in the file being read; lost counts those
	// lost to the outage that stopped a replay.
	pending map[uint64][]pendingResult
	lost    map[errorKey]int64
}

// pendingResult is a result line held back, with production's SQLSTATE.
type pendingResult struct {
	l    replay.ResultLine
	prod string
}

func newErrorTally(showParams bool) *errorTally {
	return &errorTally{newErrs: map[errorKey]int64{}, both: map[errorKey]int64{}, missing: map[errorKey]int64{},
		showParams: showParams, examples: map[errorKey]*Example{}, wanted: map[stmtKey]*Example{},
		pending: map[uint64][]pendingResult{}, lost: map[errorKey]int64{}}
}

// add takes one result line of session sess (unique across the files);
// prod is production's SQLSTATE there.
func (t *errorTally) add(l *replay.ResultLine, prod string, sess uint64) {
	switch {
	case l.Skipped != "":
		// Not sent: it says nothing of the connection.
	case replay.LostConnection(l.SQLState):
		t.pending[sess] = append(t.pending[sess], pendingResult{*l, prod})
		return
	default:
		// The target answered the session: what failed before was not
		// the outage that ended the replay.
		t.settle(sess)
	}
	t.count(l, prod)
}

// settle counts a session's held failures as errors.
func (t *errorTally) settle(sess uint64) {
	for i := range t.pending[sess] {
		p := &t.pending[sess][i]
		t.count(&p.l, p.prod)
	}
	delete(t.pending, sess)
}

// endFile decides the failures still held at the end of results file
// number file (its index in the top 16 bits of the sessions it holds):
// lost to the outage when the replay stopped because the target stayed
// unreachable, errors otherwise. It returns how many were lost.
func (t *errorTally) endFile(file int, targetLost bool) int64 {
	var n int64
	for sess, ps := range t.pending {
		if sess>>48 != uint64(file) {
			// Another file's session.
			continue
		}
		if !targetLost {
			t.settle(sess)
			continue
		}
		for _, p := range ps {
			t.lost[errorKey{p.l.SQLState, p.l.FP, ""}]++
			n++
		}
		delete(t.pending, sess)
	}
	return n
}

// count counts one result line; prod is production's SQLSTATE there.
func (t *errorTally) count(l *replay.ResultLine, prod string) {
	got := l.SQLState
	sent := l.Skipped == ""
	switch replay.MatchError(prod, got, sent) {
	case replay.Reproduced:
		t.both[errorKey{got, l.FP, ""}]++
		t.reproduced++
		if l.StandIn {
			t.standIns++
		}
	case replay.New, replay.Changed:
		k := errorKey{got, l.FP, ""}
		t.newErrs[k]++
		if t.showParams && t.examples[k] == nil {
			ex := &Example{Session: l.Session, Index: l.Index}
			t.examples[k] = ex
			t.wanted[stmtKey{l.Session, int32(l.Index), l.EventKind() == parse.Error}] = ex
		}
	}
	if reason := replay.MissingReason(prod, got, l.Skipped); reason != "" {
		t.missing[errorKey{prod, l.FP, reason}]++
	}
}

// compareErrors sets the replay's errors beside production's: those of
// the tally, and production's errors outside any session.
func (c *Comparison) compareErrors(ctx context.Context, t *errorTally, capt *capture, queries queryTable, workload string) error {
	if err := t.fill(ctx, c, queries, workload); err != nil {
		return err
	}
	c.Errors.Outside = capt.outside
	return nil
}

// fill writes the errors into the comparison, with query texts.
func (t *errorTally) fill(ctx context.Context, c *Comparison, queries queryTable, workload string) error {
	list := func(m map[errorKey]int64) []ErrorCount {
		var out []ErrorCount
		for k, n := range m {
			e := ErrorCount{SQLState: k.state, Fingerprint: k.fp, Count: n, Reason: k.reason}
			if id, err := fingerprint.ParseID(k.fp); err == nil && queries[id] != nil {
				e.Query = queries[id].text
			}
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			return a.Count > b.Count || a.Count == b.Count && (a.Fingerprint < b.Fingerprint || a.Fingerprint == b.Fingerprint && a.SQLState+a.Reason < b.SQLState+b.Reason)
		})
		return out
	}
	e := &c.Errors
	e.New, e.Both, e.Missing, e.LostToOutage = list(t.newErrs), list(t.both), list(t.missing), list(t.lost)
	e.Reproduced, e.StandIns = t.reproduced, t.standIns
	if len(t.wanted) > 0 {
		if err := fillExamples(ctx, workload, t.wanted); err != nil {
			return err
		}
		for i := range e.New {
			n := &e.New[i]
			n.Example = t.examples[errorKey{n.SQLState, n.Fingerprint, ""}]
		}
	}
	e.NewN, e.MissingN = 0, 0
	for _, x := range e.New {
		e.NewN += x.Count
	}
	for _, x := range e.Missing {
		e.MissingN += x.Count
	}
	e.Total = e.NewN
	for _, x := range e.Both {
		e.Total += x.Count
	}
	return nil
}

// fillExamples reads the workload again for the statements wanted, by
// session and index, and fills in their text and parameters.
func fillExamples(ctx context.Context, path string, wanted map[stmtKey]*Example) error {
	left := len(wanted)
	return eachEvent(ctx, path, func(ev *parse.Event) bool {
		if ev.Session == nil || ev.Kind != parse.Statement && ev.Kind != parse.Error {
			return true
		}
		ex := wanted[stmtKey{ev.Session.ID, int32(ev.Index), ev.Kind == parse.Error}]
		if ex == nil {
			return true
		}
		// Values as production sent them, but never a password.
		ex.Text = fingerprint.MaskPasswords(ev.Text)
		for _, p := range ev.Params {
			if p.Null {
				ex.Params = append(ex.Params, "NULL")
			} else {
				ex.Params = append(ex.Params, "'"+strings.ReplaceAll(p.Value, "'", "''")+"'")
			}
		}
		left--
		return left > 0
	})
}
