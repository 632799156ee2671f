package reports

import (
	"fmt"
	"strconv"

	"github.com/pgrehearse/pgrehearse/compare"
)

// loadSections are the sections on where the load went: wait events and
// statements by database load (Performance Insights), and the servers'
// own figures per query (pg_stat_statements), each where a source had
// them. They follow the cluster metrics in every format.
func loadSections(c *compare.Comparison) []section {
	var out []section
	if w := c.Waits; w != nil {
		out = append(out, waitsSection(w))
	}
	if sq := c.ServerQueries; sq != nil {
		out = append(out, serverQueriesSection(sq))
	}
	return out
}

func waitsSection(w *compare.Waits) section {
	s := section{title: "Database load by wait event (Performance Insights, average active sessions)"}
	side := func(name, src, engine string, total *float64) string {
		if src == "" {
			return name + ": no Performance Insights"
		}
		if engine != "" {
			src += ", " + engine
		}
		return fmt.Sprintf("%s: %s AAS in all (%s)", name, aas(total), src)
	}
	s.lines = append(s.lines, side("Baseline", w.BaselineSource, w.BaselineEngine, w.BaselineTotal)+".",
		side("Candidate", w.CandidateSource, w.CandidateEngine, w.CandidateTotal)+".")
	et := table{caption: "Top wait events", header: []string{"wait event", "type", "base AAS", "cand AAS", "change"}, right: []int{2, 3, 4}}
	for _, r := range w.Events {
		et.rows = append(et.rows, []string{r.Name, r.Type, aas(r.Baseline), aas(r.Candidate), change(r.Change)})
		if r.Note != "" {
			s.notes = append(s.notes, r.Name+": "+r.Note)
		}
	}
	s.tables = append(s.tables, et)
	if len(w.SQL) > 0 {
		st := table{caption: "Top statements by load", header: []string{"statement", "base AAS", "cand AAS", "change"}, right: []int{1, 2, 3}}
		for _, r := range w.SQL {
			st.rows = append(st.rows, []string{short(r.Name, 80), aas(r.Baseline), aas(r.Candidate), change(r.Change)})
		}
		s.tables = append(s.tables, st)
	}
	s.notes = append(s.notes, w.Caveats...)
	return s
}

func serverQueriesSection(sq *compare.ServerQueries) section {
	s := section{title: "Server-side work per query (pg_stat_statements)"}
	s.lines = append(s.lines, fmt.Sprintf("Baseline from %s; candidate from %s. Execution time in ms, reads in shared blocks read from outside shared buffers.",
		orNone(sq.BaselineSource), orNone(sq.CandidateSource)))
	t := table{header: []string{"fingerprint", "query", "base calls", "base exec", "base mean", "base reads", "cand calls", "cand exec", "cand mean", "cand reads", "mean ratio"},
		right: []int{2, 3, 4, 5, 6, 7, 8, 9, 10}}
	for _, r := range sq.Rows {
		row := []string{r.Fingerprint, short(r.Query, 60)}
		for _, st := range []*compare.ServerStat{r.Baseline, r.Candidate} {
			if st == nil {
				row = append(row, "n/a", "n/a", "n/a", "n/a")
				continue
			}
			row = append(row, num(st.Calls), fnum(st.ExecMS), fnum(st.MeanMS), num(st.SharedBlksRead))
		}
		row = append(row, ratioOf(r.RatioMean))
		t.rows = append(t.rows, row)
	}
	s.tables = append(s.tables, t)
	s.notes = append(s.notes, sq.Caveats...)
	return s
}

func aas(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}

func change(p *float64) string {
	if p == nil {
		return "n/a"
	}
	if *p >= 0 {
		return "+" + strconv.FormatFloat(*p, 'f', 2, 64)
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}
