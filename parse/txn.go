package parse

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// What the log says of transactions: which extended-protocol statements a
// client sent before one Sync (one implicit transaction, which commits or
// fails as a whole), and where explicit transaction blocks begin and end.
//
// Statements of one transaction share a virtual transaction id (%v;
// csvlog and jsonlog always carry it). Outside a BEGIN ... COMMIT block,
// two consecutive extended statements of a session with the same vxid were
// therefore pipelined: pgJDBC's executeBatch, psycopg's pipeline(), pgx's
// SendBatch. Inside a block the vxid is shared anyway and the grouping
// changes nothing replay must reproduce.

// txState is a session's transaction bookkeeping while parsing.
type txState struct {
	inBlock bool
	// prevExt: the session's previous statement (or the statement of its
	// previous error) was an extended-protocol one, with prevVXID/prevXID.
	prevExt  bool
	prevVXID VXID
	prevXID  uint64
	// prev is the session's previous statement or error event, marked
	// Continued when the next one joins its pipeline.
	prev *pending
}

// link makes p the session's latest statement or error event, and marks
// the one before it Continued when p was pipelined with it and is still
// held (not yet written).
func (t *txState) link(p *pending) {
	if p.ev.Pipelined && t.prev != nil && !t.prev.written {
		t.prev.ev.Continued = true
	}
	t.prev = p
}

// chain decides whether an extended statement (or the statement of an
// error) joins the session's previous one in one implicit transaction, and
// notes what the next one needs. text is the statement, so that BEGIN,
// COMMIT and ROLLBACK move the block state.
func (a *assembler) chain(t *txState, e *logentry.Entry, extended bool, text []byte) (vxid VXID, xid uint64, pipelined bool) {
	vxid = ParseVXID(e.VXID)
	if len(e.XID) > 0 && e.XID[0] != '0' {
		xid, _ = strconv.ParseUint(string(e.XID), 10, 64)
	}
	if extended && t.prevExt && !t.inBlock {
		switch {
		case !vxid.IsZero():
			pipelined = vxid == t.prevVXID
		case len(e.VXID) == 0 && xid != 0 && xid == t.prevXID:
			// %x without %v: a writing transaction shows its xid from its
			// second statement on.
			pipelined = true
		case len(e.VXID) == 0:
			// The log can not tell one Sync from two.
			a.sum.GroupingUnknown++
		}
	}
	t.prevExt, t.prevVXID, t.prevXID = extended, vxid, xid
	t.inBlock = blockAfter(t.inBlock, text)
	return vxid, xid, pipelined
}

// blockAfter returns whether a session is inside an explicit transaction
// block after running text, given whether it was before. A simple query
// may hold several statements; each one's leading keywords count.
func blockAfter(in bool, text []byte) bool {
	for i := 0; i >= 0; i = nextStatement(text, i) {
		in = blockStatement(in, text[i:])
	}
	return in
}

// blockStatement is blockAfter for one statement.
func blockStatement(in bool, text []byte) bool {
	w1, rest := word(text)
	if len(w1) < 3 || len(w1) > 8 {
		// None of the words below.
		return in
	}
	w2, _ := word(rest)
	is := isWord
	switch {
	case is(w1, "begin"):
		return true
	case is(w1, "start"):
		return in || is(w2, "transaction")
	case is(w1, "commit"), is(w1, "abort"), is(w1, "end"):
		return in && is(w2, "prepared")
	case is(w1, "rollback"):
		return in && (is(w2, "to") || is(w2, "prepared"))
	case is(w1, "prepare"):
		return in && !is(w2, "transaction")
	}
	return in
}

// isWord reports whether w is the keyword kw (lower case), in any case.
func isWord(w []byte, kw string) bool { return len(w) == len(kw) && strings.EqualFold(string(w), kw) }

// lowerWord is word in lower case, for lookups in maps of keywords.
func lowerWord(b []byte) (string, []byte) {
	w, rest := word(b)
	return strings.ToLower(string(w)), rest
}

// word returns the first word of b, after spaces and comments, and what
// follows it.
func word(b []byte) ([]byte, []byte) {
	b = skipBlank(b)
	i := 0
	for i < len(b) && (b[i] >= 'a' && b[i] <= 'z' || b[i] >= 'A' && b[i] <= 'Z' || b[i] == '_') {
		i++
	}
	return b[:i], b[i:]
}

