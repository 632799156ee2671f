// Package logentry defines the format-neutral log entry that every log
// reader of pgrehearse produces, and the helpers the readers share.
//
// The stderr, csvlog and jsonlog readers each turn their own syntax into a
// stream of *Entry values; package parse then assembles sessions and
// statements from that stream without knowing which format it came from.
// Entries are handed out zero-copy: their byte slices point into the
// reader's buffers and stay valid only until the next call to Next.
package logentry

import (
	"errors"
	"fmt"
)

// Severity is the error_severity of an entry (LOG, ERROR, ...).
type Severity uint8

// The severities PostgreSQL writes. SeverityUnknown marks a word the reader
// did not recognise, which is how a log written with a non-English
// lc_messages shows up.
const (
	SeverityUnknown Severity = iota
	SeverityDebug
	SeverityInfo
	SeverityNotice
	SeverityWarning
	SeverityLog
	SeverityError
	SeverityFatal
	SeverityPanic
	// The following never start an entry of their own in csvlog or jsonlog;
	// in stderr they are separate prefixed lines that the stderr reader
	// folds into the entry they belong to.
	SeverityDetail
	SeverityHint
	SeverityContext
	SeverityStatement
	SeverityQuery
	SeverityLocation
)

var severityNames = [...]string{
	SeverityUnknown:   "UNKNOWN",
	SeverityDebug:     "DEBUG",
	SeverityInfo:      "INFO",
	SeverityNotice:    "NOTICE",
	SeverityWarning:   "WARNING",
	SeverityLog:       "LOG",
	SeverityError:     "ERROR",
	SeverityFatal:     "FATAL",
	SeverityPanic:     "PANIC",
	SeverityDetail:    "DETAIL",
	SeverityHint:      "HINT",
	SeverityContext:   "CONTEXT",
	SeverityStatement: "STATEMENT",
	SeverityQuery:     "QUERY",
	SeverityLocation:  "LOCATION",
}

// String returns the word PostgreSQL prints for s.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "UNKNOWN"
}

// IsAttachment reports whether s is one of the stderr-only severities that
// continue the previous entry (DETAIL, HINT, CONTEXT, STATEMENT, QUERY,
// LOCATION).
func (s Severity) IsAttachment() bool { return s >= SeverityDetail }

// ParseSeverity maps the severity word of a log entry to a Severity.
// DEBUG1 to DEBUG5 are all SeverityDebug.
func ParseSeverity(b []byte) Severity {
	switch len(b) {
	case 3:
		if string(b) == "LOG" {
			return SeverityLog
		}
	case 4:
		if string(b) == "INFO" {
			return SeverityInfo
		}
		if string(b) == "HINT" {
			return SeverityHint
		}
	case 5:
		switch string(b) {
		case "ERROR":
			return SeverityError
		case "FATAL":
			return SeverityFatal
		case "PANIC":
			return SeverityPanic
		case "QUERY":
			return SeverityQuery
		case "DEBUG":
			return SeverityDebug
		}
	case 6:
		switch string(b) {
		case "NOTICE":
			return SeverityNotice
		case "DETAIL":
			return SeverityDetail
		case "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5":
			return SeverityDebug
		}
	case 7:
		switch string(b) {
		case "WARNING":
			return SeverityWarning
		case "CONTEXT":
			return SeverityContext
		}
	case 8:
		if string(b) == "LOCATION" {
			return SeverityLocation
		}
	case 9:
		if string(b) == "STATEMENT" {
			return SeverityStatement
		}
	}
	return SeverityUnknown
}

// Entry is one log entry: one csvlog record, one jsonlog line, or one
// stderr entry together with its continuation lines and the DETAIL, HINT,
// CONTEXT and STATEMENT lines that follow it.
//
// Byte slices alias the reader's buffers; copy what must outlive the next
// call to Reader.Next. Fields the format does not carry are empty or zero.
type Entry struct {
	// Line is the 1-based line of the file on which the entry starts.
	Line int64
	// Time is the entry's timestamp in Unix microseconds (UTC); 0 when the
	// log line carries none.
	Time int64
	// TimePrecision is the resolution of Time in microseconds: 1000 for %m,
	// 1_000_000 for %t, 1 for %n. 0 when Time is 0.
	TimePrecision int64
	// SessionID is %c (csv session_id, json session_id): the hex start time
	// and pid of the backend, "6b02dd5c.41c5".
	SessionID []byte
	// PID is the backend's process id, 0 when unknown.
	PID int64
	// SessionStart is the backend's start time in Unix microseconds
	// (%s, csv session_start_time), 0 when unknown.
	SessionStart int64
	// LineNum is %l, the per-session line number, 0 when unknown.
	LineNum int64

	User        []byte
	Database    []byte
	Application []byte
	// RemoteHost is %h (without port); RemotePort is the port of %r.
	RemoteHost []byte
	RemotePort []byte
	// BackendType is %b (PG13+): "client backend", "autovacuum worker", ...
	BackendType []byte
	// CommandTag is %i (csv command_tag, json ps).
	CommandTag []byte
	// VXID is %v (csv virtual_transaction_id, json vxid): "backend/local".
	// Statements of one transaction, implicit or explicit, share it.
	VXID []byte
	// XID is %x (csv transaction_id, json txid): 0 until the transaction
	// writes.
	XID []byte

	Severity Severity
	SQLState []byte
	Message  []byte
	Detail   []byte
	Hint     []byte
	Context  []byte
	// Query is the statement that caused an error (stderr STATEMENT line,
	// csv query, json statement).
	Query []byte
	// InternalQuery is the QUERY line / internal_query field.
	InternalQuery []byte
}

// Reset clears e for reuse.
func (e *Entry) Reset() { *e = Entry{} }

// Reader yields the entries of one log file in file order.
type Reader interface {
	// Next returns the next entry. It returns io.EOF at the end of the
	// input. A *MalformedError describes input the reader skipped; the
	// reader stays usable and the caller may go on calling Next. Any other
	// error ends the stream.
	Next() (*Entry, error)
}

// MalformedError reports input a reader could not turn into an entry. It is
// not fatal: the reader has skipped the bad input and can continue.
type MalformedError struct {
	Line   int64
	Reason string
	// Cut is set when the input ended in the middle of this entry's last
	// line (no newline after it): a log cut off while it was written or
	// copied. The fragment is skipped rather than read as an entry.
	Cut bool
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// IsMalformed reports whether err is a *MalformedError.
func IsMalformed(err error) bool {
	var m *MalformedError
	return errors.As(err, &m)
}
