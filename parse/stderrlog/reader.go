package stderrlog

import (
	"bytes"
	"io"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// Field slots an entry's text is gathered into when it spans lines.
const (
	slotMessage = iota
	slotDetail
	slotHint
	slotContext
	slotQuery
	slotInternal
	slotNone
	nSlots
)

// Reader reads the entries of a stderr log.
type Reader struct {
	lr  *logentry.LineReader
	p   *Prefix
	tp  *logentry.TimeParser
	cur logentry.Entry
	nxt logentry.Entry
	// have says nxt holds a parsed start line read ahead.
	have bool
	// bad holds a line read ahead that is not an entry start.
	bad     []byte
	badLine int64
	badSet  bool
	orphan  bool // inside a run of continuation lines without an entry
	// crlf is set when the first line ends in "\r\n" (a log copied
	// through Windows): then one "\r" is taken off every line, as
	// csvlog and jsonlog readers do, so no message or parameter list
	// ends in a stray "\r".
	crlf, decided bool
	err           error
	arena         []byte
	bufs          [nSlots][]byte
}

// NewReader returns a Reader of r for lines that start with prefix p; tp
// resolves the timestamps.
func NewReader(r io.Reader, p *Prefix, tp *logentry.TimeParser) *Reader {
	return &Reader{lr: logentry.NewLineReader(r, 1<<20), p: p, tp: tp}
}

// line returns the next line, without the "\r" of a CRLF log.
func (r *Reader) line() ([]byte, error) {
	l, err := r.lr.Next()
	if err != nil {
		return nil, err
	}
	if !r.decided && len(l) > 0 {
		r.decided = true
		r.crlf = l[len(l)-1] == '\r'
	}
	if r.crlf && len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[: len(l)-1 : len(l)-1]
	}
	return l, nil
}

const cutReason = "the file ends in the middle of a line (cut off while it was written or copied?): its last entry was left out"

// start parses line as the start of an entry into e.
func (r *Reader) start(line []byte, e *logentry.Entry) bool {
	*e = logentry.Entry{Line: r.lr.Line()}
	pos := r.p.match(line, e, r.tp)
	if pos < 0 {
		return false
	}
	sev, n := severityAt(line[pos:])
	if sev == 0 {
		return false
	}
	e.Severity = sev
	e.Message = line[pos+n:]
	return true
}

func slotOf(s logentry.Severity) int {
	switch s {
	case logentry.SeverityDetail:
		return slotDetail
	case logentry.SeverityHint:
		return slotHint
	case logentry.SeverityContext:
		return slotContext
	case logentry.SeverityStatement:
		return slotQuery
	case logentry.SeverityQuery:
		return slotInternal
	}
	return slotNone
}

// Next returns the next entry.
func (r *Reader) Next() (*logentry.Entry, error) {
	e := &r.cur
	for !r.have {
		var line []byte
		var n int64
		if r.badSet {
			line, n, r.badSet = r.bad, r.badLine, false
		} else {
			if r.err != nil {
				return nil, r.err
			}
			l, err := r.line()
			if err != nil {
				r.err = err
				return nil, err
			}
			line, n = l, r.lr.Line()
		}
		if r.start(line, &r.nxt) {
			r.nxt.Line = n
			r.have = true
			r.orphan = false
			break
		}
		if len(line) > 0 && line[0] == '\t' {
			if r.orphan {
				continue
			}
			r.orphan = true
			return nil, &logentry.MalformedError{Line: n, Reason: "continuation line without an entry before it (the file starts inside an entry?)"}
		}
		if len(line) == 0 {
			continue
		}
		r.orphan = true
		if r.err == nil && n == r.lr.Line() && r.lr.Cut() {
			return nil, &logentry.MalformedError{Line: n, Reason: cutReason, Cut: true}
		}
		return nil, &logentry.MalformedError{Line: n, Reason: "line does not start with the log_line_prefix and a severity"}
	}
	r.cur, r.nxt = r.nxt, r.cur
	r.have = false
	owned := false
	slot := slotMessage
	for r.err == nil {
		line, err := r.line()
		if err != nil {
			r.err = err
			break
		}
		if len(line) > 0 && line[0] == '\t' {
			if !owned {
				r.own(e)
				owned = true
			}
			if slot != slotNone {
				r.bufs[slot] = append(r.bufs[slot], '\n')
				r.bufs[slot] = append(r.bufs[slot], line[1:]...)
			}
			continue
		}
		if r.start(line, &r.nxt) {
			if r.nxt.Severity.IsAttachment() && sameBackend(e, &r.nxt) {
				if !owned {
					r.own(e)
					owned = true
				}
				slot = slotOf(r.nxt.Severity)
				if slot != slotNone {
					r.bufs[slot] = append(r.bufs[slot][:0], r.nxt.Message...)
				}
				continue
			}
			r.have = true
			break
		}
		r.bad, r.badLine, r.badSet = line, r.lr.Line(), true
		break
	}
	if owned {
		e.Message = r.bufs[slotMessage]
		e.Detail = r.bufs[slotDetail]
		e.Hint = r.bufs[slotHint]
		e.Context = r.bufs[slotContext]
		e.Query = r.bufs[slotQuery]
		e.InternalQuery = r.bufs[slotInternal]
	}
	if r.err != nil && r.lr.Cut() {
		// The entry's last line is the file's, without its newline: a
		// statement cut there would replay as a false syntax error.
		return nil, &logentry.MalformedError{Line: e.Line, Reason: cutReason, Cut: true}
	}
	// A read error ends the entry; the next call returns the error.
	return e, nil
}

func sameBackend(a, b *logentry.Entry) bool {
	if len(a.SessionID) > 0 && len(b.SessionID) > 0 {
		return bytes.Equal(a.SessionID, b.SessionID)
	}
	if a.PID != 0 && b.PID != 0 {
		return a.PID == b.PID
	}
	return true
}

// own copies e's fields out of the line buffer, which the following lines
// will overwrite, into the reader's own storage.
func (r *Reader) own(e *logentry.Entry) {
	for i := range r.bufs {
		r.bufs[i] = r.bufs[i][:0]
	}
	r.bufs[slotMessage] = append(r.bufs[slotMessage], e.Message...)
	need := len(e.SessionID) + len(e.User) + len(e.Database) + len(e.Application) + len(e.RemoteHost) + len(e.RemotePort) + len(e.BackendType) + len(e.CommandTag) + len(e.SQLState)
	if cap(r.arena) < need {
		r.arena = make([]byte, 0, 2*need)
	}
	r.arena = r.arena[:0]
	cp := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		s := len(r.arena)
		r.arena = append(r.arena, b...)
		return r.arena[s:len(r.arena):len(r.arena)]
	}
	e.SessionID = cp(e.SessionID)
	e.User = cp(e.User)
	e.Database = cp(e.Database)
	e.Application = cp(e.Application)
	e.RemoteHost = cp(e.RemoteHost)
	e.RemotePort = cp(e.RemotePort)
	e.BackendType = cp(e.BackendType)
	e.CommandTag = cp(e.CommandTag)
	e.SQLState = cp(e.SQLState)
}
