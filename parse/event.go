package parse

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// The workload file format. docs/workload-format.md is its specification;
// keep the two in step and bump FormatVersion on any incompatible change.
const (
	// FormatVersion is the version of the workload format this package
	// writes and the newest it reads.
	FormatVersion = 2

	magic = "PGRWKLD"

	compressNone = 0
	compressZstd = 1

	frameHeader  = 'H'
	frameText    = 'T'
	frameClear   = 'C'
	frameSession = 'S'
	frameStmt    = 'Q'
	frameUpdate  = 'U'
	frameError   = 'E'
	frameEnd     = 'X'
	frameTrailer = 'Z'

	// maxFrame bounds a frame's declared length so a corrupt length can
	// not make the reader allocate gigabytes.
	maxFrame = 1 << 30
)

// Text slots keep repeated texts (a named statement executed a million
// times, user and database names) out of every frame. Both sides bound the
// table by slots and bytes; when the writer would exceed either it clears
// the table and starts over, so memory stays flat however long the log.
const (
	defaultTextSlots = 1 << 16
	defaultTextBytes = 16 << 20
)

// Protocol says how a statement reached the server.
type Protocol uint8

// The protocols a statement can have been sent with.
const (
	// Simple is a simple-protocol Query message ("statement: ...").
	Simple Protocol = iota
	// Unnamed is an extended-protocol execute of the unnamed prepared
	// statement ("execute <unnamed>: ...").
	Unnamed
	// Named is an execute of a named prepared statement ("execute S_1:
	// ..."): prepared once per session, executed many times.
	Named
)

func (p Protocol) String() string {
	switch p {
	case Simple:
		return "simple"
	case Unnamed:
		return "extended"
	case Named:
		return "prepared"
	}
	return "unknown"
}

// Header is the first frame of a workload file: what produced it.
type Header struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Producer string `json:"producer"`
	// Sources are the logs the workload was parsed from, in merge order.
	Sources []Source `json:"sources"`
	// Start is the time all frame times are relative to, in Unix
	// microseconds: the start of the capture window as far as the parser
	// knew it when it wrote the header. The trailer has the exact window.
	Start int64 `json:"start_us"`
	// TimePrecisionUS is the coarsest timestamp resolution of the sources
	// (1000 for %m, 1000000 for %t).
	TimePrecisionUS int64 `json:"time_precision_us"`
	// ReorderWindowMS is how far, in log time, frames may come out of time
	// order across sessions; within one session they never do. A reader that
	// schedules by time should read at least this far ahead.
	ReorderWindowMS int64 `json:"reorder_window_ms"`
	// TextSlots and TextBytes bound the text table (see frame T).
	TextSlots int `json:"text_slots"`
	TextBytes int `json:"text_bytes"`
	// Filters records the filters applied while parsing.
	Filters []string `json:"filters,omitempty"`
	// SystemIdentifier is the baseline cluster's system_identifier when
	// it was recorded (parse --baseline).
	SystemIdentifier string `json:"system_identifier,omitempty"`
	// ID identifies this workload (random, written once by parse): replay
	// copies it into its results so compare can refuse the results of
	// another workload. Empty in files of version 1.
	ID string `json:"workload_id,omitempty"`
}

// Source describes one input log.
type Source struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	Prefix      string `json:"log_line_prefix,omitempty"`
	Compression string `json:"compression,omitempty"`
	Bytes       int64  `json:"bytes"`
}

// Param is one bound parameter value, in the text form the log shows.
type Param struct {
	Value string
	Null  bool
}

// EventKind tells which fields of an Event are set.
type EventKind uint8

// The kinds of events a workload holds.
const (
	// SessionStart opens a session: connect at Time as Session.User to
	// Session.Database.
	SessionStart EventKind = iota + 1
	// Statement is one statement to run in Session.
	Statement
	// Update adds what the log said about an already written statement
	// (Session, Index) after the writer had flushed it: its duration or its
	// error. Replay applies it if the statement is still running
	// (a production cancel), compare folds it in.
	Update
	// Error is an error the log attributes to no replayable statement (a
	// syntax error, a failed Bind, a FATAL that ended a session).
	Error
	// SessionEnd closes the session at Time.
	SessionEnd
)

// Session is what the workload knows of one original client session.
type Session struct {
	// ID numbers sessions from 1 in the order the file opens them.
	ID uint64
	// Key is the log's own session identifier (%c, or pid and start).
	Key         string
	PID         int64
	User        string
	Database    string
	Application string
	Client      string
	// Connected is false for a session that started before the log did:
	// its start is its first entry, not a connect line.
	Connected bool
}

// SkipReason marks a statement that is in the workload but must not be
// replayed as it stands. 0 means replayable.
type SkipReason uint8

