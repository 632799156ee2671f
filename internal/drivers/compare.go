package drivers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse"
)

// CompareLogs reads a capture log and the target's log after a replay and
// compares them session by session.
func CompareLogs(ctx context.Context, capture, target []string) (*Diff, error) {
	c, err := ReadLog(ctx, capture)
	if err != nil {
		return nil, fmt.Errorf("capture log: %w", err)
	}
	t, err := ReadLog(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("target log: %w", err)
	}
	return Compare(c, t), nil
}

// Compare matches the sessions of the capture and the target by
// application_name, user, database and the order of their first
// statements (replay connects with the original three), and compares
// each pair: statements in order, protocol, names, parameters, errors
// with their SQLSTATE, and how often the target prepared each named
// statement.
func Compare(capture, target *Log) *Diff {
	// The replayer's own connections (its monitor, the probes that learn
	// parameter types) are not the workload's.
	var own []*Session
	for _, s := range target.Sessions {
		if !strings.HasPrefix(s.Application, "pgrehearse-") {
			own = append(own, s)
		}
	}
	target = &Log{Paths: target.Paths, Summary: target.Summary, PreparesKnown: target.PreparesKnown, Sessions: own}
	d := &Diff{CaptureSessions: len(capture.Sessions), TargetSessions: len(target.Sessions),
		CaptureStatements: capture.Statements(), TargetStatements: target.Statements()}
	for _, s := range capture.Sessions {
		for _, it := range s.Items {
			if it.Err != nil {
				d.ProductionErrors++
			}
		}
	}
	tgroups := groups(target.Sessions)
	for key, cs := range groups(capture.Sessions) {
		ts := tgroups[key]
		delete(tgroups, key)
		pairs := matchSessions(cs, ts)
		for i, c := range cs {
			if j, ok := pairs[i]; ok {
				d.compareSessions(c.label(i), c, ts[j], capture.PreparesKnown)
				continue
			}
			d.add(Finding{Kind: SessionNotReplayed, Session: c.label(i), CaptureIndex: -1, TargetIndex: -1,
				Capture: fmt.Sprintf("session %s with %s", c.Key, plural(len(c.Items), "statement"))})
			d.missingItems(c.label(i), c.Items)
		}
		matched := map[int]bool{}
		for _, j := range pairs {
			matched[j] = true
		}
		for j, t := range ts {
			if !matched[j] {
				d.add(Finding{Kind: ExtraSession, Session: t.label(j), CaptureIndex: -1, TargetIndex: -1,
					Target: fmt.Sprintf("session %s with %s", t.Key, plural(len(t.Items), "statement"))})
			}
		}
	}
	for _, ts := range tgroups {
		for j, t := range ts {
			d.add(Finding{Kind: ExtraSession, Session: t.label(j), CaptureIndex: -1, TargetIndex: -1,
				Target: fmt.Sprintf("session %s with %s", t.Key, plural(len(t.Items), "statement"))})
		}
	}
	d.sort()
	return d
}

// groups splits sessions by (application_name, user, database), each group
// in the order of first statements.
func groups(sessions []*Session) map[string][]*Session {
	m := map[string][]*Session{}
	for _, s := range sessions {
		k := s.Application + "\x00" + s.User + "\x00" + s.Database
		m[k] = append(m[k], s)
	}
	for _, g := range m {
		sort.SliceStable(g, func(i, j int) bool { return g[i].First < g[j].First })
	}
	return m
}

// tieWindow is how close two sessions' first statements may be for their
// order to be a matter of scheduling jitter rather than of the workload.
const tieWindow = 50_000 // µs

// matchSessions pairs capture sessions with target sessions of one group
// by rank. Sessions that started within tieWindow of each other (four
// sysbench threads) may swap places on replay: within such a run, each
// capture session takes, among the target sessions of the same ranks, the
// one whose statements agree with its own the longest.
func matchSessions(cs, ts []*Session) map[int]int {
	pairs := map[int]int{}
	used := make([]bool, len(ts))
	next := 0 // first target rank not yet handed out
	for lo := 0; lo < len(cs); {
		hi := lo + 1
		for hi < len(cs) && cs[hi].First-cs[hi-1].First < tieWindow {
			hi++
		}
		var cand []int
		for ; next < len(ts) && len(cand) < hi-lo; next++ {
			cand = append(cand, next)
		}
		for i := lo; i < hi; i++ {
			best, bestScore := -1, -1
			for _, j := range cand {
				if used[j] {
					continue
				}
				if sc := agreement(cs[i], ts[j]); sc > bestScore {
					best, bestScore = j, sc
				}
			}
			if best >= 0 {
				pairs[i], used[best] = best, true
			}
		}
		lo = hi
	}
	return pairs
}

