package metrics

import "time"

// Load is the database load of one wait event or one statement over a
// window, in average active sessions: the time sessions spent in it per
// second of the window.
type Load struct {
	// Name is the wait event ("IO:DataFileRead", "CPU") or the statement
	// text (tokenized, at most 500 bytes: Performance Insights cuts it).
	Name string `json:"name"`
	// Type is the wait event's type ("IO", "LWLock", "CPU"), empty for
	// statements.
	Type string `json:"type,omitempty"`
	// ID identifies a statement across windows (db.sql_tokenized.id).
	ID  string  `json:"id,omitempty"`
	AAS float64 `json:"aas"`
}

// Waits is where one cluster's database load went over a window.
type Waits struct {
	// Source names where the figures came from, precisely enough to
	// check them by hand.
	Source string `json:"source"`
	// Engine is the instance's engine ("postgres", "aurora-postgresql"):
	// wait events of the same name mean different things on the two.
	Engine string `json:"engine,omitempty"`
	// Period is the resolution the load was read at.
	Period time.Duration `json:"period"`
	// TotalAAS is the whole load over the window; the events and
	// statements below are its largest parts.
	TotalAAS float64  `json:"total_aas"`
	Events   []Load   `json:"wait_events"`
	SQL      []Load   `json:"top_sql"`
	Caveats  []string `json:"caveats,omitempty"`
}

// QueryStat is one statement's share of the server's own work over a
// window, from pg_stat_statements: the difference of two snapshots,
// summed over users and databases.
type QueryStat struct {
	QueryID string `json:"queryid"`
	// Query is the text pg_stat_statements keeps, constants replaced by
	// $1, $2...
	Query           string  `json:"query"`
	Calls           int64   `json:"calls"`
	ExecMS          float64 `json:"total_exec_ms"`
	Rows            int64   `json:"rows"`
	SharedBlksHit   int64   `json:"shared_blks_hit"`
	SharedBlksRead  int64   `json:"shared_blks_read"`
	TempBlksRead    int64   `json:"temp_blks_read"`
	TempBlksWritten int64   `json:"temp_blks_written"`
}

// Statements are the per-query statistics of one cluster over a window.
type Statements struct {
	Source string `json:"source"`
	// From and To are the snapshots the difference was taken between:
	// the nearest to the window's edges, so they may cover a little more.
	From    time.Time   `json:"from"`
	To      time.Time   `json:"to"`
	Rows    []QueryStat `json:"rows"`
	Caveats []string    `json:"caveats,omitempty"`
}
