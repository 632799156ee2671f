package compare

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/replay"
)

// The control: the same workload replayed onto a copy of the baseline
// (restored from the candidate's snapshot, on the baseline's engine and
// settings), at the same time as the candidate or just after. It is the
// third column: what production would have done under this replay, with
// the replayer's own effects on both sides. With a control the default
// latency and CPU gates compare the candidate with it, and each of its
// statements is set beside the candidate's (divergence.go).

// Control is the control's side of the comparison.
type Control struct {
	Results []string `json:"results"`
	Target  string   `json:"target"`
	// Mode is "concurrent" (one schedule, each statement to both) or
	// "after" (one replay after the other).
	Mode     string          `json:"mode"`
	Fidelity ControlFidelity `json:"fidelity"`
	Latency  ControlLatency  `json:"latency"`
}

// ControlFidelity says how the control's replay went.
type ControlFidelity struct {
	ReplayStart    time.Time `json:"replay_start"`
	ReplayEnd      time.Time `json:"replay_end"`
	Statements     int64     `json:"statements"`
	Replayed       int64     `json:"replayed"`
	Errors         int64     `json:"errors"`
	Sessions       int64     `json:"sessions"`
	ConnectErrors  int64     `json:"connect_errors"`
	LatenessP99MS  float64   `json:"lateness_p99_ms"`
	LatenessMaxMS  float64   `json:"lateness_max_ms"`
	LateShare      float64   `json:"late_over_100ms_share"`
	DurationS      float64   `json:"duration_s"`
	BehindSchedule bool      `json:"behind_schedule"`
	Diagnosis      []string  `json:"diagnosis,omitempty"`
	Interrupted    bool      `json:"interrupted"`
}

// ControlLatency sets the candidate's statement latency beside the
// control's, both measured the same way by the same replayer.
type ControlLatency struct {
	Basis     string         `json:"basis"`
	Control   *Pcts          `json:"control"`
	Candidate *Pcts          `json:"candidate"`
	Top       []ControlQuery `json:"top"`
	Regressed []ControlQuery `json:"regressed"`
}

// ControlQuery is one normalised query's latency on the control and the
// candidate.
type ControlQuery struct {
	Fingerprint string  `json:"fingerprint"`
	Text        string  `json:"query"`
	Calls       int64   `json:"calls"`
	Control     *Pcts   `json:"control"`
	Candidate   *Pcts   `json:"candidate"`
	RatioP99    float64 `json:"ratio_p99,omitempty"`
}

// controlSide is what compare takes from the control's results files.
type controlSide struct {
	doc *Control
	clientLatency
	lateness *hdrhistogram.Histogram
	lines    *pairs
	checks   bool
	warnings []string
	samples  string
}

// readControl reads and merges the control's results files.
func readControl(ctx context.Context, paths []string, capt *capture) (*controlSide, error) {
	cs := &controlSide{doc: &Control{Results: paths}, clientLatency: newClientLatency(), lateness: newHist(), lines: newPairs(), checks: true}
	m, err := replay.MergeResults(ctx, paths, func(i int, h *replay.ResultsHeader) (func(*replay.ResultLine), error) {
		return cs.open(paths[i], h, capt)
	})
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	cs.merged(m)
	f := &cs.doc.Fidelity
	if cs.lateness.TotalCount() > 0 {
		f.LatenessP99MS = float64(cs.lateness.ValueAtQuantile(99)) / 1000
		f.LatenessMaxMS = float64(cs.lateness.Max()) / 1000
	}
	return cs, nil
}

// open checks a control's results file by its header, and returns what
// takes its lines.
func (cs *controlSide) open(path string, h *replay.ResultsHeader, capt *capture) (func(*replay.ResultLine), error) {
	if h.Role != "control" {
		return nil, fmt.Errorf("%s is a candidate's results file, not a control's: give it with --results, and the control's (control.results.jsonl from replay --control) with --control-results", path)
	}
	if h.WorkloadID != "" && capt.header.ID != "" && h.WorkloadID != capt.header.ID {
		return nil, fmt.Errorf("%s holds the control's results of another workload (%s, not %s): give the control's results of this replay", path, h.WorkloadID, capt.header.ID)
	}
	cs.doc.Target, cs.doc.Mode = h.Target, h.ControlMode
	cs.checks = cs.checks && h.Checksums
	if cs.samples == "" {
		cs.samples = h.Samples
	}
	return func(l *replay.ResultLine) {
		cs.lines.control(l)
		cs.record(l, h.RTTUS)
	}, nil
}

// merged takes the figures of the control's merged results, and judges
// each file's trailer.
func (cs *controlSide) merged(m *replay.Merged) {
	fid := &cs.doc.Fidelity
	fid.ReplayStart, fid.ReplayEnd = m.Started, m.Finished
	for _, mf := range m.Files {
		sum := mf.Summary
		if sum == nil {
			cs.warnings = append(cs.warnings, mf.Path+": no trailer: the control's replay was killed; its statements so far are counted")
			fid.Interrupted = true
			continue
		}
		fid.LateShare = max(fid.LateShare, sum.LateOver100ms)
		if sum.BehindSchedule {
			fid.BehindSchedule = true
			fid.Diagnosis = append(fid.Diagnosis, sum.Diagnosis)
		}
	}
	sum := &m.Summary
	fid.Statements += sum.Statements
	fid.Replayed += sum.Replayed
	fid.Errors += sum.Errors
	fid.Sessions += sum.Sessions
	fid.ConnectErrors += sum.OpenErrors
	fid.Interrupted = fid.Interrupted || sum.Interrupted
	fid.DurationS = max(fid.DurationS, sum.DurationS)
	cs.lateness.Merge(m.Lateness)
}

