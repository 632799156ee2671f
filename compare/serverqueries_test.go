package compare

import (
	"testing"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// TestServerQueries: pg_stat_statements rows of both sides meet under
// the workload's fingerprint (a literal and a $1 are the same query),
// summed when several queryids normalise alike.
func TestServerQueries(t *testing.T) {
	base := &metrics.Set{Statements: &metrics.Statements{Source: "pg base", Rows: []metrics.QueryStat{
		{QueryID: "1", Query: "SELECT * FROM t WHERE id = $1", Calls: 100, ExecMS: 50, SharedBlksRead: 10},
		{QueryID: "2", Query: "UPDATE t SET v = $1 WHERE id = $2", Calls: 10, ExecMS: 20},
	}}}
	cand := &metrics.Set{Statements: &metrics.Statements{Source: "pg cand", Rows: []metrics.QueryStat{
		{QueryID: "7", Query: "SELECT * FROM t WHERE id = $1", Calls: 60, ExecMS: 60, SharedBlksRead: 30, TempBlksWritten: 4},
		{QueryID: "8", Query: "select * from t where id = 5", Calls: 40, ExecMS: 40, SharedBlksRead: 5},
	}}}
	c := &Comparison{}
	c.addServerQueries(base, cand, 10)
	sq := c.ServerQueries
	if sq == nil || len(sq.Rows) != 2 {
		t.Fatalf("%+v", sq)
	}
	r := sq.Rows[0]
	if r.Candidate == nil || r.Baseline == nil || r.Candidate.Calls != 100 || r.Candidate.ExecMS != 100 || r.Candidate.SharedBlksRead != 35 ||
		r.Candidate.TempBlks != 4 || r.Baseline.MeanMS != 0.5 || r.RatioMean != 2 || r.Fingerprint == "" {
		t.Errorf("row %+v %+v %+v", r, r.Baseline, r.Candidate)
	}
	if u := sq.Rows[1]; u.Candidate != nil || u.Baseline.Calls != 10 {
		t.Errorf("baseline-only row %+v", u)
	}
}
