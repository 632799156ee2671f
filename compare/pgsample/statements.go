package pgsample

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// Tag starts every statement the sampler sends, so that its own
// statements can be told apart in pg_stat_statements (which keeps
// comments in the text it stores) and left out.
const Tag = "/* pgrehearse-sample */ "

// StatementsEvery is how often the sampler snapshots pg_stat_statements
// between the first snapshot and the last; a sampler killed outright
// still leaves the snapshots it took.
const StatementsEvery = 5 * time.Minute

// Snapshot is pg_stat_statements at one time, one row per queryid.
type Snapshot struct {
	T    time.Time           `json:"t"`
	Rows []metrics.QueryStat `json:"rows"`
}

// statementsQuery reads pg_stat_statements summed per queryid over users
// and databases (and top-level or not), without the sampler's own
// statements. total_exec_time is total_time before PostgreSQL 13.
func statementsQuery(version int) string {
	exec := "total_exec_time"
	if version < 130000 {
		exec = "total_time"
	}
	return Tag + `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), coalesce(json_agg(s), '[]')
FROM (SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::bigint AS calls, sum(` + exec + `)::float8 AS total_exec_ms,
    sum(rows)::bigint AS rows, sum(shared_blks_hit)::bigint AS shared_blks_hit, sum(shared_blks_read)::bigint AS shared_blks_read,
    sum(temp_blks_read)::bigint AS temp_blks_read, sum(temp_blks_written)::bigint AS temp_blks_written
  FROM pg_stat_statements WHERE queryid IS NOT NULL AND query NOT LIKE '` + strings.TrimSpace(Tag) + `%' GROUP BY queryid) s`
}

// statementsReader says whether pg_stat_statements can be read, setting
// the header's Statements or StatementsWhyNot.
func statementsReader(ctx context.Context, c *pgconn.PgConn, h *Header) bool {
	v, err := scalar(ctx, c, Tag+"SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'), '')")
	switch {
	case err != nil:
		h.StatementsWhyNot = fmt.Sprintf("could not look for pg_stat_statements: %v", err)
		return false
	case v == "":
		h.StatementsWhyNot = "the pg_stat_statements extension is not installed in " + h.Target + ": add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements for the server's own per-query figures"
		return false
	}
	if _, err := snapshot(ctx, c, h.ServerVersion); err != nil {
		h.StatementsWhyNot = fmt.Sprintf("pg_stat_statements %s cannot be read: %v (it needs shared_preload_libraries = 'pg_stat_statements', and pg_read_all_stats for other users' query texts)", v, err)
		return false
	}
	h.Statements = "pg_stat_statements " + v
	return true
}

// snapshot reads pg_stat_statements once.
func snapshot(ctx context.Context, c *pgconn.PgConn, version int) (*Snapshot, error) {
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := c.Exec(qctx, statementsQuery(version)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 2 {
		return nil, fmt.Errorf("pg_stat_statements: unexpected result shape")
	}
	row := res[0].Rows[0]
	s := &Snapshot{}
	if s.T, err = time.Parse(time.RFC3339Nano, string(row[0])); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(row[1], &s.Rows); err != nil {
		return nil, fmt.Errorf("pg_stat_statements rows: %w", err)
	}
	return s, nil
}

// statements derives the per-query figures over w from the snapshots
// nearest its edges: the last at or before the start (else the first),
// and the first at or after the end (else the last).
func (f *File) statements(w metrics.Window) (*metrics.Statements, string) {
	if f.Header.Statements == "" {
		if f.Header.StatementsWhyNot != "" {
			return nil, "statements: " + f.Header.StatementsWhyNot
		}
		return nil, ""
	}
	if len(f.Snapshots) < 2 {
		return nil, fmt.Sprintf("statements: %d pg_stat_statements snapshots in the file, and the figures need two around the window", len(f.Snapshots))
	}
	from, to := f.Snapshots[0], f.Snapshots[len(f.Snapshots)-1]
	for _, s := range f.Snapshots {
		if !s.T.After(w.Start) {
			from = s
		}
	}
	for i := len(f.Snapshots) - 1; i >= 0; i-- {
		if !f.Snapshots[i].T.Before(w.End) {
			to = f.Snapshots[i]
		}
	}
	if !to.T.After(from.T) {
		return nil, "statements: no two pg_stat_statements snapshots span the window"
	}
	before := map[string]metrics.QueryStat{}
	for _, r := range from.Rows {
		before[r.QueryID] = r
	}
	out := &metrics.Statements{Source: "pg " + f.Header.Target + " " + f.Header.Statements, From: from.T, To: to.T}
	reset := 0
	for _, r := range to.Rows {
		b := before[r.QueryID]
		d := metrics.QueryStat{QueryID: r.QueryID, Query: r.Query, Calls: r.Calls - b.Calls, ExecMS: r.ExecMS - b.ExecMS, Rows: r.Rows - b.Rows,
			SharedBlksHit: r.SharedBlksHit - b.SharedBlksHit, SharedBlksRead: r.SharedBlksRead - b.SharedBlksRead,
			TempBlksRead: r.TempBlksRead - b.TempBlksRead, TempBlksWritten: r.TempBlksWritten - b.TempBlksWritten}
		switch {
		case d.Calls < 0 || d.ExecMS < 0:
			reset++ // reset, or evicted and back: not a difference
		case d.Calls > 0:
			out.Rows = append(out.Rows, d)
		}
	}
	sort.Slice(out.Rows, func(i, j int) bool { return out.Rows[i].ExecMS > out.Rows[j].ExecMS })
	out.Caveats = append(out.Caveats, fmt.Sprintf("pg_stat_statements between its snapshots at %s and %s, the nearest to the window", from.T.Format("15:04:05"), to.T.Format("15:04:05")))
	if reset > 0 {
		out.Caveats = append(out.Caveats, fmt.Sprintf("%d queries were reset or evicted between the snapshots (pg_stat_statements_reset, pg_stat_statements.max) and are left out", reset))
	}
	return out, ""
}
