package compare

import (
	"fmt"
	"sort"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// ServerQueries are the servers' own figures per normalised query, from
// pg_stat_statements on both sides: calls, execution time and block
// reads, grouped by the same fingerprint as the latency tables.
type ServerQueries struct {
	BaselineSource  string        `json:"baseline_source,omitempty"`
	CandidateSource string        `json:"candidate_source,omitempty"`
	Rows            []ServerQuery `json:"rows"`
	Caveats         []string      `json:"caveats,omitempty"`
}

// ServerQuery is one normalised query's server-side work on both sides.
type ServerQuery struct {
	Fingerprint string      `json:"fingerprint"`
	Query       string      `json:"query"`
	Baseline    *ServerStat `json:"baseline"`
	Candidate   *ServerStat `json:"candidate"`
	// RatioMean is the candidate's mean execution time over the
	// baseline's (0 without both).
	RatioMean float64 `json:"ratio_mean,omitempty"`
}

// ServerStat is what pg_stat_statements counted for a query over a
// window.
type ServerStat struct {
	Calls          int64   `json:"calls"`
	ExecMS         float64 `json:"total_exec_ms"`
	MeanMS         float64 `json:"mean_exec_ms"`
	SharedBlksRead int64   `json:"shared_blks_read"`
	SharedBlksHit  int64   `json:"shared_blks_hit"`
	TempBlks       int64   `json:"temp_blks"`
}

// addServerQueries sets the per-query server statistics when either
// side has them; top limits the rows (most candidate time first).
func (c *Comparison) addServerQueries(base, cand *metrics.Set, top int) {
	var bs, cs *metrics.Statements
	if base != nil {
		bs = base.Statements
	}
	if cand != nil {
		cs = cand.Statements
	}
	if bs == nil && cs == nil {
		return
	}
	if top <= 0 {
		top = 10
	}
	sq := &ServerQueries{}
	fps := &fingerprint.Cache{}
	rows := map[fingerprint.ID]*ServerQuery{}
	add := func(st *metrics.Statements, side int) {
		for _, r := range st.Rows {
			id, norm := fps.Lookup(r.Query)
			row := rows[id]
			if row == nil {
				row = &ServerQuery{Fingerprint: id.String(), Query: norm}
				rows[id] = row
			}
			p := &row.Baseline
			if side == 1 {
				p = &row.Candidate
			}
			if *p == nil {
				*p = &ServerStat{}
			}
			s := *p
			s.Calls += r.Calls
			s.ExecMS += r.ExecMS
			s.SharedBlksRead += r.SharedBlksRead
			s.SharedBlksHit += r.SharedBlksHit
			s.TempBlks += r.TempBlksRead + r.TempBlksWritten
		}
	}
	if bs != nil {
		sq.BaselineSource = bs.Source
		for _, cv := range bs.Caveats {
			sq.Caveats = append(sq.Caveats, "baseline: "+cv)
		}
		add(bs, 0)
	} else {
		sq.Caveats = append(sq.Caveats, "the baseline's source has no pg_stat_statements figures (sample it with pgrehearse sample on a server with the extension)")
	}
	if cs != nil {
		sq.CandidateSource = cs.Source
		for _, cv := range cs.Caveats {
			sq.Caveats = append(sq.Caveats, "candidate: "+cv)
		}
		add(cs, 1)
	} else {
		sq.Caveats = append(sq.Caveats, "the candidate's source has no pg_stat_statements figures")
	}
	var list []ServerQuery
	for _, r := range rows {
		for _, s := range []*ServerStat{r.Baseline, r.Candidate} {
			if s != nil && s.Calls > 0 {
				s.MeanMS = s.ExecMS / float64(s.Calls)
			}
		}
		if r.Baseline != nil && r.Candidate != nil && r.Baseline.MeanMS > 0 {
			r.RatioMean = r.Candidate.MeanMS / r.Baseline.MeanMS
		}
		list = append(list, *r)
	}
	key := func(r ServerQuery) float64 {
		if r.Candidate != nil {
			return r.Candidate.ExecMS
		}
		return r.Baseline.ExecMS
	}
	sort.Slice(list, func(i, j int) bool {
		return key(list[i]) > key(list[j]) || key(list[i]) == key(list[j]) && list[i].Fingerprint < list[j].Fingerprint
	})
	if len(list) > top {
		sq.Caveats = append(sq.Caveats, fmt.Sprintf("the %d queries with the most execution time on the candidate of %d", top, len(list)))
		list = list[:top]
	}
	sq.Rows = list
	sq.Caveats = dedupe(sq.Caveats)
	c.ServerQueries = sq
}
