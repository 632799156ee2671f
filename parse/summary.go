package parse

import (
	"sort"
	"time"
)

// Summary is what a parse found. It is printed at the end of a parse
// (`--json` prints it as is: other tools read these keys) and stored as
// the workload file's trailer.
type Summary struct {
	// Sessions counts client sessions that completed startup, with or
	// without statements. Failed logins, cancel requests and probe
	// connections are not sessions.
	Sessions int64 `json:"sessions"`
	// Statements counts the statement entries kept in the workload
	// (statement:, execute NAME:, duration: ... statement|execute), the
	// ones marked not replayable included.
	Statements int64 `json:"statements"`
	// Errors counts ERROR, FATAL and PANIC entries of client connections.
	Errors int64 `json:"errors"`
	// First and Last bound the capture window (RFC 3339, UTC): the first
	// and last client event kept.
	First string `json:"first"`
	Last  string `json:"last"`
	// Databases and Users list the sessions' databases and users, sorted.
	Databases []string `json:"databases"`
	Users     []string `json:"users"`
	// Skipped counts log entries that did not become statements, by reason.
	Skipped map[string]int64 `json:"skipped"`

	StatementsByProtocol map[string]int64 `json:"statements_by_protocol"`
	// NotReplayable counts statements kept but marked, by reason.
	NotReplayable map[string]int64 `json:"not_replayable"`
	// WithDuration counts statements whose server-side duration the log had.
	WithDuration int64 `json:"with_duration"`
	// WithParams counts statements with bound parameters.
	WithParams int64 `json:"with_parameters"`
	// ErrorsBySQLState counts client errors by SQLSTATE ("unknown" when the
	// log has none and the message was not recognised); ErrorsByClass by
	// its first two characters.
	ErrorsBySQLState map[string]int64 `json:"errors_by_sqlstate"`
	ErrorsByClass    map[string]int64 `json:"errors_by_class"`
	// SQLStatesInferred is true when SQLSTATEs were derived from messages.
	SQLStatesInferred bool `json:"sqlstates_inferred,omitempty"`
	// Pipelined counts extended statements production sent in the same
	// implicit transaction as the one before them (one Sync for several);
	// GroupingUnknown counts those the log could not tell either way
	// because it has no virtual transaction ids (%v in log_line_prefix).
	Pipelined       int64 `json:"pipelined"`
	GroupingUnknown int64 `json:"grouping_unknown,omitempty"`
	// Commits counts the ends of transactions that wrote (commits,
	// rollbacks, failures), the points replay --sync orders sessions by;
	// LockWaits the waits log_lock_waits reported, LockWaitsUnresolved
	// those whose holder the log did not show.
	Commits             int64 `json:"commits"`
	LockWaits           int64 `json:"lock_waits,omitempty"`
	LockWaitsUnresolved int64 `json:"lock_waits_unresolved,omitempty"`

	PeakSessions            int64       `json:"peak_concurrent_sessions"`
	PeakStatementsPerSecond int64       `json:"peak_statements_per_second"`
	TopDatabases            []NameCount `json:"top_databases"`
	TopUsers                []NameCount `json:"top_users"`

	// Entries counts log entries read (a stderr entry with its DETAIL and
	// STATEMENT lines is one entry).
	Entries int64 `json:"entries"`
	// Bytes counts input bytes read (compressed size for compressed files).
	Bytes int64 `json:"bytes"`
	// Files describes each input.
	Files []FileSummary `json:"files"`
	// Problems lists the first few malformed entries (file, line, reason).
	Problems []Problem `json:"problems,omitempty"`
	// LateUpdates counts durations and errors written after their
	// statement (see Update events); OutOfOrder counts frames written
	// earlier in time than a frame before them.
	LateUpdates int64 `json:"late_updates"`
	OutOfOrder  int64 `json:"out_of_order"`

	// Complete is false when the parse stopped early: Interrupted (Ctrl-C)
	// or Damage (a corrupt or truncated input; what was read before it is
	// kept).
	Complete    bool   `json:"complete"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Damage      string `json:"damage,omitempty"`

	// FirstUS and LastUS are First and Last in Unix microseconds.
	FirstUS int64 `json:"first_us"`
	LastUS  int64 `json:"last_us"`
}

// NameCount is a name with a count, for top lists.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// FileSummary describes one input file.
type FileSummary struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	Prefix      string `json:"log_line_prefix,omitempty"`
	Compression string `json:"compression,omitempty"`
	Entries     int64  `json:"entries"`
	Bytes       int64  `json:"bytes"`
	// Unreadable counts the file's lines (or records) that match neither
	// its format nor its log_line_prefix: counted among the malformed,
	// and more than 10 % of the file's entries fail the parse.
	Unreadable int64 `json:"unreadable,omitempty"`
	// CutLastLine is set when the file ends without a newline: its last
	// entry was cut off and left out (counted as cut_off).
	CutLastLine bool `json:"cut_last_line,omitempty"`
}

// Problem is one malformed entry.
type Problem struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

// Window returns the capture window.
func (s *Summary) Window() (first, last time.Time) {
	if s.FirstUS == 0 {
		return time.Time{}, time.Time{}
	}
	return time.UnixMicro(s.FirstUS).UTC(), time.UnixMicro(s.LastUS).UTC()
}

func newSummary() *Summary {
	return &Summary{
		Skipped:              map[string]int64{},
		StatementsByProtocol: map[string]int64{"simple": 0, "extended": 0, "prepared": 0},
		NotReplayable:        map[string]int64{},
		ErrorsBySQLState:     map[string]int64{},
		ErrorsByClass:        map[string]int64{},
		Databases:            []string{},
		Users:                []string{},
		TopDatabases:         []NameCount{},
		TopUsers:             []NameCount{},
	}
}

func topN(m map[string]int64, n int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, v := range m {
		out = append(out, NameCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func rfc3339(us int64) string {
	if us == 0 {
		return ""
	}
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// tally keeps the running figures of a parse that the summary is completed
// from at the end: open sessions, statements per second, databases and
// users.
type tally struct {
	open      int64
	secCounts [64]int64
	secOf     [64]int64
	dbs       map[string]bool
	users     map[string]bool
	dbCount   map[string]int64
	userCount map[string]int64
}

func newTally() tally {
	return tally{
		dbs: map[string]bool{}, users: map[string]bool{},
		dbCount: map[string]int64{}, userCount: map[string]int64{},
	}
}

// sessionOpened counts a session written to the workload.
func (t *tally) sessionOpened(sum *Summary, s *session) {
	sum.Sessions++
	if s.db != "" {
		t.dbs[s.db] = true
	}
	if s.user != "" {
		t.users[s.user] = true
	}
	t.open++
	if t.open > sum.PeakSessions {
		sum.PeakSessions = t.open
	}
}

// statement counts a statement written to the workload.
func (t *tally) statement(sum *Summary, s *session, p *pending) {
	sum.Statements++
	sum.StatementsByProtocol[p.ev.Protocol.String()]++
	if p.ev.Skip != Replayable {
		sum.NotReplayable[p.ev.Skip.String()]++
	}
	if p.ev.Duration >= 0 {
		sum.WithDuration++
	}
	if len(p.ev.Params) > 0 {
		sum.WithParams++
	}
	if s.db != "" {
		t.dbCount[s.db]++
	}
	if s.user != "" {
		t.userCount[s.user]++
	}
	sec := p.time / 1_000_000
	slot := sec & 63
	if t.secOf[slot] != sec {
		t.secOf[slot] = sec
		t.secCounts[slot] = 0
	}
	t.secCounts[slot]++
	if t.secCounts[slot] > sum.PeakStatementsPerSecond {
		sum.PeakStatementsPerSecond = t.secCounts[slot]
	}
}

// complete fills the summary's lists and window from the figures.
func (t *tally) complete(sum *Summary) {
	sum.Databases = sortedKeys(t.dbs)
	sum.Users = sortedKeys(t.users)
	sum.TopDatabases = topN(t.dbCount, 5)
	sum.TopUsers = topN(t.userCount, 5)
	sum.First = rfc3339(sum.FirstUS)
	sum.Last = rfc3339(sum.LastUS)
}
