package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// The text and Markdown reports share one layout: a list of sections,
// each with sentences and tables, built once from the comparison so the
// two formats cannot drift apart.
type section struct {
	title  string
	lines  []string
	tables []table
	notes  []string // after the tables
	// label prefixes the notes in text ("note" unless set).
	label string
	// charts marks the section the HTML report draws the metric charts in.
	charts bool
}

type table struct {
	caption string
	header  []string
	rows    [][]string
	// right lists the columns holding numbers.
	right []int
	// class marks the table (and rowClass each row) for the HTML report.
	class    string
	rowClass []string
}

// layout turns a comparison into sections, in the order the report reads:
// verdict, fidelity, metrics, latency, errors, gates, warnings.
func layout(c *compare.Comparison, o Options) []section {
	out := []section{verdictSection(c), fidelitySection(c), metricsSection(c)}
	out = append(out, loadSections(c)...)
	out = append(out, latencySection(c), errorsSection(c))
	out = append(out, divergenceSection(c))
	if s, ok := collationSection(c); ok {
		out = append(out, s)
	}
	out = append(out, gatesSection(c, o.ASCII))
	if len(c.Warnings) > 0 {
		out = append(out, section{title: "Warnings", notes: c.Warnings, label: "warning"})
	}
	return out
}

// verdictSection is the verdict, its reason and the next steps.
func verdictSection(c *compare.Comparison) section {
	v := section{title: "Verdict: " + string(c.Verdict.Result)}
	v.lines = append(v.lines, c.Verdict.Reason+".")
	for _, n := range c.Verdict.Next {
		v.lines = append(v.lines, "Next: "+n)
	}
	return v
}

// fidelitySection says how faithfully the replay reproduced the capture.
func fidelitySection(c *compare.Comparison) section {
	f := c.Fidelity
	fid := section{title: "Replay fidelity"}
	skipped := int64(0)
	var why []string
	for k, n := range f.Skipped {
		skipped += n
		why = append(why, fmt.Sprintf("%s %s", k, num(n)))
	}
	sort.Strings(why)
	replayed := fmt.Sprintf("%s of %s", num(f.Replayed), num(f.Statements))
	if skipped > 0 {
		replayed += fmt.Sprintf(" (skipped: %s)", strings.Join(why, ", "))
	}
	schedule := "kept up"
	if f.BehindSchedule {
		schedule = "FELL BEHIND: the candidate did not carry the production load"
	}
	if f.Interrupted {
		schedule += "; interrupted before the end"
	}
	fid.tables = append(fid.tables, table{header: []string{"", "replay", "original"}, rows: [][]string{
		{"statements replayed", replayed, num(f.Statements)},
		{"sessions", num(f.Sessions), fmt.Sprintf("%s (peak %s connected at once)", num(f.OriginalSessions), num(f.PeakSessions))},
		{"peak sessions active at once", num(f.ReplayPeakActive), num(f.OriginalPeakActive)},
		{"duration", secs(f.DurationS), secs(f.OriginalS)},
		{"window", span(f.ReplayStart, f.ReplayEnd), span(f.CaptureStart, f.CaptureEnd)},
		{"speed, shards", fmt.Sprintf("%gx, %d", f.Speed, f.Shards), ""},
		{"lateness p99 / max", ms(f.LatenessP99MS) + " / " + ms(f.LatenessMaxMS), ""},
		{"statements >100 ms late", pct(100 * f.LateShare), ""},
		{"schedule", schedule, ""},
		{"production errors reproduced", fmt.Sprintf("%s of %s", num(c.Errors.Reproduced), num(c.Errors.Reproduced+c.Errors.MissingN)), ""},
		{"pipelined (one Sync for several)", num(f.Pipelined), ""},
	}})
	fid.notes = append(fid.notes, f.Diagnosis...)
	fid.notes = append(fid.notes, coverageNotes(f)...)
	syncFidelity(f, &fid)
	if f.Retyped > 0 {
		fid.notes = append(fid.notes, fmt.Sprintf("%s statements were prepared again with parameter types declared (text): the target could not infer them from the logged values, which production's client had typed.", num(f.Retyped)))
	}
	if c.Errors.StandIns > 0 {
		fid.notes = append(fid.notes, fmt.Sprintf("%s production errors at Bind were raised by a stand-in with the same SQLSTATE: the log does not have their parameter values (set log_parameter_max_length_on_error = -1 to capture them).", num(c.Errors.StandIns)))
	}
	for _, st := range f.Stalls {
		n := fmt.Sprintf("Session %d stalled behind its statement %d (%.0f s on the target, %s statements waiting)", st.Session, st.Index, st.HeldS, num(int64(st.Backlog)))
		if st.Waiting != "" {
			n += ": it " + st.Waiting
		}
		fid.notes = append(fid.notes, n+".")
	}
	for _, lw := range f.LockWaits {
		fid.notes = append(fid.notes, fmt.Sprintf("%s statements of %d sessions waited on the target for a lock held by %s (longest %.1f s).", num(lw.Statements), lw.Sessions, lw.BlockedBy, lw.MaxS))
	}
	fid.tables = append(fid.tables, controlFidelity(c)...)
	return fid
}

