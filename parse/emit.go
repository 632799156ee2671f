package parse

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
	t := s.start
	if a.f.begin != 0 && t < a.f.begin {
		t = a.f.begin
	}
	a.write(t)
	a.w.session(t, &Session{ID: s.id, Key: s.key, PID: s.pid, User: s.user, Database: s.db, Application: s.app, Client: s.client, Connected: s.connected})
	a.tally.sessionOpened(a.sum, s)
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
		a.tally.statement(a.sum, s, p)
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
		a.tally.open--
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
