package reports

import (
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// The control's parts of the report: its replay beside the candidate's,
// its column in the metrics, its latency, the divergence of its answers
// from the candidate's, and the collation pre-flight.

// controlFidelity is the table of the control's replay, for the replay
// fidelity section.
func controlFidelity(c *compare.Comparison) []table {
	ctl := c.Control
	if ctl == nil {
		return nil
	}
	f := ctl.Fidelity
	schedule := "kept up"
	if f.BehindSchedule {
		schedule = "FELL BEHIND: the figures against the control do not hold"
	}
	if f.Interrupted {
		schedule += "; interrupted before the end"
	}
	mode := "at the same time as the candidate, from one schedule"
	if ctl.Mode == "after" {
		mode = "after the candidate"
	}
	return []table{{caption: "Control replay (" + ctl.Target + ", " + mode + ")", header: []string{"", "control", "candidate"}, rows: [][]string{
		{"statements replayed", fmt.Sprintf("%s of %s", num(f.Replayed), num(f.Statements)), fmt.Sprintf("%s of %s", num(c.Fidelity.Replayed), num(c.Fidelity.Statements))},
		{"failed", num(f.Errors), num(c.Errors.Total)},
		{"connect errors", num(f.ConnectErrors), ""},
		{"duration", secs(f.DurationS), secs(c.Fidelity.DurationS)},
		{"lateness p99 / max", ms(f.LatenessP99MS) + " / " + ms(f.LatenessMaxMS), ms(c.Fidelity.LatenessP99MS) + " / " + ms(c.Fidelity.LatenessMaxMS)},
		{"statements >100 ms late", pct(100 * f.LateShare), pct(100 * c.Fidelity.LateShare)},
		{"schedule", schedule, ""},
	}}}
}

// hasControlMetrics reports whether any metric has the control's side.
func hasControlMetrics(c *compare.Comparison) bool {
	for _, m := range c.Metrics {
		if m.ControlSeries != nil {
			return true
		}
	}
	return false
}

// controlMetricCells are a metric's control columns: mean, p95, max, and
// the candidate's p95 over the control's.
func controlMetricCells(m compare.Metric) []string {
	ct := m.Control
	return []string{stat(ct, func(s *metrics.Stats) float64 { return s.Mean }), stat(ct, func(s *metrics.Stats) float64 { return s.P95 }),
		stat(ct, func(s *metrics.Stats) float64 { return s.Max }), ratio(ct, m.Candidate)}
}

// controlLatency is the candidate's latency against the control's, and
// the queries slower on the candidate than on the control.
func controlLatency(c *compare.Comparison) ([]table, []string) {
	if c.Control == nil {
		return nil, nil
	}
	l := c.Control.Latency
	tables := []table{{caption: "Against the control (" + l.Basis + ")", header: []string{"", "statements", "p50", "p95", "p99"}, right: []int{1, 2, 3, 4},
		rows: [][]string{pctsRow("control", l.Control), pctsRow("candidate", l.Candidate)}}}
	if len(l.Regressed) == 0 {
		return tables, []string{"No query with at least 10 calls is slower at p99 on the candidate than on the control."}
	}
	t := table{caption: "Worst regressions against the control (p99, queries with at least 10 calls)",
		header: []string{"fingerprint", "query", "calls", "ctl p50", "ctl p99", "cand p50", "cand p99", "p99 ratio"}, right: []int{2, 3, 4, 5, 6, 7}}
	for _, q := range l.Regressed {
		t.rows = append(t.rows, []string{q.Fingerprint, short(q.Text, 70), num(q.Calls),
			pctMS(q.Control, func(p *compare.Pcts) float64 { return p.P50 }), pctMS(q.Control, func(p *compare.Pcts) float64 { return p.P99 }),
			pctMS(q.Candidate, func(p *compare.Pcts) float64 { return p.P50 }), pctMS(q.Candidate, func(p *compare.Pcts) float64 { return p.P99 }),
			ratioOf(q.RatioP99)})
	}
	return append(tables, t), nil
}

// divergenceSection sets the candidate's answers beside the control's.
func divergenceSection(c *compare.Comparison) section {
	s := section{title: "Divergence (the candidate's answers against the control's)"}
	d := c.Divergence
	if d == nil {
		s.lines = append(s.lines, "Divergence needs a control: replay the workload onto a copy of the baseline as well (replay --control DSN, or run --control DSN) and give compare --control-results, so that every statement's rows, results and errors on the candidate are set beside the control's.")
		return s
	}
	results := num(d.Results)
	if !d.Checksums {
		results = "not compared (no checksums: replay with --checksums)"
	} else if d.OrderOnly > 0 {
		results += fmt.Sprintf(" (%s the same rows in another order)", num(d.OrderOnly))
	}
	s.tables = append(s.tables, table{header: []string{"", "statements"}, right: []int{1}, rows: [][]string{
		{"compared", num(d.Compared)},
		{"other rows count", num(d.Rows)},
		{"other results", results},
		{"other errors", num(d.Errors)},
		{"non-deterministic (errors compared only)", num(d.NonDeterministic)},
		{"on one side only", num(d.Unpaired)},
	}})
	if len(d.ByFingerprint) == 0 {
		s.lines = append(s.lines, fmt.Sprintf("The candidate answered all %s statements compared as the control did.", num(d.Compared)))
		return s
	}
	s.lines = append(s.lines, fmt.Sprintf("%s statements answered otherwise on the candidate than on the control: each returns other data to the application after the launch until explained.",
		num(d.Rows+d.Results+d.Errors)))
	t := table{caption: "Divergent queries", header: []string{"kind", "diverged", "fingerprint", "query", "first: control", "first: candidate"}, right: []int{1}, class: "blocker"}
	if d.Values {
		t.header = append(t.header, "first divergent statement (with its values)")
	}
	for _, q := range d.ByFingerprint {
		kind := q.Kind
		if q.Kind == "order" {
			kind = "order only"
		}
		ex := q.Example
		row := []string{kind, num(q.Count) + " of " + num(q.Compared), q.Fingerprint, short(q.Query, 80), answer(ex.Control), answer(ex.Candidate)}
		if d.Values {
			v := short(ex.Text, 90)
			if len(ex.Params) > 0 {
				v += " -- params: " + short(strings.Join(ex.Params, ", "), 60)
			}
			row = append(row, v)
		}
		t.rows = append(t.rows, row)
	}
	s.tables = append(s.tables, t)
	s.notes = append(s.notes, "A difference in how the clusters answer (a collation, a function, a plan returning ties in another order) makes a query diverge nearly every time it runs; a query that diverges now and then more likely read rows other sessions were writing at the same moment, which the two clusters committed in another order. Statements that read the time, random values or sequences are marked non-deterministic by the replay and left out.")
	return s
}

// answer is one side's answer to a divergent statement, short.
func answer(a compare.DivergenceSide) string {
	if a.SQLState != "" {
		return "failed " + a.SQLState
	}
	s := num(a.Rows) + " rows"
	if a.Rows == 1 {
		s = "1 row"
	}
	switch {
	case len(a.OrderedChecksum) >= 8:
		s += ", in order " + a.OrderedChecksum[:8]
	case len(a.Checksum) >= 8:
		s += ", " + a.Checksum[:8]
	}
	return s
}

// collationSection lists what the collation pre-flight found.
func collationSection(c *compare.Comparison) (section, bool) {
	cc := c.Collation
	if cc == nil {
		return section{}, false
	}
	s := section{title: "Collations"}
	cand := cc.Candidate
	row := func(name, server, libc, icu string) []string {
		return []string{name, server, orDash(libc), orDash(icu)}
	}
	t := table{header: []string{"", "server", "libc", "ICU collation version"}, rows: [][]string{row("candidate", cand.ServerVersion, cand.LibcVersion, cand.ICUVersion)}}
	if cc.Control != nil {
		t.rows = append(t.rows, row("control", cc.Control.ServerVersion, cc.Control.LibcVersion, cc.Control.ICUVersion))
	}
	s.tables = append(s.tables, t)
	diffs := append(append([]string(nil), cc.Differences...), cc.LibraryDifferences()...)
	if len(diffs) == 0 {
		what := "the candidate's databases collate like the control's, and no collation version is stale"
		if cc.Control == nil {
			what = "no collation version on the candidate is stale (no control to compare with)"
		}
		s.lines = append(s.lines, "Checked before the replay: "+what+".")
		return s, true
	}
	s.lines = append(s.lines, "Checked before the replay: text may sort and compare otherwise on the candidate.")
	for _, d := range diffs {
		s.lines = append(s.lines, "- "+d)
	}
	if len(cc.Indexes) > 0 {
		it := table{caption: "Indexes on text the differences touch", header: []string{"database", "index", "table", "definition"}}
		if cc.IndexesChecked {
			it.header = append(it.header, "amcheck")
		}
		for _, ix := range cc.Indexes {
			r := []string{ix.Database, ix.Index, ix.Table, short(ix.Definition, 90)}
			if cc.IndexesChecked {
				r = append(r, short(ix.Check, 90))
			}
			it.rows = append(it.rows, r)
		}
		s.tables = append(s.tables, it)
		if !cc.IndexesChecked {
			s.notes = append(s.notes, "Verify them with replay --check-indexes (amcheck on the candidate), or REINDEX them on the candidate before the launch.")
		}
	}
	s.notes = append(s.notes, cc.Notes...)
	return s, true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