// metricsSection sets the clusters' metrics side by side.
func metricsSection(c *compare.Comparison) section {
	cm := section{charts: true, title: "Cluster metrics (baseline: capture window; candidate: replay window)"}
	if len(c.Metrics) == 0 {
		cm.lines = append(cm.lines, "No metric source was given: pass --baseline-metrics and --candidate-metrics to compare CPU, IOPS and replica lag.")
	} else {
		t := table{header: []string{"metric", "unit", "base mean", "base p95", "base max", "cand mean", "cand p95", "cand max", "p95 diff", "p95 ratio"}, right: []int{2, 3, 4, 5, 6, 7, 8, 9}}
		withControl := hasControlMetrics(c)
		if withControl {
			cm.title = "Cluster metrics (baseline: capture window; candidate and control: their replay windows)"
			t.header = append(t.header, "ctl mean", "ctl p95", "ctl max", "p95 vs ctl")
			t.right = append(t.right, 10, 11, 12, 13)
		}
		var warm float64
		for _, m := range c.Metrics {
			b, cd := m.Baseline, m.Candidate
			t.rows = append(t.rows, []string{m.Name, m.Unit,
				stat(b, func(s *metrics.Stats) float64 { return s.Mean }), stat(b, func(s *metrics.Stats) float64 { return s.P95 }), stat(b, func(s *metrics.Stats) float64 { return s.Max }),
				stat(cd, func(s *metrics.Stats) float64 { return s.Mean }), stat(cd, func(s *metrics.Stats) float64 { return s.P95 }), stat(cd, func(s *metrics.Stats) float64 { return s.Max }),
				diff(b, cd), ratio(b, cd)})
			warm = max(warm, m.WarmupS)
			src := fmt.Sprintf("%s: baseline from %s, candidate from %s", m.Name, orNone(m.BaselineSource), orNone(m.CandidateSource))
			if withControl {
				t.rows[len(t.rows)-1] = append(t.rows[len(t.rows)-1], controlMetricCells(m)...)
				src += ", control from " + orNone(m.ControlSource)
			}
			cm.notes = append(cm.notes, src)
			for _, cv := range m.Caveats {
				cm.notes = append(cm.notes, m.Name+": "+cv)
			}
		}
		cm.tables = append(cm.tables, t)
		cm.lines = append(cm.lines, fmt.Sprintf("Both sides on the time since their start; the first %s (warm-up) is left out of the figures.", secs(warm)))
	}
	return cm
}

