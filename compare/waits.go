package compare

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// Waits is where each cluster's database load went, side by side: the
// largest wait events and statements by average active sessions, from
// Performance Insights, the baseline over the capture window and the
// candidate over the replay window.
type Waits struct {
	BaselineSource  string `json:"baseline_source,omitempty"`
	CandidateSource string `json:"candidate_source,omitempty"`
	BaselineEngine  string `json:"baseline_engine,omitempty"`
	CandidateEngine string `json:"candidate_engine,omitempty"`
	// BaselineTotal and CandidateTotal are the whole load (AAS), nil
	// where a side has no Performance Insights.
	BaselineTotal  *float64  `json:"baseline_total_aas"`
	CandidateTotal *float64  `json:"candidate_total_aas"`
	Events         []LoadRow `json:"wait_events"`
	SQL            []LoadRow `json:"top_sql"`
	Caveats        []string  `json:"caveats,omitempty"`
}

// LoadRow is one wait event or statement on both sides.
type LoadRow struct {
	Name      string   `json:"name"`
	Type      string   `json:"type,omitempty"`
	Baseline  *float64 `json:"baseline_aas"`
	Candidate *float64 `json:"candidate_aas"`
	// Change is candidate minus baseline, in AAS; nil when a side lacks
	// the row.
	Change *float64 `json:"change"`
	// Note says what the wait event means on Aurora against community
	// PostgreSQL, when one side is Aurora.
	Note string `json:"note,omitempty"`
}

// waitTop is how many rows each table keeps.
const waitTop = 10

// auroraWaits are the wait events whose meaning differs between Aurora
// PostgreSQL and community PostgreSQL (RDS for PostgreSQL included).
var auroraWaits = map[string]string{
	"IO:XactSync":                       "Aurora only: a commit waiting for the storage quorum to acknowledge its log records; community PostgreSQL waits for its own WAL flush instead (IO:WALSync, IO:WALWrite, LWLock:WALWrite)",
	"IO:WALSync":                        "community PostgreSQL: a commit flushing WAL to the local disk; Aurora ships log records to storage and waits on IO:XactSync instead",
	"IO:WALWrite":                       "community PostgreSQL: writing WAL to the local disk; Aurora has no WAL files of its own and waits on IO:XactSync instead",
	"LWLock:WALWrite":                   "community PostgreSQL: waiting for another backend's WAL write; on Aurora commits wait on IO:XactSync instead",
	"IO:DataFileRead":                   "a read that missed shared buffers: on community PostgreSQL often served by the OS page cache, on Aurora always a read from the cluster volume over the network (no page cache)",
	"IO:BufFileRead":                    "temporary files (work_mem exceeded): Aurora keeps them on the instance's local storage, not on the cluster volume",
	"IO:BufFileWrite":                   "temporary files (work_mem exceeded): Aurora keeps them on the instance's local storage, not on the cluster volume",
	"CPU":                               "on CPU or waiting for it: Performance Insights counts an active session without a wait event as CPU, on both",
	"IPC:DamRecordTxAck":                "Aurora with Database Activity Streams only: a session waiting for the stream to take its record",
	"IO:AuroraOptimizedReadsCacheRead":  "Aurora Optimized Reads only: a read from the instance's local NVMe cache tier",
	"IO:AuroraOptimizedReadsCacheWrite": "Aurora Optimized Reads only: a write to the instance's local NVMe cache tier",
}

func isAurora(engine string) bool { return strings.Contains(strings.ToLower(engine), "aurora") }

// addWaits sets the wait events side by side when either side has them.
func (c *Comparison) addWaits(base, cand *metrics.Set) {
	var bw, cw *metrics.Waits
	if base != nil {
		bw = base.Waits
	}
	if cand != nil {
		cw = cand.Waits
	}
	if bw == nil && cw == nil {
		return
	}
	speed := c.Fidelity.Speed
	if speed <= 0 {
		speed = 1
	}
	w := &Waits{}
	f := func(v float64) *float64 { return &v }
	if bw != nil {
		w.BaselineSource, w.BaselineEngine, w.BaselineTotal = bw.Source, bw.Engine, f(bw.TotalAAS)
		w.Caveats = append(w.Caveats, bw.Caveats...)
	} else {
		w.Caveats = append(w.Caveats, "the baseline's source has no Performance Insights: only the candidate's load is shown")
	}
	if cw != nil {
		w.CandidateSource, w.CandidateEngine, w.CandidateTotal = cw.Source, cw.Engine, f(cw.TotalAAS/speed)
		w.Caveats = append(w.Caveats, cw.Caveats...)
	} else {
		w.Caveats = append(w.Caveats, "the candidate's source has no Performance Insights: only the baseline's load is shown")
	}
	if speed != 1 {
		w.Caveats = append(w.Caveats, fmt.Sprintf("replayed at speed %g: the candidate's load is divided by %g to compare per unit of workload", speed, speed))
	}
	aurora := isAurora(w.BaselineEngine) || isAurora(w.CandidateEngine)
	get := func(ws *metrics.Waits, sql bool) []metrics.Load {
		if ws == nil {
			return nil
		}
		if sql {
			return ws.SQL
		}
		return ws.Events
	}
	for _, sql := range []bool{false, true} {
		rows := loadRows(get(bw, sql), get(cw, sql), speed)
		for i := range rows {
			if aurora && !sql {
				rows[i].Note = auroraWaits[rows[i].Name]
			}
		}
		if sql {
			w.SQL = rows
		} else {
			w.Events = rows
		}
	}
	if bw != nil && cw != nil {
		w.Caveats = append(w.Caveats, fmt.Sprintf("a row missing on one side was not among that side's top %d", waitTop))
	}
	w.Caveats = dedupe(w.Caveats)
	c.Waits = w
}

// loadRows joins two sides' loads by name, largest first.
func loadRows(base, cand []metrics.Load, speed float64) []LoadRow {
	byName := map[string]*LoadRow{}
	var order []string
	row := func(l metrics.Load) *LoadRow {
		r := byName[l.Name]
		if r == nil {
			r = &LoadRow{Name: l.Name, Type: l.Type}
			byName[l.Name] = r
			order = append(order, l.Name)
		}
		return r
	}
	for _, l := range base {
		v := l.AAS
		row(l).Baseline = &v
	}
	for _, l := range cand {
		v := l.AAS / speed
		row(l).Candidate = &v
	}
	rows := make([]LoadRow, 0, len(order))
	for _, n := range order {
		r := *byName[n]
		if r.Baseline != nil && r.Candidate != nil {
			d := *r.Candidate - *r.Baseline
			r.Change = &d
		}
		rows = append(rows, r)
	}
	most := func(r LoadRow) float64 {
		v := 0.0
		for _, p := range []*float64{r.Baseline, r.Candidate} {
			if p != nil {
				v = max(v, *p)
			}
		}
		return v
	}
	sort.SliceStable(rows, func(i, j int) bool { return most(rows[i]) > most(rows[j]) })
	return rows[:min(len(rows), waitTop)]
}

// AuroraWaitNote says how the wait event name means something else on
// Aurora than on community PostgreSQL, "" when it does not.
func AuroraWaitNote(name string) string { return auroraWaits[name] }
