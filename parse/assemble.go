package parse

import (
	"bytes"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// assembler turns log entries into workload frames. It keys sessions, pairs
// DETAIL parameters, durations and errors with their statement, drops what
// is not a client statement (counting why), and writes frames in time order
// through a bounded reorder buffer: log lines of different sessions are
// tens of milliseconds out of order, and a statement's duration or error
// arrives after it.
//
// Its parts: sessions.go keys sessions, statements.go and errors.go pair
// statements with their durations and errors, reorder.go holds events in
// time order, emit.go writes them, filter.go applies the --begin, --end,
// --database, --user and --application choices, and the tally in
// summary.go keeps the running figures.
type assembler struct {
	w   *writer
	sum *Summary
	f   *filter

	window  int64 // reorder window, microseconds
	maxHeld int

	sessions map[string]*session
	pending  reorderBuffer
	seq      uint64
	mark     int64 // highest entry time seen
	lastOut  int64 // time of the last frame written
	nextSID  uint64

	// running figures for the summary
	tally tally
	// intern shares one copy of repeated texts (see str).
	intern  map[string]string
	internB int

	// fps fingerprints statements once, as they are written.
	fps fingerprint.Cache

	keyBuf []byte
	src    int // index of the source the current entry came from
	name   string
	// problem receives each malformed entry found here, down the same
	// path as the readers' (counted, listed, shown, and --strict).
	problem func(Problem)

	// Which logging style the log uses: log_statement entries, or only
	// duration entries with the text (log_min_duration_statement). In the
	// latter a failed statement has no entry but its error's STATEMENT.
	sawLogStatement bool
	sawDurationText bool

	// sy orders commits and lock waits for replay --sync (commits.go).
	sy syncBook
}

type session struct {
	key       string
	pid       int64
	user, db  string
	app       string
	client    string
	start     int64
	connected bool // a connect line was seen

	authorized bool
	failed     bool // FATAL before any statement: a failed login
	replicaton bool // a walsender: not replayed
	background bool
	dropped    bool // decided: not a session, or filtered out
	filtered   bool
	startSent  bool // the S event is in the heap or written
	id         uint64
	ended      bool

	stmts     int64
	written   int // statements written, the next index
	lastStart int64
	last      *pending
	// lastOpen is true while a bare duration may still belong to last.
	lastOpen bool
	// accumulate is set after an "execute fetch from": its duration adds
	// to the statement's.
	accumulate bool
	// tx tracks transaction blocks and pipelined statements.
	tx txState
	// bound is the last statement bound in a durations-only log: if its
	// execution fails, the log has only the error, with $n placeholders,
	// and the bind entry is where its name and parameters are.
	bound *boundStmt
	// sy is its transaction state for replay --sync (commits.go).
	sy syncSession
}

type boundStmt struct {
	name, text, detail []byte
	time               int64
	valid              bool
}

type pending struct {
	kind    EventKind
	time    int64
	seq     uint64
	s       *session
	ev      Event
	written bool
	index   int
	sy      stmtSync
}

func newAssembler(w *writer, sum *Summary, f *filter, window int64) *assembler {
	return &assembler{
		w: w, sum: sum, f: f, window: window, maxHeld: 500_000,
		sessions: make(map[string]*session),
		tally:    newTally(),
		intern:   make(map[string]string),
	}
}

var (
	msgStatement   = []byte("statement: ")
	msgExecute     = []byte("execute ")
	msgFetch       = []byte("fetch from ")
	msgDuration    = []byte("duration: ")
	msgReceived    = []byte("connection received: ")
	msgAuthorized  = []byte("connection authorized: ")
	msgReplication = []byte("replication connection authorized: ")
	msgDisconnect  = []byte("disconnection: ")
	msgAuthentic   = []byte("connection authenticated: ")
	unknownField   = []byte("[unknown]")
	clientBackend  = []byte("client backend")
	notInitialized = []byte("not initialized")
)

// background reports whether the entry names a backend type (PG13+) that
// is not a client: autovacuum, checkpointer, walsender... A backend that
// has not finished startup ("connection received") is "not initialized".
func background(e *logentry.Entry) bool {
	bt := e.BackendType
	return len(bt) > 0 && !bytes.Equal(bt, clientBackend) && !bytes.Equal(bt, notInitialized)
}

// add consumes one entry. src indexes the input the entry came from.
func (a *assembler) add(e *logentry.Entry, src int) {
	a.sum.Entries++
	a.src = src
	t := e.Time
	if t > a.mark {
		a.mark = t
		a.release(a.mark - a.window)
	}
	msg := e.Message
	switch e.Severity {
	case logentry.SeverityError, logentry.SeverityFatal, logentry.SeverityPanic:
		a.addError(e)
		return
	case logentry.SeverityLog:
	case logentry.SeverityWarning, logentry.SeverityNotice, logentry.SeverityInfo, logentry.SeverityDebug:
		a.sum.Skipped["warning_notice"]++
		return
	default:
		a.sum.Skipped["unknown_severity"]++
		return
	}
	if background(e) {
		a.sum.Skipped["background"]++
		return
	}
	switch {
	case bytes.HasPrefix(msg, msgStatement):
		a.sawLogStatement = true
		a.addStatement(e, Simple, "", msg[len(msgStatement):], t, -1)
	case bytes.HasPrefix(msg, msgExecute):
		a.sawLogStatement = true
		a.addExecute(e, msg[len(msgExecute):], t, -1)
	case bytes.HasPrefix(msg, msgDuration):
		a.addDuration(e, msg[len(msgDuration):])
	case bytes.HasPrefix(msg, msgReceived):
		if old := a.lookup(e, false); old != nil && (old.authorized || old.stmts > 0) {
			// The pid was reused without a disconnection line
			// (log_disconnections off): the old backend is gone.
			a.endSession(old, old.lastStart)
		}
		s := a.lookup(e, true)
		if s.stmts == 0 && !s.authorized {
			s.connected = true
			s.start = t
			s.lastStart = t
		}
		if s.client == "" {
			if h, ok := field(msg[len(msgReceived):], "host="); ok {
				s.client = a.str(h)
			}
		}
		a.fill(s, e)
		a.startSession(s)
	case bytes.HasPrefix(msg, msgAuthorized):
		s := a.lookup(e, true)
		if !s.connected && s.stmts == 0 {
			s.connected = true
			s.start = t
			s.lastStart = t
		}
		s.authorized = true
		rest := msg[len(msgAuthorized):]
		if v, ok := field(rest, "user="); ok && s.user == "" {
			s.user = a.str(v)
		}
		if v, ok := field(rest, "database="); ok && s.db == "" {
			s.db = a.str(v)
		}
		if i := bytes.Index(rest, []byte("application_name=")); i >= 0 && s.app == "" {
			v := rest[i+len("application_name="):]
			// The name runs to the end, or to the SSL/GSS note after it.
			for _, stop := range []string{" SSL enabled", " GSS ("} {
				if j := bytes.Index(v, []byte(stop)); j >= 0 {
					v = v[:j]
				}
			}
			s.app = a.str(v)
		}
		a.fill(s, e)
		a.startSession(s)
	case bytes.HasPrefix(msg, msgReplication):
		s := a.lookup(e, true)
		s.replicaton = true
		a.sum.Skipped["replication_connection"]++
	case bytes.HasPrefix(msg, msgDisconnect):
		s := a.lookup(e, false)
		if s == nil {
			// A session that did nothing we saw since the log began: it
			// still was a session, but there is nothing to replay.
			a.sum.Skipped["disconnection_without_session"]++
			return
		}
		a.endSession(s, t)
	case bytes.HasPrefix(msg, msgAuthentic):
		// identity lines add nothing replay needs
	case bytes.HasPrefix(msg, lockProcess):
		a.lockMessage(e, msg)
	default:
		s := a.lookup(e, false)
		if s == nil && len(e.User) == 0 && len(e.Database) == 0 {
			a.sum.Skipped["background"]++
			return
		}
		a.sum.Skipped["other_message"]++
	}
}

// field returns the value of "name=value" (space-terminated) in b.
func field(b []byte, name string) ([]byte, bool) {
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return nil, false
	}
	v := b[i+len(name):]
	if j := bytes.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v, true
}

func (a *assembler) malformed(e *logentry.Entry, reason string) {
	a.problem(Problem{File: a.name, Line: e.Line, Reason: reason})
}

// finish flushes the buffer and completes the summary.
func (a *assembler) finish() {
	a.flush()
	a.tally.complete(a.sum)
}