// latencySection is the statements' latency on both sides, with the top
// and the most regressed queries.
func latencySection(c *compare.Comparison) section {
	lat := section{title: "Query latency"}
	if b := c.Latency.Basis; b != "" {
		lat.lines = append(lat.lines, strings.ToUpper(b[:1])+b[1:]+".")
	}
	lat.tables = append(lat.tables, table{header: []string{"", "statements", "p50", "p95", "p99"}, right: []int{1, 2, 3, 4}, rows: [][]string{
		pctsRow("baseline", c.Latency.Baseline), pctsRow("candidate", c.Latency.Candidate)}})
	lat.tables = append(lat.tables, queryTable("Top queries by total time on the candidate", c.Latency.Top))
	if len(c.Latency.Regressed) > 0 {
		lat.tables = append(lat.tables, queryTable("Worst regressions (p99, queries with at least 10 calls)", c.Latency.Regressed))
	} else {
		lat.notes = append(lat.notes, "No query with at least 10 calls is slower at p99 on the candidate.")
	}
	ct, cn := controlLatency(c)
	lat.tables, lat.notes = append(lat.tables, ct...), append(lat.notes, cn...)
	return lat
}

// queryTable lists queries with their latency on both sides.
func queryTable(caption string, qs []compare.Query) table {
	t := table{caption: caption, header: []string{"fingerprint", "query", "calls", "total", "base p50", "base p99", "cand p50", "cand p99", "p99 ratio"}, right: []int{2, 3, 4, 5, 6, 7, 8}}
	for _, q := range qs {
		b, cd := q.Baseline, q.Candidate
		t.rows = append(t.rows, []string{q.Fingerprint, short(q.Text, 70), num(q.Calls), ms(q.TotalMS),
			pctMS(b, func(p *compare.Pcts) float64 { return p.P50 }), pctMS(b, func(p *compare.Pcts) float64 { return p.P99 }),
			pctMS(cd, func(p *compare.Pcts) float64 { return p.P50 }), pctMS(cd, func(p *compare.Pcts) float64 { return p.P99 }),
			ratioOf(q.RatioP99)})
	}
	return t
}

// errorsSection lists the errors new on the candidate, those missing
// from it, and those on both.
func errorsSection(c *compare.Comparison) section {
	errs := section{title: "Errors"}
	if len(c.Errors.New) > 0 {
		errs.lines = append(errs.lines, fmt.Sprintf("%s statements failed on the candidate that worked in production: each is a launch blocker until explained.", num(c.Errors.NewN)))
		nt := errorTable("New on the candidate", c.Errors.New)
		nt.class = "blocker"
		errs.tables = append(errs.tables, nt)
	} else {
		errs.lines = append(errs.lines, "No statement failed on the candidate that worked in production.")
	}
	if len(c.Errors.Missing) > 0 {
		errs.lines = append(errs.lines, fmt.Sprintf("%s statements that failed in production did not fail on the candidate: the replay diverged from production there (or the candidate behaves differently).", num(c.Errors.MissingN)))
		mt := errorTable("Failed in production, not on the candidate", c.Errors.Missing)
		mt.header = append(mt.header, "why")
		for i, e := range c.Errors.Missing {
			mt.rows[i] = append(mt.rows[i], e.Reason)
		}
		errs.tables = append(errs.tables, mt)
	}
	if len(c.Errors.Both) > 0 {
		errs.tables = append(errs.tables, errorTable("Failed in production too", c.Errors.Both))
	}
	if len(c.Errors.LostToOutage) > 0 {
		errs.lines = append(errs.lines, fmt.Sprintf("%s statements failed for want of a connection after the target was lost: the outage's, not the candidate's; they are left out of the errors above and of the gates.", num(c.Fidelity.LostToOutage)))
		errs.tables = append(errs.tables, errorTable("Lost to the outage", c.Errors.LostToOutage))
	}
	if c.Errors.Outside > 0 {
		errs.notes = append(errs.notes, fmt.Sprintf("%s production errors belong to no session (failed logins) and are not replayed.", num(c.Errors.Outside)))
	}
	return errs
}

