package compare

import (
	"context"
	"fmt"
	"sort"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/replay"
)

// Divergence: each statement the control ran is set beside the same
// statement on the candidate (the same session, kind and index of the
// workload). A pair diverges in its errors when the SQLSTATEs differ
// (one failed, or both with other codes), else in its rows when the row
// counts differ, else in its results when the checksums of the returned
// rows differ (in order for a statement whose top level has ORDER BY;
// "order only" when the same rows came back in another order). Each
// divergent statement counts once, under the first of those that
// applies. Statements whose text makes the result differ between two
// runs (random(), now(), nextval(), LIMIT without ORDER BY, ...: marked
// nd by the replay) are compared for their errors only.

// Divergence is the comparison of the control's and the candidate's
// answers.
type Divergence struct {
	// Compared counts statements sent on both sides, with a connection on
	// both; Unpaired those that were not (not sent on one side, no
	// connection to one side, missing from one side's results).
	Compared int64 `json:"compared"`
	Rows     int64 `json:"rows"`
	Results  int64 `json:"results"`
	// OrderOnly counts, of Results, the same rows in another order.
	OrderOnly int64 `json:"order_only"`
	Errors    int64 `json:"errors"`
	// NonDeterministic counts compared statements left out of the rows
	// and results counts.
	NonDeterministic int64 `json:"nondeterministic"`
	Unpaired         int64 `json:"unpaired"`
	// Checksums is false when either side's results have no checksums:
	// results are then not compared, only rows and errors.
	Checksums     bool              `json:"checksums"`
	ByFingerprint []DivergenceQuery `json:"by_fingerprint"`
	// Values is set when the examples are as logged, with their values
	// (--show-params): production data.
	Values bool `json:"values,omitempty"`
}

// DivergenceQuery counts one normalised query's divergent statements.
type DivergenceQuery struct {
	Fingerprint string `json:"fingerprint"`
	Query       string `json:"query"`
	// Count of its Compared statements diverged: a difference in how
	// the clusters answer diverges nearly every time, a race between
	// sessions now and then.
	Count     int64 `json:"count"`
	Compared  int64 `json:"compared"`
	Rows      int64 `json:"rows"`
	Results   int64 `json:"results"`
	OrderOnly int64 `json:"order_only"`
	Errors    int64 `json:"errors"`
	// Kind is the first divergent statement's: "errors", "rows",
	// "results" or "order".
	Kind string `json:"kind"`
	// Example is the first divergent statement: normalised, or as logged
	// with its values with --show-params; with both sides' answers.
	Example *DivergenceExample `json:"example"`
}

// DivergenceExample is one divergent statement.
type DivergenceExample struct {
	Example
	Control   DivergenceSide `json:"control"`
	Candidate DivergenceSide `json:"candidate"`
}

// DivergenceSide is one side's answer to a statement.
type DivergenceSide struct {
	Rows     int64  `json:"rows"`
	SQLState string `json:"sqlstate,omitempty"`
	// Checksum digests the returned rows in any order, OrderedChecksum in
	// their order (statements ordered at their top level).
	Checksum        string `json:"checksum,omitempty"`
	OrderedChecksum string `json:"ordered_checksum,omitempty"`
}

// answer is what one side's results line says of a statement.
type answer struct {
	rows     int64
	set, seq uint64
	state    string
	flags    uint8
}

const (
	ansChecksum uint8 = 1 << iota
	ansOrdered
	ansVolatile
	ansNotSent
)

func answerOf(l *replay.ResultLine) answer {
	a := answer{rows: l.Rows, state: l.SQLState}
	if set, seq, ok, ordered := l.Checksum(); ok {
		a.set, a.seq, a.flags = set, seq, ansChecksum
		if ordered {
			a.flags |= ansOrdered
		}
	}
	if l.ND != "" {
		a.flags |= ansVolatile
	}
	if l.Skipped != "" || l.SQLState == "connection" {
		a.flags |= ansNotSent
	}
	return a
}

func (a answer) side() DivergenceSide {
	s := DivergenceSide{Rows: a.rows, SQLState: a.state}
	if a.flags&ansChecksum != 0 {
		s.Checksum = fmt.Sprintf("%016x", a.set)
		if a.flags&ansOrdered != 0 {
			s.OrderedChecksum = fmt.Sprintf("%016x", a.seq)
		}
	}
	return s
}

// pairs holds the control's answers until the candidate's are read.
type pairs struct {
	ctl map[stmtKey]answer
}

func newPairs() *pairs { return &pairs{ctl: map[stmtKey]answer{}} }

func (p *pairs) control(l *replay.ResultLine) {
	p.ctl[stmtKey{l.Session, int32(l.Index), l.Kind == "e"}] = answerOf(l)
}

// divergenceKind says how a pair diverges, "" when it does not.
func divergenceKind(ctl, cand answer, checksums bool) string {
	switch {
	case ctl.state != cand.state:
		return "errors"
	case ctl.state != "" || (ctl.flags|cand.flags)&ansVolatile != 0:
		return ""
	case ctl.rows != cand.rows:
		return "rows"
	case !checksums || ctl.flags&cand.flags&ansChecksum == 0:
		return ""
	case ctl.set != cand.set:
		return "results"
	case ctl.flags&cand.flags&ansOrdered != 0 && ctl.seq != cand.seq:
		return "order"
	}
	return ""
}