// skipBlank skips whitespace and SQL comments.
func skipBlank(b []byte) []byte {
	for {
		b = bytes.TrimLeft(b, " \t\r\n\f")
		switch {
		case bytes.HasPrefix(b, []byte("--")):
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
		case bytes.HasPrefix(b, []byte("/*")):
			i := bytes.Index(b[2:], []byte("*/"))
			if i < 0 {
				return nil
			}
			b = b[i+4:]
		default:
			return b
		}
	}
}

// nextStatement returns where the statement after the one at from
// begins: after the next semicolon outside quotes, dollar quotes and
// comments; -1 when there is none.
func nextStatement(text []byte, from int) int {
	if bytes.IndexByte(text[from:], ';') < 0 {
		return -1
	}
	for i := from; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\'' || c == '"':
			j := bytes.IndexByte(text[i+1:], c)
			if j < 0 {
				return -1
			}
			i += j + 1
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			j := bytes.IndexByte(text[i:], '\n')
			if j < 0 {
				return -1
			}
			i += j
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := bytes.Index(text[i+2:], []byte("*/"))
			if j < 0 {
				return -1
			}
			i += j + 3
		case c == '$':
			if tag := dollarTag(text[i:]); tag != nil {
				j := bytes.Index(text[i+len(tag):], tag)
				if j < 0 {
					return -1
				}
				i += len(tag) + j + len(tag) - 1
			}
		case c == ';':
			if i+1 < len(text) {
				return i + 1
			}
			return -1
		}
	}
	return -1
}

// dollarTag returns the opening $tag$ at the start of b, or nil. $1 is a
// parameter, not a tag.
func dollarTag(b []byte) []byte {
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '$':
			return b[:i+1]
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80:
		case c >= '0' && c <= '9' && i > 1:
		default:
			return nil
		}
	}
	return nil
}

// errorStep tells from an error entry's command tag (%i, csv command_tag,
// json ps) which protocol step failed. A simple query that fails in the
// raw parser still shows its session's idle state.
func errorStep(tag []byte) Step {
	switch {
	case len(tag) == 0:
		return StepUnknown
	case bytes.Equal(tag, []byte("PARSE")), bytes.HasPrefix(tag, []byte("idle")):
		return StepParse
	case bytes.Equal(tag, []byte("BIND")):
		return StepBind
	}
	return StepExecute
}

var (
	ctxWithParams = []byte("portal with parameters: ")
	ctxNamedWith  = []byte("\" with parameters: ")
	ctxParameter  = []byte("portal parameter $1 = ")
)

// contextParams returns the parameter values an error's CONTEXT lists,
// when it lists all of them (log_parameter_max_length_on_error): "unnamed
// portal with parameters: $1 = '1', $2 = '0'", or, for a statement with a
// single parameter, "unnamed portal parameter $1 = 'abc'". Values cut to
// "..." do not count.
func contextParams(ctx, text []byte) []Param {
	for _, line := range bytes.Split(ctx, []byte("\n")) {
		var list []byte
		if i := bytes.Index(line, ctxWithParams); i >= 0 {
			list = line[i+len(ctxWithParams):]
		} else if i := bytes.Index(line, ctxNamedWith); i >= 0 && bytes.HasPrefix(line, []byte("portal \"")) {
			list = line[i+len(ctxNamedWith):]
		} else if i := bytes.Index(line, ctxParameter); i >= 0 && maxPlaceholder(text) == 1 {
			list = line[i+len("portal parameter "):]
		} else {
			continue
		}
		ps, truncated, err := ParseParams(append([]byte("parameters: "), list...))
		if err != nil || truncated || len(ps) != maxPlaceholder(text) {
			return nil
		}
		return ps
	}
	return nil
}

// maxPlaceholder returns the highest $n in text.
func maxPlaceholder(text []byte) int {
	best := 0
	for i := 0; i+1 < len(text); i++ {
		if text[i] != '$' || text[i+1] < '1' || text[i+1] > '9' {
			continue
		}
		j := i + 1
		n := 0
		for j < len(text) && text[j] >= '0' && text[j] <= '9' && n < 1<<16 {
			n = n*10 + int(text[j]-'0')
			j++
		}
		best = max(best, n)
		i = j - 1
	}
	return best
}