// errorTable lists errors by SQLSTATE and statement.
func errorTable(caption string, es []compare.ErrorCount) table {
	t := table{caption: caption, header: []string{"SQLSTATE", "count", "fingerprint", "query"}, right: []int{1}}
	examples := false
	for _, e := range es {
		examples = examples || e.Example != nil
	}
	if examples {
		// Only there when asked for with --show-params.
		t.header = append(t.header, "first failure in production (with its values)")
	}
	for _, e := range es {
		row := []string{e.SQLState, num(e.Count), e.Fingerprint, short(e.Query, 90)}
		if examples {
			ex := ""
			if e.Example != nil {
				ex = short(e.Example.Text, 90)
				if len(e.Example.Params) > 0 {
					ex += " -- params: " + short(strings.Join(e.Example.Params, ", "), 60)
				}
			}
			row = append(row, ex)
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// gatesSection lists the gates with their status.
func gatesSection(c *compare.Comparison, ascii bool) section {
	gs := section{title: "Gates"}
	if c.DefaultGates {
		gs.title += " (defaults: none were given)"
	}
	if b := c.DefaultGatesBasis; b != "" {
		gs.lines = append(gs.lines, strings.ToUpper(b[:1])+b[1:]+".")
	}
	gt := table{header: []string{"status", "gate", "observed", "threshold", "note"}, right: []int{2, 3}}
	for _, g := range c.Gates {
		gt.rows = append(gt.rows, []string{gateMark(g.Status, ascii), g.Expr, opt(g.Observed), opt(g.Threshold), g.Note})
		gt.rowClass = append(gt.rowClass, string(g.Status))
	}
	gs.tables = append(gs.tables, gt)
	return gs
}

// gateMark is how a gate's status is shown: a word in ASCII, else a
// symbol and a word.
func gateMark(s compare.GateStatus, ascii bool) string {
	switch {
	case ascii && s == compare.Pass:
		return "PASS"
	case ascii && s == compare.Fail:
		return "FAIL"
	case ascii:
		return "????"
	case s == compare.Pass:
		return "✓ pass"
	case s == compare.Fail:
		return "✗ FAIL"
	}
	return "? inconclusive"
}

// Text renders the comparison for a terminal: the verdict on top, then
// the sections as tables.
func Text(w io.Writer, c *compare.Comparison, o Options) error {
	ew := &errWriter{w: w}
	banner := "==== " + c.Verdict.Result + " ===="
	fmt.Fprintln(ew, banner)
	for i, s := range layout(c, o) {
		if i > 0 {
			fmt.Fprintf(ew, "\n%s\n%s\n", s.title, strings.Repeat("-", len([]rune(s.title))))
		}
		for _, l := range s.lines {
			fmt.Fprintln(ew, l)
		}
		for _, t := range s.tables {
			if t.caption != "" {
				fmt.Fprintln(ew, t.caption+":")
			}
			if len(t.rows) == 0 {
				fmt.Fprintln(ew, "  (none)")
				continue
			}
			if err := renderTable(ew, t, newTable(ew, o.ASCII)); err != nil {
				return err
			}
		}
		label := s.label
		if label == "" {
			label = "note"
		}
		for _, n := range s.notes {
			fmt.Fprintf(ew, "  %s: %s\n", label, n)
		}
	}
	fmt.Fprintf(ew, "\n%s %s, comparison format %d, generated %s\n", c.Format, c.Verdict.Result, c.Version, c.Generated)
	return ew.err
}

// Markdown renders the same content as Text for a pull request, an RFC or
// a ticket.
func Markdown(w io.Writer, c *compare.Comparison, o Options) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "# Migration rehearsal: %s\n", c.Verdict.Result)
	for i, s := range layout(c, o) {
		if i > 0 {
			fmt.Fprintf(ew, "\n## %s\n", s.title)
		}
		if len(s.lines) > 0 {
			fmt.Fprintln(ew)
		}
		for _, l := range s.lines {
			if strings.HasPrefix(l, "Next: ") {
				l = "- **Next:** " + mdEscape(l[len("Next: "):])
			} else {
				l = mdEscape(l)
			}
			fmt.Fprintln(ew, l)
		}
		for _, t := range s.tables {
			fmt.Fprintln(ew)
			if t.caption != "" {
				fmt.Fprintf(ew, "**%s**\n\n", mdEscape(t.caption))
			}
			if len(t.rows) == 0 {
				fmt.Fprintln(ew, "(none)")
				continue
			}
			md := t
			md.rows = nil
			for _, r := range t.rows {
				row := make([]string, len(r))
				for i, cell := range r {
					row[i] = mdEscape(cell)
					if i == 1 && len(t.header) > 1 && t.header[1] == "query" || t.header[0] == "fingerprint" && i == 0 {
						// GFM reads \| as a pipe even inside a code span.
						row[i] = "`" + strings.NewReplacer("`", "'", "|", `\|`).Replace(cell) + "`"
					}
				}
				md.rows = append(md.rows, row)
			}
			mt := tablewriter.NewTable(ew, tablewriter.WithRenderer(renderer.NewMarkdown()),
				tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAutoWrap(tw.WrapNone))
			if err := renderTable(ew, md, mt); err != nil {
				return err
			}
		}
		if len(s.notes) > 0 {
			fmt.Fprintln(ew)
			for _, n := range s.notes {
				fmt.Fprintln(ew, "- "+mdEscape(n))
			}
		}
	}
	fmt.Fprintf(ew, "\n<sub>%s, format %d, generated %s</sub>\n", c.Format, c.Version, c.Generated)
	return ew.err
}

func renderTable(w io.Writer, t table, tt *tablewriter.Table) error {
	if len(t.right) > 0 {
		align := make(tw.Alignment, len(t.header))
		for i := range align {
			align[i] = tw.AlignLeft
		}
		for _, i := range t.right {
			align[i] = tw.AlignRight
		}
		tt.Options(tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}))
	}
	tt.Header(toAny(t.header)...)
	for _, r := range t.rows {
		if err := tt.Append(toAny(r)...); err != nil {
			return err
		}
	}
	return tt.Render()
}

