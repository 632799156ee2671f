package parse

import (
	"bytes"
	"container/heap"
	"strconv"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// assembler turns log entries into workload frames. It keys sessions, pairs
// DETAIL parameters, durations and errors with their statement, drops what
// is not a client statement (counting why), and writes frames in time order
// through a bounded reorder buffer: log lines of different sessions are
// tens of milliseconds out of order, and a statement's duration or error
// arrives after it.
type assembler struct {
	w   *writer
	sum *Summary
	f   *filter

	window  int64 // reorder window, microseconds
	maxHeld int

	sessions map[string]*session
	pending  queue
	seq      uint64
	mark     int64 // highest entry time seen
	lastOut  int64 // time of the last frame written
	nextSID  uint64

	// running figures for the summary
	open      int64
	secCounts [64]int64
	secOf     [64]int64
	dbs       map[string]bool
	users     map[string]bool
	dbCount   map[string]int64
	userCount map[string]int64
	intern    map[string]string
	internB   int

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

// queue orders held events by (time, seq). Log entries arrive almost in
// time order, so most events go to the back of a FIFO in order; only the
// ones that arrive earlier than the FIFO's tail (cross-session jitter,
// statements dated back by their duration) pay for the heap.
type queue struct {
	fifo []*pending
	head int
	late eventHeap
}

func before(a, b *pending) bool {
	if a.time != b.time {
		return a.time < b.time
	}
	return a.seq < b.seq
}

func (q *queue) len() int { return len(q.fifo) - q.head + len(q.late) }

func (q *queue) push(p *pending) {
	if n := len(q.fifo); n > q.head && before(p, q.fifo[n-1]) {
		heap.Push(&q.late, p)
		return
	}
	if q.head > 4096 && q.head*2 > len(q.fifo) {
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo = q.fifo[:n]
		q.head = 0
	}
	q.fifo = append(q.fifo, p)
}

func (q *queue) peek() *pending {
	var f *pending
	if q.head < len(q.fifo) {
		f = q.fifo[q.head]
	}
	if len(q.late) > 0 && (f == nil || before(q.late[0], f)) {
		return q.late[0]
	}
	return f
}

func (q *queue) pop() *pending {
	p := q.peek()
	if p == nil {
		return nil
	}
	if len(q.late) > 0 && q.late[0] == p {
		heap.Pop(&q.late)
		return p
	}
	q.fifo[q.head] = nil
	q.head++
	return p
}

type eventHeap []*pending

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return before(h[i], h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(*pending)) }
func (h *eventHeap) Pop() (x any) {
	old := *h
	n := len(old)
	x = old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return
}

func newAssembler(w *writer, sum *Summary, f *filter, window int64) *assembler {
	return &assembler{
		w: w, sum: sum, f: f, window: window, maxHeld: 500_000,
		sessions: make(map[string]*session),
		dbs:      map[string]bool{}, users: map[string]bool{},
		dbCount: map[string]int64{}, userCount: map[string]int64{},
		intern: make(map[string]string),
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

// str returns b as a string, sharing one copy among equal texts: a named
// statement's text repeats in every execute entry.
func (a *assembler) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := a.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= 4096 {
		if len(a.intern) > 100_000 || a.internB > 32<<20 {
			clear(a.intern)
			a.internB = 0
		}
		a.intern[s] = s
		a.internB += len(s)
	}
	return s
}

func (a *assembler) sessionKey(e *logentry.Entry) []byte {
	if len(e.SessionID) > 0 {
		return e.SessionID
	}
	// Without %c a backend is its pid and start time; a pid reused later
	// gets a new session at its next connect line (see lookup).
	b := strconv.AppendInt(a.keyBuf[:0], e.PID, 10)
	if e.SessionStart != 0 {
		b = append(b, '@')
		b = strconv.AppendInt(b, e.SessionStart, 10)
	}
	a.keyBuf = b
	return b
}

func (a *assembler) lookup(e *logentry.Entry, create bool) *session {
	key := a.sessionKey(e)
	if s, ok := a.sessions[string(key)]; ok {
		return s
	}
	if !create {
		return nil
	}
	s := &session{key: string(key), pid: e.PID, start: e.Time, lastStart: e.Time}
	a.sessions[s.key] = s
	return s
}

// fill copies the session attributes an entry carries.
func (a *assembler) fill(s *session, e *logentry.Entry) {
	if s.user == "" && len(e.User) > 0 && !bytes.Equal(e.User, unknownField) {
		s.user = a.str(e.User)
	}
	if s.db == "" && len(e.Database) > 0 && !bytes.Equal(e.Database, unknownField) {
		s.db = a.str(e.Database)
	}
	if len(e.Application) > 0 && s.app == "" {
		s.app = a.str(e.Application)
	}
	if s.client == "" && len(e.RemoteHost) > 0 {
		s.client = a.str(e.RemoteHost)
	}
	if background(e) {
		s.background = true
	}
}

func (a *assembler) push(p *pending) {
	a.seq++
	p.seq = a.seq
	a.pending.push(p)
}

func (a *assembler) startSession(s *session) {
	if s.startSent {
		return
	}
	s.startSent = true
	a.push(&pending{kind: SessionStart, time: s.start, s: s})
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

// forget removes s from the open sessions, unless its key already belongs
// to a newer backend.
func (a *assembler) forget(s *session) {
	if a.sessions[s.key] == s {
		delete(a.sessions, s.key)
	}
}

func (a *assembler) endSession(s *session, t int64) {
	a.forget(s)
	if s.ended {
		return
	}
	s.ended = true
	s.authorized = s.authorized || s.connected
	a.startSession(s)
	if t < s.lastStart {
		t = s.lastStart
	}
	a.push(&pending{kind: SessionEnd, time: t, s: s})
}

// statementSession finds or starts the session of a statement entry.
func (a *assembler) statementSession(e *logentry.Entry, t int64) *session {
	s := a.lookup(e, true)
	if s.stmts == 0 && !s.connected && !s.startSent {
		// Started before the log did: it begins at its first statement.
		s.start, s.lastStart = t, t
	}
	a.fill(s, e)
	a.startSession(s)
	return s
}

func (a *assembler) addExecute(e *logentry.Entry, rest []byte, t, dur int64) {
	fetch := false
	if r, ok := bytes.CutPrefix(rest, msgFetch); ok {
		rest, fetch = r, true
	}
	i := bytes.Index(rest, []byte(": "))
	if i < 0 {
		a.malformed(e, "execute entry without ': ' after the statement name")
		return
	}
	name, text := rest[:i], rest[i+2:]
	// "S_1/C_2" names the portal too; the portal is the client's business.
	if j := bytes.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	if fetch {
		// A portal fetched in several round trips is one execution.
		s := a.lookup(e, false)
		if s != nil && s.last != nil {
			s.lastOpen, s.accumulate = true, true
			if dur >= 0 {
				a.attachDuration(s, dur)
			}
			a.sum.Skipped["fetch_continuation"]++
			return
		}
	}
	proto := Named
	if string(name) == "<unnamed>" {
		proto = Unnamed
	}
	a.addStatement(e, proto, string(name), text, t, dur)
}

func (a *assembler) addStatement(e *logentry.Entry, proto Protocol, name string, text []byte, t, dur int64) {
	start := t
	if dur >= 0 {
		// log_min_duration_statement writes the entry when the statement
		// ends.
		start = t - dur
	}
	s := a.statementSession(e, start)
	if s.replicaton {
		a.sum.Skipped["replication_connection"]++
		return
	}
	if start < s.lastStart {
		// Within a session statements ran one after another; rounding of
		// millisecond stamps against microsecond durations must not
		// reorder them.
		start = s.lastStart
	}
	s.lastStart = start
	s.stmts++
	p := &pending{kind: Statement, time: start, s: s}
	p.ev = Event{Kind: Statement, Protocol: proto, Duration: dur, Source: a.src, Line: e.Line}
	p.ev.VXID, p.ev.XID, p.ev.Pipelined = a.chain(&s.tx, e, proto != Simple, text)
	s.tx.link(p)
	if proto == Named {
		p.ev.Name = a.str([]byte(name))
	}
	if proto == Simple {
		// Simple-protocol texts carry their literals and rarely repeat:
		// interning them would only churn the table.
		p.ev.Text = string(text)
	} else {
		p.ev.Text = a.str(text)
	}
	if len(e.Detail) > 0 && (proto != Simple) {
		params, truncated, err := ParseParams(e.Detail)
		switch {
		case err != nil:
			a.malformed(e, "execute entry with an unreadable parameter list (values not shown)")
		case truncated:
			p.ev.Params = params
			p.ev.Skip = SkipTruncatedParams
		default:
			p.ev.Params = params
		}
	}
	if proto == Simple && p.ev.Skip == Replayable && isCopyFromStdin(text) {
		p.ev.Skip = SkipCopyFromStdin
	}
	a.syncCreated(s, p)
	s.last = p
	s.lastOpen = dur < 0
	s.accumulate = false
	a.push(p)
}

// hasPlaceholder reports whether text has a $n parameter placeholder: such
// a statement can not be sent without the values an error entry lacks.
func hasPlaceholder(text []byte) bool {
	for i := 0; i+1 < len(text); i++ {
		if text[i] == '$' && text[i+1] >= '1' && text[i+1] <= '9' {
			return true
		}
	}
	return false
}

// isCopyFromStdin reports whether a simple statement is COPY ... FROM STDIN,
// whose data the log does not have.
func isCopyFromStdin(text []byte) bool {
	t := bytes.TrimLeft(text, " \t\n\r")
	if len(t) < 4 || !bytes.EqualFold(t[:4], []byte("copy")) {
		return false
	}
	low := bytes.ToLower(t)
	i := bytes.Index(low, []byte("from"))
	return i >= 0 && bytes.Contains(low[i:], []byte("stdin"))
}

// parseMS parses "12.345 ms" into microseconds, returning the rest.
func parseMS(b []byte) (int64, []byte, bool) {
	i := bytes.Index(b, []byte(" ms"))
	if i <= 0 {
		return 0, nil, false
	}
	v, err := strconv.ParseFloat(string(b[:i]), 64)
	if err != nil || v < 0 || v > 1e12 {
		return 0, nil, false
	}
	return int64(v*1000 + 0.5), b[i+3:], true
}

func (a *assembler) addDuration(e *logentry.Entry, rest []byte) {
	dur, rest, ok := parseMS(rest)
	if !ok {
		a.malformed(e, "duration entry without a number of milliseconds")
		return
	}
	if len(rest) == 0 {
		// log_duration, or log_min_duration_statement for a statement
		// log_statement already logged.
		s := a.lookup(e, false)
		if s == nil || s.last == nil || !s.lastOpen {
			a.sum.Skipped["parse_bind_duration"]++
			return
		}
		a.attachDuration(s, dur)
		return
	}
	rest, ok = bytes.CutPrefix(rest, []byte("  "))
	if !ok {
		a.malformed(e, "duration entry with unexpected text after 'ms'")
		return
	}
	switch {
	case bytes.HasPrefix(rest, msgStatement):
		a.sawDurationText = true
		a.addStatement(e, Simple, "", rest[len(msgStatement):], e.Time, dur)
	case bytes.HasPrefix(rest, msgExecute):
		a.sawDurationText = true
		a.addExecute(e, rest[len(msgExecute):], e.Time, dur)
	case bytes.HasPrefix(rest, []byte("bind ")):
		a.sum.Skipped["parse_bind_duration"]++
		if s := a.lookup(e, false); s != nil {
			if i := bytes.Index(rest, []byte(": ")); i > 5 {
				// Kept for the error that may follow; the buffers are
				// reused, as every extended statement has a bind.
				b := s.bound
				if b == nil {
					b = &boundStmt{}
					s.bound = b
				}
				b.name, b.text, b.detail = append(b.name[:0], rest[5:i]...), append(b.text[:0], rest[i+2:]...), append(b.detail[:0], e.Detail...)
				b.time, b.valid = e.Time, true
			}
		}
	case bytes.HasPrefix(rest, []byte("parse ")):
		a.sum.Skipped["parse_bind_duration"]++
	default:
		a.sum.Skipped["other_message"]++
	}
}

func (a *assembler) attachDuration(s *session, dur int64) {
	p := s.last
	if s.accumulate && p.ev.Duration >= 0 {
		dur += p.ev.Duration
	}
	s.lastOpen, s.accumulate = false, false
	if !p.written {
		p.ev.Duration = dur
		return
	}
	a.sum.LateUpdates++
	a.w.update(s.id, p.index, dur, nil)
}

func (a *assembler) addError(e *logentry.Entry) {
	s := a.lookup(e, false)
	if s == nil && len(e.User) == 0 && len(e.Database) == 0 && len(e.Application) == 0 {
		a.sum.Skipped["background"]++
		return
	}
	if background(e) {
		a.sum.Skipped["background"]++
		return
	}
	if s == nil {
		s = a.lookup(e, true)
		a.fill(s, e)
		a.startSession(s)
	}
	a.sum.Errors++
	se := &StmtError{Severity: e.Severity.String(), SQLState: string(e.SQLState), Message: a.str(e.Message)}
	if se.SQLState == "" {
		se.SQLState = inferSQLState(e.Message)
		se.Inferred = se.SQLState != ""
		a.sum.SQLStatesInferred = a.sum.SQLStatesInferred || se.Inferred
	}
	state := se.SQLState
	if state == "" {
		state = "unknown"
	}
	a.sum.ErrorsBySQLState[state]++
	if len(state) == 5 {
		a.sum.ErrorsByClass[state[:2]]++
	} else {
		a.sum.ErrorsByClass["unknown"]++
	}
	if e.Severity == logentry.SeverityFatal && s.stmts == 0 {
		s.failed = true
	}
	a.syncDeadlock(s, e, se.SQLState)
	tag := e.CommandTag
	atParse := bytes.Equal(tag, []byte("PARSE")) || bytes.Equal(tag, []byte("BIND"))
	if a.sawDurationText && !a.sawLogStatement && len(e.Query) > 0 && !atParse &&
		(s.last == nil || !s.lastOpen || string(e.Query) != s.last.ev.Text) {
		// A log of durations only has no entry for a statement that
		// failed: the client still sent it, so replay must too. With $n
		// placeholders, its name and values are on the bind entry before
		// it.
		switch b := s.bound; {
		case !hasPlaceholder(e.Query):
			a.addStatement(e, Simple, "", e.Query, e.Time, -1)
		case b != nil && b.valid && bytes.Equal(b.text, e.Query):
			proto, name := Named, string(b.name)
			if name == "<unnamed>" {
				proto, name = Unnamed, ""
			}
			be := *e
			be.Detail = b.detail
			a.addStatement(&be, proto, name, b.text, max(b.time, s.lastStart), -1)
		}
	}
	if s.bound != nil {
		s.bound.valid = false
	}
	// The error belongs to the session's last statement when the log names
	// that statement (or names none) and it is still open: an error at
	// Parse or Bind concerns a statement that never executed.
	if p := s.last; p != nil && s.lastOpen && p.ev.Err == nil &&
		(len(e.Query) == 0 || string(e.Query) == p.ev.Text) && !atParse {
		s.lastOpen = false
		dur := int64(-1)
		if se.SQLState == "57014" && p.ev.Duration < 0 && e.Time >= p.time {
			// A cancelled statement ran until its error was logged; replay
			// cancels it after that long, as the client did.
			dur = e.Time - p.time
		}
		if !p.written {
			p.ev.Err = se
			p.sy.failedAt = e.Time
			if dur >= 0 {
				p.ev.Duration = dur
			}
			return
		}
		a.sum.LateUpdates++
		a.w.update(s.id, p.index, dur, se)
		return
	}
	t := e.Time
	if t < s.lastStart {
		t = s.lastStart
	}
	p := &pending{kind: Error, time: t, s: s, ev: Event{Err: se, Source: a.src, Line: e.Line, Text: a.str(e.Query)}}
	if len(e.Query) > 0 {
		p.ev.Step = errorStep(e.CommandTag)
		extended := p.ev.Step == StepBind || hasPlaceholder(e.Query) ||
			p.ev.Step == StepParse && !bytes.HasPrefix(e.CommandTag, []byte("idle"))
		p.ev.VXID, p.ev.XID, p.ev.Pipelined = a.chain(&s.tx, e, extended, e.Query)
		s.tx.link(p)
		if p.ev.Step != StepParse {
			p.ev.Params = contextParams(e.Context, e.Query)
		}
	}
	a.push(p)
}

func (a *assembler) malformed(e *logentry.Entry, reason string) {
	a.problem(Problem{File: a.name, Line: e.Line, Reason: reason})
}

// release writes every held event at or before limit, and the oldest ones
// beyond that while too many are held.
func (a *assembler) release(limit int64) {
	for {
		p := a.pending.peek()
		if p == nil || (p.time > limit && a.pending.len() <= a.maxHeld) {
			return
		}
		a.emit(a.pending.pop())
	}
}

func (a *assembler) flush() {
	for a.pending.len() > 0 {
		a.emit(a.pending.pop())
	}
}

// decide settles whether s is a session to write. It is called when its
// start event leaves the reorder buffer, by which time a failed login has
// had its FATAL and a probe has shown it has nothing more.
func (a *assembler) decide(s *session) {
	if s.dropped || s.id != 0 {
		return
	}
	switch {
	case s.replicaton || (s.background && s.stmts == 0):
		s.dropped = true
		return
	case s.failed && s.stmts == 0:
		a.sum.Skipped["failed_login"]++
		s.dropped = true
		// No disconnection line follows a failed login.
		a.forget(s)
		return
	case !s.authorized && s.stmts == 0 && !s.ended:
		// connection received and nothing else: a probe or a cancel
		// request. If the session shows up later after all, it is
		// written then.
		return
	}
	if !a.f.session(s) {
		s.dropped, s.filtered = true, true
		return
	}
	a.nextSID++
	s.id = a.nextSID
	a.sum.Sessions++
	if s.db != "" {
		a.dbs[s.db] = true
	}
	if s.user != "" {
		a.users[s.user] = true
	}
	t := s.start
	if a.f.begin != 0 && t < a.f.begin {
		t = a.f.begin
	}
	a.write(t)
	a.w.session(t, &Session{ID: s.id, Key: s.key, PID: s.pid, User: s.user, Database: s.db, Application: s.app, Client: s.client, Connected: s.connected})
	a.open++
	if a.open > a.sum.PeakSessions {
		a.sum.PeakSessions = a.open
	}
}

// write notes that a frame at time t goes out now.
func (a *assembler) write(t int64) {
	if t < a.lastOut {
		a.sum.OutOfOrder++
	} else {
		a.lastOut = t
	}
	if a.sum.FirstUS == 0 || t < a.sum.FirstUS {
		a.sum.FirstUS = t
	}
	if t > a.sum.LastUS {
		a.sum.LastUS = t
	}
}

func (a *assembler) emit(p *pending) {
	s := p.s
	switch p.kind {
	case SessionStart:
		if a.f.windowed() && !s.failed {
			// With a time window a session is written with its first
			// statement inside the window, if it has one.
			return
		}
		if s.ended || s.stmts > 0 || s.authorized || s.failed {
			a.decide(s)
		} else if !s.dropped {
			// Only "connection received" so far; it may become a session.
			if a.sessions[s.key] == s && s.stmts == 0 {
				a.sum.Skipped["not_a_session"]++
				a.forget(s)
				s.dropped = true
			}
		}
	case Statement:
		if s.dropped || s.background {
			a.dropStatement(s, p)
			return
		}
		if !a.f.time(p.time) {
			a.dropStatement(s, p)
			a.sum.Skipped["filtered"]++
			return
		}
		a.decide(s)
		if s.id == 0 {
			a.dropStatement(s, p)
			return
		}
		p.index = s.written
		s.written++
		p.written = true
		a.write(p.time)
		p.ev.Fingerprint, _ = a.fps.Lookup(p.ev.Text)
		if p.ev.Pipelined {
			a.sum.Pipelined++
		}
		a.syncStatement(s, p)
		a.w.statement(s.id, p.time, &p.ev)
		a.countStatement(s, p)
	case Error:
		if s.dropped && s.filtered || !a.f.time(p.time) || (a.f.windowed() && s.id == 0 && !s.failed) {
			return
		}
		var sid uint64
		if !s.dropped {
			a.decide(s)
			sid = s.id
		}
		a.write(p.time)
		if p.ev.Text != "" {
			p.ev.Fingerprint, _ = a.fps.Lookup(p.ev.Text)
		}
		if sid != 0 {
			a.syncError(s, p)
		}
		a.w.errorEvent(sid, p.time, &p.ev)
	case SessionEnd:
		if s.id == 0 && !s.dropped && (s.authorized || s.stmts > 0) && !a.f.windowed() {
			a.decide(s)
		}
		if s.id == 0 {
			if !s.dropped && !s.failed && !a.f.windowed() {
				a.sum.Skipped["not_a_session"]++
			}
			return
		}
		t := p.time
		if a.f.end != 0 && t > a.f.end {
			t = a.f.end
		}
		a.write(t)
		a.w.sessionEnd(s.id, t)
		a.open--
	}
}

func (a *assembler) dropStatement(s *session, p *pending) {
	if s.last == p {
		s.last = nil
	}
	if s.filtered {
		a.sum.Skipped["filtered"]++
	}
}

func (a *assembler) countStatement(s *session, p *pending) {
	sum := a.sum
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
		a.dbCount[s.db]++
	}
	if s.user != "" {
		a.userCount[s.user]++
	}
	sec := p.time / 1_000_000
	slot := sec & 63
	if a.secOf[slot] != sec {
		a.secOf[slot] = sec
		a.secCounts[slot] = 0
	}
	a.secCounts[slot]++
	if a.secCounts[slot] > sum.PeakStatementsPerSecond {
		sum.PeakStatementsPerSecond = a.secCounts[slot]
	}
}

// finish flushes the buffer and completes the summary.
func (a *assembler) finish() {
	a.flush()
	a.sum.Databases = sortedKeys(a.dbs)
	a.sum.Users = sortedKeys(a.users)
	a.sum.TopDatabases = topN(a.dbCount, 5)
	a.sum.TopUsers = topN(a.userCount, 5)
	a.sum.First = rfc3339(a.sum.FirstUS)
	a.sum.Last = rfc3339(a.sum.LastUS)
}

// filter holds the --begin/--end/--database/--user/--application choices.
type filter struct {
	begin, end int64
	db, user   nameFilter
	app        nameFilter
}

// nameFilter keeps names in include (when any) and drops names in exclude.
type nameFilter struct {
	include, exclude map[string]bool
}

func newNameFilter(values []string) nameFilter {
	var f nameFilter
	for _, v := range values {
		if rest, ok := strings.CutPrefix(v, "!"); ok {
			if f.exclude == nil {
				f.exclude = map[string]bool{}
			}
			f.exclude[rest] = true
			continue
		}
		if f.include == nil {
			f.include = map[string]bool{}
		}
		f.include[v] = true
	}
	return f
}

func (f nameFilter) keep(name string) bool {
	if f.exclude[name] {
		return false
	}
	return f.include == nil || f.include[name]
}

func (f *filter) session(s *session) bool {
	return f.db.keep(s.db) && f.user.keep(s.user) && f.app.keep(s.app)
}

func (f *filter) windowed() bool { return f.begin != 0 || f.end != 0 }

func (f *filter) time(t int64) bool {
	return (f.begin == 0 || t >= f.begin) && (f.end == 0 || t <= f.end)
}
