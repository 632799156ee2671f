package parse

import (
	"sort"
	"strings"

	sqllexer "github.com/DataDog/go-sqllexer"
)

// Row keys. Transactions that touch one table mostly touch different rows
// of it, and making every statement on the table wait for every commit
// on it would chain all sessions together. A statement that names the
// rows of its one table by key, "WHERE id = 5" or "WHERE aid = $2 AND
// bid = $3" (or an INSERT, by its first column), is taken to touch those
// rows only: for --sync objects it waits for the transactions that
// touched the same rows, or the whole table. Anything else (ranges, IN,
// OR, joins, subqueries) touches the whole table.

// keyPart is one "column = value" of a key: the value is a literal, or
// the parameter $param.
type keyPart struct {
	col   string
	param int
	lit   string
}

// rowKey returns the key a statement names, nil when it names none.
func rowKey(text string) []keyPart {
	toks := make([]sqllexer.Token, 0, 32)
	lx := sqllexer.New(text, sqllexer.WithDBMS(sqllexer.DBMSPostgres))
	for len(toks) < 256 {
		t := lx.Scan()
		switch t.Type {
		case sqllexer.EOF:
			return keyOf(toks)
		case sqllexer.SPACE, sqllexer.COMMENT, sqllexer.MULTILINE_COMMENT:
			continue
		case sqllexer.ERROR, sqllexer.INCOMPLETE_STRING, sqllexer.UNKNOWN:
			return nil
		}
		toks = append(toks, *t)
	}
	return nil
}

func keyOf(toks []sqllexer.Token) []keyPart {
	if len(toks) > 0 && toks[len(toks)-1].Value == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return nil
	}
	if strings.EqualFold(toks[0].Value, "insert") {
		return insertKey(toks)
	}
	depth := 0
	for i, t := range toks {
		switch {
		case t.Value == "(":
			depth++
		case t.Value == ")":
			depth--
		case depth == 0 && t.Type == sqllexer.KEYWORD && strings.EqualFold(t.Value, "where"):
			// The caller makes sure the statement names one table.
			return whereKey(toks[i+1:])
		}
	}
	return nil
}

// whereKey reads "col = value [AND col = value ...]" up to the end or a
// clause that does not narrow the rows.
func whereKey(toks []sqllexer.Token) []keyPart {
	var parts []keyPart
	for len(toks) >= 3 {
		col, val := toks[0], toks[2]
		if toks[1].Type != sqllexer.OPERATOR || toks[1].Value != "=" {
			return nil
		}
		if !isIdent(col) {
			col, val = val, col
		}
		p, ok := part(col, val)
		if !ok {
			return nil
		}
		parts = append(parts, p)
		toks = toks[3:]
		if len(toks) == 0 {
			break
		}
		switch w := strings.ToLower(toks[0].Value); {
		case w == "and" && toks[0].Type == sqllexer.KEYWORD:
			toks = toks[1:]
			continue
		case w == "returning" || w == "for" || w == "limit" || w == "order":
			toks = nil
		default:
			return nil
		}
	}
	if len(toks) != 0 || len(parts) == 0 {
		return nil
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].col < parts[j].col })
	return parts
}

// insertKey reads "INSERT INTO t (c1, ...) VALUES (v1, ...)" of one row
// into its first column's value.
func insertKey(toks []sqllexer.Token) []keyPart {
	i := 0
	for i < len(toks) && toks[i].Value != "(" {
		i++
	}
	if i+1 >= len(toks) || !isIdent(toks[i+1]) {
		return nil
	}
	col := toks[i+1]
	for i < len(toks) && !strings.EqualFold(toks[i].Value, "values") {
		i++
	}
	if i+2 >= len(toks) || toks[i+1].Value != "(" {
		return nil
	}
	p, ok := part(col, toks[i+2])
	if !ok {
		return nil
	}
	// One row only: a second tuple would be another key.
	depth := 0
	for _, t := range toks[i+1:] {
		switch t.Value {
		case "(":
			depth++
		case ")":
			depth--
		case ",":
			if depth == 0 {
				return nil
			}
		}
	}
	return []keyPart{p}
}

func isIdent(t sqllexer.Token) bool {
	return t.Type == sqllexer.IDENT || t.Type == sqllexer.QUOTED_IDENT
}

func part(col, val sqllexer.Token) (keyPart, bool) {
	if !isIdent(col) {
		return keyPart{}, false
	}
	name := col.Value
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	p := keyPart{col: strings.ToLower(strings.Trim(name, `"`))}
	if p.col == "" {
		// "" is no column (Postgres refuses a zero-length name), so the
		// statement has no key to follow.
		return keyPart{}, false
	}
	switch val.Type {
	case sqllexer.POSITIONAL_PARAMETER:
		n := 0
		for _, c := range val.Value[1:] {
			if c < '0' || c > '9' || n > 1<<16 {
				return keyPart{}, false
			}
			n = n*10 + int(c-'0')
		}
		if n == 0 {
			return keyPart{}, false
		}
		p.param = n
	case sqllexer.NUMBER:
		p.lit = val.Value
	case sqllexer.STRING:
		v := val.Value
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return keyPart{}, false
		}
		p.lit = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	default:
		return keyPart{}, false
	}
	return p, true
}