// agreement is how many leading items of two sessions have the same text
// and parameters, up to a point.
func agreement(a, b *Session) int {
	n := 0
	for n < len(a.Items) && n < len(b.Items) && n < 64 {
		x, y := a.Items[n], b.Items[n]
		if x.Text != y.Text || !sameParams(x.Params, y.Params) {
			break
		}
		n++
	}
	return n
}

func sameParams(a, b []parse.Param) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itemKey(it Item) string {
	if it.Error {
		// By fingerprint, so that a stand-in lines up with the statement
		// whose error it raises.
		return "E\x00" + it.FP.String()
	}
	return "S\x00" + it.Text
}

func (d *Diff) compareSessions(label string, c, t *Session, capturePrepares bool) {
	a := make([]string, len(c.Items))
	for i, it := range c.Items {
		a[i] = itemKey(it)
	}
	b := make([]string, len(t.Items))
	for j, it := range t.Items {
		b[j] = itemKey(it)
	}
	i, j := 0, 0
	var dels, ins []int
	flush := func() {
		d.unaligned(label, c, t, dels, ins)
		dels, ins = dels[:0], ins[:0]
	}
	for _, o := range align(a, b) {
		switch o {
		case opEqual:
			flush()
			d.compareItems(label, i, j, c.Items[i], t.Items[j])
			i, j = i+1, j+1
		case opDelete:
			dels = append(dels, i)
			i++
		case opInsert:
			ins = append(ins, j)
			j++
		}
	}
	flush()
	d.comparePrepares(label, c, t, capturePrepares)
}

// unaligned reports a run of capture items the target lacks and target
// items the capture lacks. A statement the target only has as an error of
// the same text failed at Parse or Bind there: it is missing, and its
// error is new. Other statements on both sides pair up as text
// mismatches; the rest are missing or extra.
func (d *Diff) unaligned(label string, c, t *Session, dels, ins []int) {
	failed := map[string][]int{} // text -> target error items
	var ts []int
	for _, j := range ins {
		if it := t.Items[j]; it.Error {
			failed[it.Text] = append(failed[it.Text], j)
		} else {
			ts = append(ts, j)
		}
	}
	var cs []int
	for _, i := range dels {
		it := c.Items[i]
		if it.Error {
			d.add(Finding{Kind: ErrorNotReproduced, Session: label, CaptureIndex: i, TargetIndex: -1, CaptureLine: it.Line,
				Capture: describeError(it), Target: "nothing: no such error on the target"})
			continue
		}
		if js := failed[it.Text]; len(js) > 0 {
			j := js[0]
			failed[it.Text] = js[1:]
			d.failedOnTarget(label, i, j, it, t.Items[j])
			continue
		}
		cs = append(cs, i)
	}
	for _, j := range ins {
		if it := t.Items[j]; it.Error && contains(failed[it.Text], j) {
			d.add(Finding{Kind: NewError, Session: label, CaptureIndex: -1, TargetIndex: j, TargetLine: it.Line,
				Capture: "no such error in production", Target: describeError(it)})
		}
	}
	for len(cs) > 0 && len(ts) > 0 {
		i, j := cs[0], ts[0]
		ci, ti := c.Items[i], t.Items[j]
		d.add(Finding{Kind: TextMismatch, Session: label, CaptureIndex: i, TargetIndex: j, CaptureLine: ci.Line, TargetLine: ti.Line,
			Capture: describe(ci), Target: describe(ti)})
		d.compareErrors(label, i, j, ci, ti)
		cs, ts = cs[1:], ts[1:]
	}
	for _, i := range cs {
		it := c.Items[i]
		d.add(Finding{Kind: MissingStatement, Session: label, CaptureIndex: i, TargetIndex: -1, CaptureLine: it.Line,
			Capture: describe(it), Target: "not run"})
		if it.Err != nil {
			d.add(Finding{Kind: ErrorNotReproduced, Session: label, CaptureIndex: i, TargetIndex: -1, CaptureLine: it.Line,
				Capture: describeError(it), Target: "the statement was not run"})
		}
	}
	for _, j := range ts {
		it := t.Items[j]
		d.add(Finding{Kind: ExtraStatement, Session: label, CaptureIndex: -1, TargetIndex: j, TargetLine: it.Line,
			Capture: "not in production", Target: describe(it)})
		if it.Err != nil {
			d.add(Finding{Kind: NewError, Session: label, CaptureIndex: -1, TargetIndex: j, TargetLine: it.Line,
				Capture: "no such statement in production", Target: describeError(it)})
		}
	}
}