// mdEscape keeps a cell's text from being read as Markdown or breaking a
// table: query text is full of * _ | and backticks.
func mdEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func secs(s float64) string {
	return (time.Duration(s*10) * time.Second / 10).String()
}

func ms(v float64) string { return fnum(v) + " ms" }

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " %" }

func span(a, b time.Time) string {
	if a.IsZero() {
		return "n/a"
	}
	return a.UTC().Format("2006-01-02 15:04:05") + " – " + b.UTC().Format("15:04:05") + " UTC"
}

// opt formats a gate's value: as written where it is round, so that
// "errors.new == 0" reads 0, not 0.00.
func opt(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(math.Round(*p*100)/100, 'f', -1, 64)
}

func stat(s *metrics.Stats, f func(*metrics.Stats) float64) string {
	if s == nil {
		return "n/a"
	}
	return fnum(f(s))
}

func diff(b, c *metrics.Stats) string {
	if b == nil || c == nil {
		return "n/a"
	}
	d := c.P95 - b.P95
	if d >= 0 {
		return "+" + fnum(d)
	}
	return "-" + fnum(-d)
}

func ratio(b, c *metrics.Stats) string {
	if b == nil || c == nil || b.P95 == 0 {
		return "n/a"
	}
	return ratioOf(c.P95 / b.P95)
}

func ratioOf(r float64) string {
	if r == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

func pctMS(p *compare.Pcts, f func(*compare.Pcts) float64) string {
	if p == nil {
		return "n/a"
	}
	return fnum(f(p))
}

func pctsRow(name string, p *compare.Pcts) []string {
	if p == nil {
		return []string{name, "n/a", "n/a", "n/a", "n/a"}
	}
	return []string{name, num(p.Count), ms(p.P50), ms(p.P95), ms(p.P99)}
}

func orNone(s string) string {
	if s == "" {
		return "no source"
	}
	return s
}

// short cuts a normalised query for a table cell; the JSON keeps it whole.
func short(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
