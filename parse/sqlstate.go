package parse

import "bytes"

// messageStates maps the English text that starts common error messages to
// their SQLSTATE. A stderr log whose log_line_prefix lacks %e carries no
// SQLSTATE, yet compare must tell an error production also had from a new
// one; these cover the errors applications actually hit. The match is
// marked as inferred wherever it is shown.
var messageStates = []struct {
	prefix, state string
}{
	{"duplicate key value violates unique constraint", "23505"},
	{"null value in column", "23502"},
	{"insert or update on table", "23503"},
	{"update or delete on table", "23503"},
	{"new row for relation", "23514"},
	{"conflicting key value violates exclusion constraint", "23P01"},
	{"division by zero", "22012"},
	{"invalid input syntax for", "22P02"},
	{"invalid input value for enum", "22P02"},
	{"value too long for type", "22001"},
	{"numeric field overflow", "22003"},
	{"integer out of range", "22003"},
	{"smallint out of range", "22003"},
	{"bigint out of range", "22003"},
	{"date/time field value out of range", "22008"},
	{"invalid byte sequence for encoding", "22021"},
	{"syntax error at or near", "42601"},
	{"syntax error at end of input", "42601"},
	{"unterminated quoted string", "42601"},
	{"relation \"", "42P01"}, // relation "x" does not exist
	{"column \"", "42703"},   // column "x" does not exist
	{"function ", "42883"},   // function f(integer) does not exist
	{"operator does not exist", "42883"},
	{"permission denied", "42501"},
	{"must be owner of", "42501"},
	{"prepared statement \"", "26000"},
	{"current transaction is aborted", "25P02"},
	{"there is no transaction in progress", "25P01"},
	{"canceling statement due to user request", "57014"},
	{"canceling statement due to statement timeout", "57014"},
	{"canceling statement due to lock timeout", "55P03"},
	{"could not obtain lock", "55P03"},
	{"deadlock detected", "40P01"},
	{"could not serialize access", "40001"},
	{"terminating connection due to administrator command", "57P01"},
	{"terminating connection due to idle-in-transaction timeout", "25P03"},
	{"database \"", "3D000"}, // database "x" does not exist
	{"role \"", "28000"},     // role "x" does not exist
	{"password authentication failed", "28P01"},
	{"no pg_hba.conf entry", "28000"},
	{"sorry, too many clients already", "53300"},
	{"remaining connection slots are reserved", "53300"},
	{"out of memory", "53200"},
	{"could not extend file", "53100"},
	{"cannot execute ", "25006"}, // cannot execute INSERT in a read-only transaction
	{"query_wait_timeout", "57014"},
}

// inferSQLState returns the SQLSTATE for an English error message, or "".
func inferSQLState(msg []byte) string {
	for _, m := range messageStates {
		if bytes.HasPrefix(msg, []byte(m.prefix)) {
			switch m.state {
			case "42P01", "42703", "42883", "3D000", "28000", "26000":
				// Those prefixes are broad; require the tail that names
				// this error.
				if m.prefix != "operator does not exist" && m.prefix != "no pg_hba.conf entry" && !bytes.Contains(msg, []byte("does not exist")) {
					continue
				}
			case "25006":
				if !bytes.Contains(msg, []byte("read-only transaction")) {
					continue
				}
			}
			return m.state
		}
	}
	return ""
}