// addControl reads the control's results, sets its latency beside the
// candidate's and each of its statements beside the candidate's.
func (c *Comparison) addControl(ctx context.Context, in Input, capt *capture, queries queryTable) error {
	if len(in.ControlResults) == 0 {
		return nil
	}
	cs, err := readControl(ctx, in.ControlResults, capt)
	if err != nil {
		return err
	}
	c.Warnings = append(c.Warnings, cs.warnings...)
	t, err := pairCandidate(ctx, in.Results, cs)
	if err != nil {
		return err
	}
	if c.Divergence, err = t.fill(ctx, in.Workload, queries, in.ShowParams); err != nil {
		return err
	}
	cs.fillLatency(&t.client, queries, in.Top)
	c.Control = cs.doc
	if c.Control.Mode == "after" {
		c.Warnings = append(c.Warnings, "the control was replayed after the candidate, not at the same time: statements that read the time, or data other sessions change, may diverge on timing alone")
	}
	if !c.Divergence.Checksums {
		c.Warnings = append(c.Warnings, "the results have no checksums (replay without --checksums): divergence compares row counts and errors, not the rows themselves")
	}
	return nil
}

// addCollation takes the collation pre-flight from the replay's results
// header, where replay recorded it.
func (c *Comparison) addCollation(in Input) {
	for _, paths := range [][]string{in.Results, in.ControlResults} {
		for _, path := range paths {
			rr, f, err := replay.OpenResults(path)
			if err != nil {
				continue
			}
			cc := rr.Header().Collation
			f.Close()
			if cc != nil {
				c.Collation = cc
				for _, w := range cc.Warnings() {
					c.Warnings = append(c.Warnings, "collation: "+w)
				}
				return
			}
		}
	}
}

// fillLatency sets the candidate's client-side latency (from the pairing
// pass) beside the control's, overall and per query.
func (cs *controlSide) fillLatency(cand *clientLatency, queries queryTable, top int) {
	l := &cs.doc.Latency
	l.Basis = "control and candidate: client-side latency of the same replay, each minus its own round trip measured before the replay"
	if cs.doc.Mode == "concurrent" {
		l.Basis += "; replayed at the same time from one schedule"
	}
	l.Control, l.Candidate = pcts(cs.all), pcts(cand.all)
	var rows []ControlQuery
	for fp, ch := range cand.byQuery {
		q := ControlQuery{Fingerprint: fp, Text: "(not in the workload)", Calls: ch.TotalCount(), Candidate: pcts(ch), Control: pcts(cs.byQuery[fp])}
		if id, err := fingerprint.ParseID(fp); err == nil && queries[id] != nil {
			q.Text = queries[id].text
		}
		if q.Control != nil && q.Control.P99 > 0 {
			q.RatioP99 = q.Candidate.P99 / q.Control.P99
		}
		rows = append(rows, q)
	}
	total := func(q ControlQuery) float64 { return float64(cand.byQuery[q.Fingerprint].Mean()) * float64(q.Calls) }
	sort.Slice(rows, func(i, j int) bool {
		a, b := total(rows[i]), total(rows[j])
		return a > b || a == b && rows[i].Fingerprint < rows[j].Fingerprint
	})
	l.Top = rows[:min(top, len(rows))]
	var reg []ControlQuery
	for _, q := range rows {
		if q.RatioP99 > 1 && q.Calls >= 10 {
			reg = append(reg, q)
		}
	}
	sort.SliceStable(reg, func(i, j int) bool { return reg[i].RatioP99 > reg[j].RatioP99 })
	l.Regressed = reg[:min(top, len(reg))]
}

// addControlMetrics fetches the control's metrics for its replay window
// and sets them beside the other sides' (or alone, for a metric only the
// control has).
func (c *Comparison) addControlMetrics(ctx context.Context, in Input) {
	if in.Control == nil || c.Control == nil {
		return
	}
	f := &c.Control.Fidelity
	w := metrics.Window{Start: f.ReplayStart, End: f.ReplayEnd}
	set := c.fetchMetrics(ctx, in.Control, w, "control")
	if set == nil {
		return
	}
	warm := in.warmup(&c.Fidelity)
	for _, name := range metrics.Names() {
		s := set.Get(name)
		if s == nil {
			continue
		}
		m := c.metricNamed(name)
		if m == nil {
			c.Metrics = append(c.Metrics, Metric{Name: name, Unit: metrics.Unit(name), WarmupS: warm.Seconds()})
			m = &c.Metrics[len(c.Metrics)-1]
		}
		period := s.Period
		for _, a := range []*metrics.Aligned{m.BaselineSeries, m.CandidateSeries} {
			if a != nil {
				period = max(period, a.Period)
			}
		}
		a := metrics.AlignWindow(s, w, period, c.Fidelity.Speed, warm)
		st := metrics.Summarize(a.Points())
		m.ControlSeries, m.ControlSource = &a, s.Source
		m.Caveats = dedupe(append(m.Caveats, a.Caveats...))
		if st.N > 0 {
			m.Control = &st
		}
	}
}

func (c *Comparison) metricNamed(name string) *Metric {
	for i := range c.Metrics {
		if c.Metrics[i].Name == name {
			return &c.Metrics[i]
		}
	}
	return nil
}
