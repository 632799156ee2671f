package parse

import (
	"bytes"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

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
	s.sy.readStatement(p, text)
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
