package replay

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// The collation pre-flight. A major-version upgrade, a new OS image or a
// new engine can change how text sorts without any error: another glibc
// (2.28 reordered most locales) or ICU version, another locale provider,
// another default collation. ORDER BY then returns rows in another order,
// a WHERE name < 'a' counts other rows, and B-tree indexes built under the
// old order are silently corrupt on the new one. Before replaying, the
// candidate's databases are set beside the control's (which runs the
// baseline's engine): provider, LC_COLLATE/LC_CTYPE, ICU locale, the
// collation versions recorded against what the server's libraries have
// now, and the libc and ICU versions the server reports; what differs
// is listed with the indexes on text it touches, and with checkIndexes
// those indexes are verified with amcheck on the candidate.

// CollationCheck is what the pre-flight found.
type CollationCheck struct {
	Candidate ClusterCollation `json:"candidate"`
	// Control is nil when the check ran on the candidate alone.
	Control *ClusterCollation `json:"control,omitempty"`
	// Differences says in words what differs, and what is stale on the
	// candidate (a collation version that is not the library's now).
	Differences []string `json:"differences,omitempty"`
	// Indexes are the candidate's indexes on text that use a collation
	// which differs or is stale.
	Indexes []CollationIndex `json:"indexes,omitempty"`
	// IndexesChecked is set when the indexes were verified with amcheck.
	IndexesChecked bool     `json:"indexes_checked,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

// ClusterCollation are one cluster's collation facts.
type ClusterCollation struct {
	Target        string `json:"target"`
	ServerVersion string `json:"server_version"`
	// LibcVersion and ICUVersion are the versions the server reports for
	// its collation libraries (pg_collation_actual_version): glibc's
	// version, and the ICU collator's ("153.120"); "" when it has no
	// collation to tell (no libc locale but C, no ICU).
	LibcVersion string              `json:"libc_version,omitempty"`
	ICUVersion  string              `json:"icu_version,omitempty"`
	Databases   []DatabaseCollation `json:"databases"`
}

// DatabaseCollation is one database's default collation.
type DatabaseCollation struct {
	Name      string `json:"name"`
	Provider  string `json:"provider"` // "libc" or "icu"
	Collate   string `json:"collate"`
	Ctype     string `json:"ctype"`
	ICULocale string `json:"icu_locale,omitempty"`
	// Version is the collation version recorded when the database was
	// made (datcollversion), ActualVersion what the library has now.
	Version       string `json:"version,omitempty"`
	ActualVersion string `json:"actual_version,omitempty"`
	// Stale lists the database's collations whose recorded version is not
	// the library's now.
	Stale []StaleCollation `json:"stale,omitempty"`
	// oids of its collations by provider, for the index lookup.
	icu, libc []uint32
}

// StaleCollation is a collation whose recorded version differs from the
// library's.
type StaleCollation struct {
	Name     string `json:"name"`
	Recorded string `json:"recorded"`
	Actual   string `json:"actual"`
	oid      uint32
}

// CollationIndex is an index whose order a collation difference touches.
type CollationIndex struct {
	Database   string `json:"database"`
	Index      string `json:"index"`
	Table      string `json:"table"`
	Definition string `json:"definition"`
	Method     string `json:"method"`
	Reason     string `json:"reason"`
	// Check is amcheck's verdict with --check-indexes: "ok", or the error
	// it raised ("item order invariant violated ..."), or why it was not
	// checked.
	Check string `json:"check,omitempty"`
}

// Corrupt reports whether amcheck found the index out of order.
func (ci *CollationIndex) Corrupt() bool {
	return ci.Check != "" && ci.Check != "ok" && !strings.HasPrefix(ci.Check, "not checked")
}

// maxDatabases bounds how many databases of a cluster are looked at.
const maxDatabases = 64

// CheckCollations runs the pre-flight on the candidate and, when control
// is not nil, the control. With checkIndexes the affected indexes are
// verified with amcheck on the candidate (CREATE EXTENSION IF NOT EXISTS
// amcheck, then bt_index_check on each B-tree).
func CheckCollations(ctx context.Context, candidate, control *pgconn.Config, checkIndexes bool) (*CollationCheck, error) {
	cc := &CollationCheck{}
	cand, err := readCollations(ctx, candidate)
	if err != nil {
		return nil, fmt.Errorf("collation pre-flight on the candidate: %w", err)
	}
	cc.Candidate = *cand
	var ctl *ClusterCollation
	if control != nil {
		if ctl, err = readCollations(ctx, control); err != nil {
			return nil, fmt.Errorf("collation pre-flight on the control: %w", err)
		}
		cc.Control = ctl
	}
	for i := range cand.Databases {
		d := &cand.Databases[i]
		var other *DatabaseCollation
		if ctl != nil {
			if other = ctl.database(d.Name); other == nil {
				cc.Notes = append(cc.Notes, fmt.Sprintf("database %s is on the candidate but not on the control", d.Name))
			}
		}
		oids, reasons := cc.affected(d, other, cand, ctl)
		if len(oids) == 0 {
			continue
		}
		idx, err := affectedIndexes(ctx, candidate, d.Name, oids, reasons)
		if err != nil {
			cc.Notes = append(cc.Notes, fmt.Sprintf("indexes of database %s not listed: %v", d.Name, err))
			continue
		}
		if checkIndexes {
			checkWithAmcheck(ctx, candidate, d.Name, idx)
		}
		cc.Indexes = append(cc.Indexes, idx...)
	}
	cc.IndexesChecked = checkIndexes && len(cc.Indexes) > 0
	if ctl != nil {
		for _, d := range ctl.Databases {
			if cand.database(d.Name) == nil {
				cc.Notes = append(cc.Notes, fmt.Sprintf("database %s is on the control but not on the candidate", d.Name))
			}
		}
	}
	return cc, nil
}

func (cl *ClusterCollation) database(name string) *DatabaseCollation {
	for i := range cl.Databases {
		if cl.Databases[i].Name == name {
			return &cl.Databases[i]
		}
	}
	return nil
}

// describe is a database's default collation in words.
func (d *DatabaseCollation) describe() string {
	if d.Provider == "icu" {
		return fmt.Sprintf("ICU %s (LC_COLLATE %s)", d.ICULocale, d.Collate)
	}
	if d.Collate == d.Ctype {
		return "libc " + d.Collate
	}
	return fmt.Sprintf("libc %s (LC_CTYPE %s)", d.Collate, d.Ctype)
}

// byteOrder reports whether the database sorts text by bytes (C, POSIX,
// C.UTF-8), which no library version changes.
func (d *DatabaseCollation) byteOrder() bool {
	return d.Provider == "libc" && byteOrderLocale(d.Collate)
}

func byteOrderLocale(l string) bool {
	return l == "C" || l == "POSIX" || strings.HasPrefix(l, "C.")
}

// affected returns the collations of database d on the candidate whose
// order may differ from the control's, or is stale, with the reason for
// each (other is the control's database, nil without one).
func (cc *CollationCheck) affected(d, other *DatabaseCollation, cand, ctl *ClusterCollation) ([]uint32, map[uint32]string) {
	reasons := map[uint32]string{}
	add := func(oid uint32, why string) {
		if _, ok := reasons[oid]; !ok {
			reasons[oid] = why
		}
	}
	const defaultCollation = 100
	if other != nil {
		switch {
		case d.describe() != other.describe():
			why := fmt.Sprintf("database %s: default collation %s on the candidate, %s on the control", d.Name, d.describe(), other.describe())
			cc.Differences = append(cc.Differences, why)
			if !(d.byteOrder() && other.byteOrder()) {
				add(defaultCollation, why)
			}
		case d.ActualVersion != other.ActualVersion && !d.byteOrder():
			why := fmt.Sprintf("database %s: collation version %s on the candidate, %s on the control", d.Name, orUnknown(d.ActualVersion), orUnknown(other.ActualVersion))
			cc.Differences = append(cc.Differences, why)
			add(defaultCollation, why)
		}
	}
	if d.Version != "" && d.ActualVersion != "" && d.Version != d.ActualVersion {
		why := fmt.Sprintf("database %s on the candidate: collation version %s recorded, the library has %s now", d.Name, d.Version, d.ActualVersion)
		cc.Differences = append(cc.Differences, why)
		add(defaultCollation, why)
	}
	for _, s := range d.Stale {
		why := fmt.Sprintf("database %s on the candidate: collation %s has version %s recorded, the library has %s now", d.Name, s.Name, s.Recorded, s.Actual)
		cc.Differences = append(cc.Differences, why)
		add(s.oid, why)
	}
	if ctl != nil {
		if cand.ICUVersion != ctl.ICUVersion && len(d.icu) > 0 {
			why := fmt.Sprintf("ICU collation version %s on the candidate, %s on the control", orUnknown(cand.ICUVersion), orUnknown(ctl.ICUVersion))
			for _, oid := range d.icu {
				add(oid, why)
			}
			if d.Provider == "icu" {
				add(defaultCollation, why)
			}
		}
		if cand.LibcVersion != ctl.LibcVersion && cand.LibcVersion != "" && ctl.LibcVersion != "" {
			why := fmt.Sprintf("libc version %s on the candidate, %s on the control", cand.LibcVersion, ctl.LibcVersion)
			for _, oid := range d.libc {
				add(oid, why)
			}
			if !d.byteOrder() && d.Provider == "libc" {
				add(defaultCollation, why)
			}
		}
	}
	var oids []uint32
	for oid := range reasons {
		oids = append(oids, oid)
	}
	sort.Slice(oids, func(i, j int) bool { return oids[i] < oids[j] })
	return oids, reasons
}

// LibraryDifferences says how the clusters' collation libraries differ:
// the ICU collator's version (or ICU on one side only), and glibc's where
// both servers tell it.
func (cc *CollationCheck) LibraryDifferences() []string {
	if cc.Control == nil {
		return nil
	}
	var out []string
	if a, b := cc.Candidate.ICUVersion, cc.Control.ICUVersion; a != b {
		out = append(out, fmt.Sprintf("ICU collation version %s on the candidate, %s on the control", orNone(a), orNone(b)))
	}
	if a, b := cc.Candidate.LibcVersion, cc.Control.LibcVersion; a != b && a != "" && b != "" {
		out = append(out, fmt.Sprintf("libc version %s on the candidate, %s on the control", a, b))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Warnings says what the pre-flight found, for the start of a replay.
func (cc *CollationCheck) Warnings() []string {
	var out []string
	out = append(out, cc.Differences...)
	out = append(out, cc.LibraryDifferences()...)
	if n := len(cc.Indexes); n > 0 {
		names := make([]string, 0, min(n, 5))
		for _, ix := range cc.Indexes[:min(n, 5)] {
			names = append(names, ix.Database+"."+ix.Index)
		}
		more := ""
		if n > 5 {
			more = fmt.Sprintf(" and %d more", n-5)
		}
		msg := fmt.Sprintf("%d indexes on text use a collation that differs: %s%s; ORDER BY, comparisons and unique checks on those columns may give other results on the candidate", n, strings.Join(names, ", "), more)
		if !cc.IndexesChecked {
			msg += " (verify them with --check-indexes)"
		}
		out = append(out, msg)
	}
	for _, ix := range cc.Indexes {
		if ix.Corrupt() {
			out = append(out, fmt.Sprintf("amcheck: index %s.%s on the candidate is corrupt: %s; REINDEX it before the launch", ix.Database, ix.Index, ix.Check))
		}
	}
	return out
}

// connectTo connects to one database of a cluster.
func connectTo(ctx context.Context, cfg *pgconn.Config, db string) (*pgconn.PgConn, error) {
	c := cfg.Copy()
	if db != "" {
		c.Database = db
	}
	c.RuntimeParams = map[string]string{"application_name": "pgrehearse-preflight"}
	return pgconn.ConnectConfig(ctx, c)
}

// query runs sql with text parameters and returns its rows as strings
// (NULL as "").
func query(ctx context.Context, c *pgconn.PgConn, sql string, args ...string) ([][]string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	r := c.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	if r.Err != nil {
		return nil, r.Err
	}
	out := make([][]string, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = string(v)
		}
	}
	return out, nil
}