// keyValue is the key with its values, for statement parameters params;
// "" when a parameter is missing.
func keyValue(parts []keyPart, params []Param) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.col)
		b.WriteByte('=')
		v := p.lit
		if p.param > 0 {
			if p.param > len(params) || params[p.param-1].Null {
				return ""
			}
			v = params[p.param-1].Value
		}
		b.WriteString(v)
	}
	return b.String()
}

// keyCache remembers the key of each text with parameters, which repeat;
// a text with its values inline is lexed each time.
type keyCache struct{ m map[string][]keyPart }

func (kc *keyCache) get(text string) []keyPart {
	if parts, ok := kc.m[text]; ok {
		return parts
	}
	parts := rowKey(text)
	if hasPlaceholder([]byte(text)) {
		if kc.m == nil || len(kc.m) >= 1<<14 {
			kc.m = make(map[string][]keyPart)
		}
		kc.m[text] = parts
	}
	return parts
}

// writeRec is a write of rows by key: its statement and transaction.
type writeRec struct {
	s  *session
	p  *pending
	tx *txRec
}

// writeRing keeps the latest write of a row key by each of a few
// sessions.
type writeRing struct {
	w [4]writeRec
	n int
}

func (wr *writeRing) add(r writeRec) {
	for i := range wr.w[:min(wr.n, len(wr.w))] {
		if wr.w[i].s == r.s {
			wr.w[i] = r
			return
		}
	}
	wr.w[wr.n%len(wr.w)] = r
	wr.n++
}

// arrivals appends to refs, for a write of rows by key, the writes of
// the same rows by other sessions that began before it, in transactions
// still open when it began: production had queued it behind them for
// their row locks, and on the target it must not get there first. The
// wait is for them to be sent, not to finish: the lock wait itself is
// the server's. log_lock_waits shows only the waits past
// deadlock_timeout; this finds the short ones too.
//
// A write that took no longer than its query does without waiting
// (quick) met no lock: it queued behind nobody. And as a log stamps in
// milliseconds, a write that began within one of the end of another's
// transaction may have come before it or after; a quick one came after,
// and waits for that end. The file's order says more: a log of durations
// writes a statement when it ends, so when the earlier writer's
// transaction end was read before this statement, this one ended after
// that transaction did, and a quick one came at its end, whatever the
// clock's estimate of its start says: it follows the earlier write. The
// wait is for the earlier write to have finished when production had
// finished it before this one began: its lock is then taken, and no
// race on the target can put this statement first.
func (b *syncBook) arrivals(ss *syncSession, s *session, p *pending, objs []object, quick bool, refs []Ref) []Ref {
	for _, o := range objs {
		if o.key == "" {
			continue
		}
		wr := b.writers[o]
		if wr == nil {
			if b.writers == nil || len(b.writers) >= 1<<16 {
				b.writers = make(map[object]*writeRing)
			}
			wr = &writeRing{}
			b.writers[o] = wr
		}
		for _, w := range wr.w[:min(wr.n, len(wr.w))] {
			switch {
			case w.s == s || w.s.id == 0 || w.p.time >= p.time || len(refs) >= maxRefs,
				w.tx != nil && w.tx.ended && w.tx.end < p.time:
				continue
			case quick && w.tx != nil && w.tx.ended && w.tx.end < p.time+stampPrecision:
				if ss.lockSeen.add(refKey{w.s.id, w.tx.index, false}) {
					refs = append(refs, Ref{Session: w.s.id, Index: w.tx.index, From: w.tx.from, GapUS: p.time - w.p.time})
				}
				continue
			case quick && !endedBefore(w.p, p.seq):
				// It met no lock: nobody held the rows when it came.
				continue
			}
			sent := !w.p.finishedBy(p.time)
			if !hasRef(refs, w.s.id, w.p.index) && ss.lockSeen.add(refKey{w.s.id, w.p.index, sent}) {
				refs = append(refs, Ref{Session: w.s.id, Index: w.p.index, From: w.p.sy.from, GapUS: p.time - w.p.time, Sent: sent})
			}
		}
		wr.add(writeRec{s: s, p: p, tx: ss.tx})
	}
	return refs
}

// stampPrecision is how far apart two stamps of a log in milliseconds
// can be and still not be ordered (µs).
const stampPrecision = 1000

// hasRef reports whether refs name the statement already.
func hasRef(refs []Ref, session uint64, index int) bool {
	for _, r := range refs {
		if r.Session == session && r.Index == index {
			return true
		}
	}
	return false
}