// The reasons a statement is kept but not replayed.
const (
	Replayable SkipReason = iota
	// SkipCopyFromStdin: the COPY data is not in the log.
	SkipCopyFromStdin
	// SkipTruncatedParams: log_parameter_max_length cut a parameter value.
	SkipTruncatedParams
	// SkipFetchContinuation is never written; fetches fold into their
	// execute. Reserved so codes stay stable.
	SkipFetchContinuation
)

var skipNames = [...]string{"", "copy_from_stdin", "truncated_parameters", "fetch_continuation"}

func (r SkipReason) String() string {
	if int(r) < len(skipNames) {
		return skipNames[r]
	}
	return fmt.Sprintf("reason_%d", r)
}

// StmtError is an error the original log reports for a statement.
type StmtError struct {
	Severity string `json:"severity"`
	SQLState string `json:"sqlstate"`
	// Inferred is true when the log carried no SQLSTATE (stderr without
	// %e) and it was derived from the English message.
	Inferred bool   `json:"inferred,omitempty"`
	Message  string `json:"message"`
}

// Event is one decoded workload record. Strings and slices belong to the
// event; a Reader returns a fresh Event each time.
type Event struct {
	Kind EventKind
	// Time is Unix microseconds: connect time, statement start time, or
	// disconnect time.
	Time    int64
	Session *Session
	// Index numbers the statements of a session from 0, in file order; an
	// Error event's Index numbers the session's Error events the same way.
	Index    int
	Protocol Protocol
	// Name is the prepared statement name for Named.
	Name string
	// Text is the statement; for an Error event, the statement the error
	// reported (its STATEMENT), empty when the log gave none.
	Text string
	// Params are the bound values: of a statement's execute, or, for an
	// Error event, the values the error's context listed, when it listed
	// all of them.
	Params []Param
	// Duration is the server-side duration from the log in microseconds,
	// -1 when the log had none.
	Duration int64
	Skip     SkipReason
	Err      *StmtError
	// Fingerprint identifies Text's normalised query. parse computes it
	// once, so every later stage groups statements the same way.
	Fingerprint fingerprint.ID
	// VXID and XID are the transaction the log put the entry in (%v, %x;
	// csvlog and jsonlog always have them); zero when unknown.
	VXID VXID
	XID  uint64
	// Pipelined is set when production sent this statement (or the
	// statement of this Error event) in the same implicit transaction as
	// the session's previous one, before a single Sync: a pipelined batch
	// (pgJDBC executeBatch, psycopg pipeline(), pgx SendBatch). Replay
	// sends such a run in one pipeline so it commits or fails as one.
	Pipelined bool
	// Continued is set on the statement (or Error event) a Pipelined one
	// follows, when the parser knew it in time: replay then waits for the
	// rest of the pipeline before it sends any of it.
	Continued bool
	// Sync names the statements of other sessions this one waits for
	// under replay --sync (sync.go); nil when none.
	Sync *Sync
	// Step is where an Error event's statement failed, as far as the log
	// says.
	Step Step
	// Source and Line locate the entry in the input logs (Source indexes
	// Header.Sources).
	Source int
	Line   int64
}

// VXID is a virtual transaction id, "backend/local" as PostgreSQL prints
// it. The zero value, and any with Local 0 (a backend outside a
// transaction, or in an aborted one), identifies no transaction.
type VXID struct{ Backend, Local uint32 }

// IsZero reports whether v identifies no transaction.
func (v VXID) IsZero() bool { return v.Local == 0 }

func (v VXID) String() string {
	if v.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d/%d", v.Backend, v.Local)
}

// ParseVXID reads "backend/local"; anything else is the zero VXID.
func ParseVXID(b []byte) VXID {
	i := bytes.IndexByte(b, '/')
	if i <= 0 {
		return VXID{}
	}
	be, err1 := strconv.ParseUint(string(b[:i]), 10, 32)
	lo, err2 := strconv.ParseUint(string(b[i+1:]), 10, 32)
	if err1 != nil || err2 != nil {
		return VXID{}
	}
	return VXID{uint32(be), uint32(lo)}
}

// Step is the extended-protocol message a statement failed at.
type Step uint8

// The steps an error can be raised at. StepUnknown: the log does not say
// (stderr without %i).
const (
	StepUnknown Step = iota
	StepParse
	StepBind
	StepExecute
)

var stepNames = [...]string{"", "parse", "bind", "execute"}

func (s Step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("step_%d", s)
}

// ErrTruncated is returned by a Reader for a file that ends without its
// trailer: the writer was killed or the file was cut.
var ErrTruncated = errors.New("workload file is truncated (no trailer): it was cut off or the parse was killed; parse the log again")
