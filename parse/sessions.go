package parse

import (
	"bytes"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

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

func (a *assembler) startSession(s *session) {
	if s.startSent {
		return
	}
	s.startSent = true
	a.push(&pending{kind: SessionStart, time: s.start, s: s})
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
