package parse

import (
	"bytes"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

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