// failedOnTarget reports a statement production executed that failed at
// Parse or Bind on the target.
func (d *Diff) failedOnTarget(label string, i, j int, c, t Item) {
	f := Finding{Session: label, CaptureIndex: i, TargetIndex: j, CaptureLine: c.Line, TargetLine: t.Line}
	f.Kind, f.Capture, f.Target = MissingStatement, describe(c), "not executed: failed at Parse/Bind with "+t.Err.SQLState
	d.add(f)
	f.Kind, f.Capture, f.Target = NewError, "production executed it: "+describe(c), describeError(t)
	d.add(f)
	if c.Err != nil {
		f.Kind, f.Capture, f.Target = ErrorNotReproduced, describeError(c), describeError(t)
		d.add(f)
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// missingItems reports the items of a session that was not replayed.
func (d *Diff) missingItems(label string, items []Item) {
	for i, it := range items {
		if it.Err != nil {
			d.add(Finding{Kind: ErrorNotReproduced, Session: label, CaptureIndex: i, TargetIndex: -1, CaptureLine: it.Line,
				Capture: describeError(it), Target: "the session was not replayed"})
		}
	}
}

func (d *Diff) compareItems(label string, i, j int, c, t Item) {
	f := Finding{Session: label, CaptureIndex: i, TargetIndex: j, CaptureLine: c.Line, TargetLine: t.Line}
	if !c.Error {
		if c.Protocol != t.Protocol {
			f.Kind, f.Capture, f.Target = ProtocolMismatch, describe(c), describe(t)
			d.add(f)
		} else if c.Protocol == parse.Named && c.Name != t.Name {
			f.Kind, f.Capture, f.Target = NameMismatch, c.Name+": "+clip(c.Text), t.Name+": "+clip(t.Text)
			d.add(f)
		}
		if !sameParams(c.Params, t.Params) {
			f.Kind, f.Capture, f.Target = ParamMismatch, clip(c.Text)+" "+formatParams(c.Params), formatParams(t.Params)
			d.add(f)
		}
	}
	if c.Pipelined != t.Pipelined {
		f.Kind, f.Capture, f.Target = GroupingMismatch, grouping(c), grouping(t)
		d.add(f)
	}
	d.compareErrors(label, i, j, c, t)
}

func (d *Diff) compareErrors(label string, i, j int, c, t Item) {
	f := Finding{Session: label, CaptureIndex: i, TargetIndex: j, CaptureLine: c.Line, TargetLine: t.Line}
	switch {
	case c.Err == nil && t.Err == nil:
	case c.Err != nil && t.Err != nil && c.Err.SQLState == t.Err.SQLState:
		d.Reproduced++
		if t.StandIn {
			d.StandIns++
		}
	default:
		if c.Err != nil {
			f.Kind, f.Capture, f.Target = ErrorNotReproduced, describeError(c), "no error"
			if t.Err != nil {
				f.Target = describeError(t)
			}
			d.add(f)
		}
		if t.Err != nil {
			f.Kind, f.Capture, f.Target = NewError, "no error", describeError(t)
			if c.Err != nil {
				f.Capture = describeError(c)
			}
			d.add(f)
		}
	}
}

// comparePrepares reports named statements the target prepared more than
// once in the session, or more often than production did when the
// capture log shows its Parse entries.
func (d *Diff) comparePrepares(label string, c, t *Session, known bool) {
	names := make([]string, 0, len(t.Prepares))
	for name := range t.Prepares {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := t.Prepares[name]
		allowed := 1
		if known && c.Prepares[name] > 1 {
			allowed = c.Prepares[name]
		}
		if n > allowed {
			prod := "at most once (the capture log has no Parse entries)"
			if known {
				prod = plural(c.Prepares[name], "time")
			}
			d.add(Finding{Kind: PreparedAgain, Session: label, CaptureIndex: -1, TargetIndex: -1,
				Capture: fmt.Sprintf("%s prepared %s", name, prod), Target: fmt.Sprintf("%s prepared %s", name, plural(n, "time"))})
		}
	}
}

func grouping(it Item) string {
	if it.Pipelined {
		return clip(it.Text) + ": in one implicit transaction with the statement before it"
	}
	return clip(it.Text) + ": a transaction of its own (or in a block)"
}