// clientLatency is one side's client-side latency, overall and by
// fingerprint, measured alike on the control and the candidate.
type clientLatency struct {
	all     *hdrhistogram.Histogram
	byQuery map[string]*hdrhistogram.Histogram
}

func newClientLatency() clientLatency {
	return clientLatency{all: newHist(), byQuery: map[string]*hdrhistogram.Histogram{}}
}

// record adds the latency of a statement that ran, less the round trip
// rtt; errors and skipped statements are not counted.
func (cl *clientLatency) record(l *replay.ResultLine, rtt int64) {
	if l.Kind == "e" || l.Skipped != "" || l.SQLState != "" {
		return
	}
	lat := max(l.LatUS-rtt, 1)
	cl.all.RecordValue(lat)
	q := cl.byQuery[l.FP]
	if q == nil {
		q = newHist()
		cl.byQuery[l.FP] = q
	}
	q.RecordValue(lat)
}

type divergenceTally struct {
	d        *Divergence
	byFP     map[string]*DivergenceQuery
	compared map[string]int64
	first    map[string]stmtKey
	client   clientLatency
	checks   bool
}

// pairCandidate reads the candidate's results files again and sets each
// statement beside the control's.
func pairCandidate(ctx context.Context, results []string, cs *controlSide) (*divergenceTally, error) {
	t := &divergenceTally{d: &Divergence{}, byFP: map[string]*DivergenceQuery{}, first: map[string]stmtKey{}, compared: map[string]int64{},
		client: newClientLatency(), checks: cs.checks}
	_, err := replay.MergeResults(ctx, results, func(i int, h *replay.ResultsHeader) (func(*replay.ResultLine), error) {
		if h.Role == "control" {
			return nil, fmt.Errorf("%s is a control's results file: give it with --control-results, and the candidate's with --results", results[i])
		}
		t.checks = t.checks && h.Checksums
		return func(l *replay.ResultLine) { t.line(l, h.RTTUS, cs) }, nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	// What the control ran and the candidate's results lack.
	t.d.Unpaired += int64(len(cs.lines.ctl))
	t.d.Checksums = t.checks
	return t, nil
}

func (t *divergenceTally) line(l *replay.ResultLine, rtt int64, cs *controlSide) {
	t.client.record(l, rtt)
	k := stmtKey{l.Session, int32(l.Index), l.Kind == "e"}
	ctl, ok := cs.lines.ctl[k]
	if !ok {
		t.d.Unpaired++
		return
	}
	delete(cs.lines.ctl, k)
	cand := answerOf(l)
	if (ctl.flags|cand.flags)&ansNotSent != 0 {
		t.d.Unpaired++
		return
	}
	t.d.Compared++
	t.compared[l.FP]++
	if (ctl.flags|cand.flags)&ansVolatile != 0 {
		t.d.NonDeterministic++
	}
	kind := divergenceKind(ctl, cand, t.checks)
	if kind == "" {
		return
	}
	q := t.byFP[l.FP]
	if q == nil {
		q = &DivergenceQuery{Fingerprint: l.FP, Kind: kind,
			Example: &DivergenceExample{Example: Example{Session: l.Session, Index: l.Index}, Control: ctl.side(), Candidate: cand.side()}}
		t.byFP[l.FP] = q
		t.first[l.FP] = k
	}
	q.Count++
	switch kind {
	case "errors":
		q.Errors++
		t.d.Errors++
	case "rows":
		q.Rows++
		t.d.Rows++
	case "order":
		q.OrderOnly++
		q.Results++
		t.d.OrderOnly++
		t.d.Results++
	default:
		q.Results++
		t.d.Results++
	}
}

// fill completes the divergence with query texts and examples: the
// normalised query, or with showParams the statement as logged.
func (t *divergenceTally) fill(ctx context.Context, workload string, queries queryTable, showParams bool) (*Divergence, error) {
	wanted := map[stmtKey]*Example{}
	t.d.Values = showParams && len(t.byFP) > 0
	for fp, q := range t.byFP {
		if id, err := fingerprint.ParseID(fp); err == nil && queries[id] != nil {
			q.Query = queries[id].text
		}
		q.Example.Text = q.Query
		q.Compared = t.compared[fp]
		if showParams {
			q.Example.Text = ""
			wanted[t.first[fp]] = &q.Example.Example
		}
		t.d.ByFingerprint = append(t.d.ByFingerprint, *q)
	}
	if len(wanted) > 0 {
		// Filled in place: the list shares the examples.
		if err := fillExamples(ctx, workload, wanted); err != nil {
			return nil, err
		}
	}
	sort.Slice(t.d.ByFingerprint, func(i, j int) bool {
		a, b := t.d.ByFingerprint[i], t.d.ByFingerprint[j]
		return a.Count > b.Count || a.Count == b.Count && a.Fingerprint < b.Fingerprint
	})
	return t.d, nil
}
