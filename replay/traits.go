package replay

import (
	"strings"
	"sync"

	sqllexer "github.com/DataDog/go-sqllexer"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// traits are what a statement's text says about its result, for the row
// checksums of a control replay: whether its top level orders the rows
// (the checksum is then order-sensitive), and why it may return other
// rows on two clusters holding the same data (the statement is then left
// out of the divergence counts). The text is read with the SQL lexer the
// fingerprints use, so literals, quoted identifiers, comments and dollar
// quoting never pass for keywords.
type traits struct {
	ordered bool
	// volatile names what makes the result differ from run to run:
	// "random()", "now()", "LIMIT without ORDER BY", ... "" when nothing
	// in the text does.
	volatile string
}

// Functions whose result differs from one call, one cluster or one moment
// to the next.
var volatileFuncs = map[string]bool{
	"random": true, "random_normal": true, "gen_random_uuid": true, "uuid_generate_v1": true, "uuid_generate_v1mc": true,
	"uuid_generate_v4": true, "now": true, "clock_timestamp": true, "statement_timestamp": true, "transaction_timestamp": true,
	"timeofday": true, "nextval": true, "currval": true, "lastval": true, "txid_current": true, "txid_current_if_assigned": true,
	"txid_current_snapshot": true, "pg_current_xact_id": true, "pg_current_xact_id_if_assigned": true, "pg_current_snapshot": true,
	"pg_backend_pid": true, "pg_current_wal_lsn": true, "pg_current_wal_insert_lsn": true, "pg_current_wal_flush_lsn": true,
	"pg_postmaster_start_time": true, "pg_conf_load_time": true, "inet_client_addr": true, "inet_client_port": true,
	"inet_server_addr": true, "inet_server_port": true, "version": true, "current_setting": true, "pg_relation_size": true,
	"pg_total_relation_size": true, "pg_table_size": true, "pg_indexes_size": true, "pg_database_size": true,
	"pg_tablespace_size": true, "pg_stat_get_activity": true,
}

// SQL value functions written without parentheses.
var volatileWords = map[string]bool{
	"CURRENT_TIMESTAMP": true, "CURRENT_TIME": true, "CURRENT_DATE": true, "LOCALTIME": true, "LOCALTIMESTAMP": true,
}

// System columns: where a row is stored and which transaction wrote it.
var systemColumns = map[string]bool{"ctid": true, "xmin": true, "xmax": true, "cmin": true, "cmax": true}

// scanTraits reads a statement's text (several statements for a simple
// query: the text is ordered when one of them is, volatile when one of
// them is).
func scanTraits(text string) traits {
	var t traits
	lx := sqllexer.New(text, sqllexer.WithDBMS(sqllexer.DBMSPostgres))
	var st stmtScan
	var prev string // the previous significant token, upper case
	for range len(text) + 1 {
		tok := lx.Scan()
		if tok.Type == sqllexer.EOF || tok.Type == sqllexer.ERROR {
			break
		}
		switch tok.Type {
		case sqllexer.SPACE, sqllexer.COMMENT, sqllexer.MULTILINE_COMMENT:
			continue
		case sqllexer.STRING, sqllexer.INCOMPLETE_STRING, sqllexer.DOLLAR_QUOTED_STRING, sqllexer.DOLLAR_QUOTED_FUNCTION,
			sqllexer.NUMBER, sqllexer.POSITIONAL_PARAMETER, sqllexer.QUOTED_IDENT:
			prev = ""
			st.started = true
			continue
		}
		word := strings.ToUpper(tok.Value)
		if tok.Type == sqllexer.PUNCTUATION {
			switch word {
			case "(":
				if t.volatile == "" && prev != "" && volatileFuncs[strings.ToLower(lastPart(prev))] {
					t.volatile = strings.ToLower(lastPart(prev)) + "()"
				}
				st.depth++
			case ")":
				st.depth = max(st.depth-1, 0)
			case ";":
				if st.depth == 0 {
					st.end(&t)
					st = stmtScan{}
					prev = ""
					continue
				}
			}
			prev = ""
			continue
		}
		// A function's name comes before its parenthesis, which the
		// case above sees.
		st.word(word, prev, &t)
		prev = word
	}
	st.end(&t)
	return t
}

// stmtScan is the state of one statement of a text being scanned.
type stmtScan struct {
	depth int
	// started: a token of the statement has been seen.
	started                             bool
	insert, ordered, limited, returning bool
}

// word takes one keyword or identifier (upper case), prev the one before.
func (st *stmtScan) word(word, prev string, t *traits) {
	first := !st.started
	st.started = true
	if t.volatile == "" {
		switch {
		case volatileWords[word]:
			t.volatile = strings.ToLower(word)
		case word == "TABLESAMPLE":
			t.volatile = "TABLESAMPLE"
		case systemColumns[strings.ToLower(lastPart(word))]:
			t.volatile = "system column " + strings.ToLower(lastPart(word))
		case word == "SHOW" && first:
			// The clusters' settings differ by design.
			t.volatile = "SHOW"
		case strings.HasPrefix(strings.ToLower(lastPart(word)), "pg_stat") || strings.ToLower(lastPart(word)) == "pg_locks" ||
			strings.ToLower(lastPart(word)) == "pg_settings":
			t.volatile = "statistics view " + strings.ToLower(lastPart(word))
		}
	}
	if st.depth > 0 {
		return
	}
	switch word {
	case "BY":
		if prev == "ORDER" {
			st.ordered = true
		}
	case "LIMIT", "OFFSET":
		st.limited = true
	case "FIRST", "NEXT":
		if prev == "FETCH" {
			st.limited = true
		}
	case "INSERT":
		st.insert = true
	case "RETURNING":
		st.returning = true
	}
}

// end closes a statement: its traits join the text's.
func (st *stmtScan) end(t *traits) {
	if !st.started {
		return
	}
	t.ordered = t.ordered || st.ordered
	if t.volatile != "" {
		return
	}
	switch {
	case st.limited && !st.ordered:
		// Which rows come back depends on the plan and on where rows lie.
		t.volatile = "LIMIT without ORDER BY"
	case st.insert && st.returning:
		// Column defaults (serial ids, now(), uuids) are not in the text.
		t.volatile = "INSERT … RETURNING"
	}
}

// lastPart is the name after a schema or table qualifier.
func lastPart(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// traitCache remembers the traits of each normalised query: a workload
// repeats a few thousand of them millions of times, and the traits
// depend only on what normalisation keeps (keywords, names, functions).
type traitCache struct {
	mu sync.RWMutex
	m  map[fingerprint.ID]traits
}

// of returns the traits of a statement text with fingerprint fp.
func (c *traitCache) of(fp fingerprint.ID, text string) traits {
	if fp == 0 {
		return scanTraits(text)
	}
	c.mu.RLock()
	t, ok := c.m[fp]
	c.mu.RUnlock()
	if ok {
		return t
	}
	t = scanTraits(text)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 1<<16 {
		// Starting over costs time, never correctness.
		c.m = map[fingerprint.ID]traits{}
	}
	c.m[fp] = t
	c.mu.Unlock()
	return t
}
