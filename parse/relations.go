package parse

import (
	"strings"

	sqllexer "github.com/DataDog/go-sqllexer"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// What a statement touches, for commit-order synchronisation: the
// relations it names and whether it writes (or locks rows), as the SQL
// lexer the fingerprints already use sees them. Names are folded to their
// last part in lower case, so "public.Accounts" and accounts are one
// relation: two tables of one name in two schemas are taken for one,
// which makes replay wait more, never less.

// stmtClass is what a statement touches.
type stmtClass struct {
	rels   []string
	writes bool
}

var tableLexer = sqllexer.NewNormalizer(sqllexer.WithCollectTables(true), sqllexer.WithCollectCommands(true))

// writeCommands are the lexer's commands that change data or lock rows
// (SELECT ... FOR UPDATE shows as UPDATE).
var writeCommands = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "TRUNCATE": true,
	"CREATE": true, "ALTER": true, "DROP": true, "GRANT": true, "REVOKE": true, "UPSERT": true,
}

// writeWords are first words of statements that write or lock although
// the lexer names no command for them; a transaction that runs one
// counts as writing.
var writeWords = map[string]bool{
	"lock": true, "copy": true, "call": true, "do": true, "refresh": true, "cluster": true,
	"reindex": true, "comment": true, "security": true, "import": true, "execute": true,
	"truncate": true, "merge": true, "insert": true, "update": true, "delete": true,
}

// classify lexes text.
func classify(text string) stmtClass {
	var c stmtClass
	_, meta, err := tableLexer.Normalize(text, sqllexer.WithDBMS(sqllexer.DBMSPostgres))
	if err == nil && meta != nil {
		for _, cmd := range meta.Commands {
			if writeCommands[cmd] {
				c.writes = true
			}
		}
		for _, t := range meta.Tables {
			c.addRel(t)
		}
	}
	b := []byte(text)
	for st := 0; st >= 0; st = nextStatement(b, st) {
		w1, rest := lowerWord(b[st:])
		if writeWords[w1] {
			c.writes = true
		}
		low := strings.ToLower(text[st:])
		if w1 == "select" && (strings.Contains(low, " for share") || strings.Contains(low, " for key share") ||
			strings.Contains(low, " for no key update")) {
			c.writes = true
		}
		// The lexer misses these relations (COPY's is taken for STDIN).
		switch w1 {
		case "truncate", "copy", "lock":
			w2, r2 := lowerWord(rest)
			for w2 == "table" || w2 == "only" {
				rest = r2
				w2, r2 = lowerWord(r2)
			}
			if name := ident(rest); name != "" {
				c.addRel(name)
			}
		}
	}
	return c
}

// ident reads the (possibly quoted, possibly qualified) name at the start
// of b and returns its last part.
func ident(b []byte) string {
	b = skipBlank(b)
	var last string
	for {
		var part string
		switch {
		case len(b) > 0 && b[0] == '"':
			j := strings.IndexByte(string(b[1:]), '"')
			if j < 0 {
				return last
			}
			part, b = string(b[1:1+j]), b[2+j:]
		default:
			j := 0
			for j < len(b) && (b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z' || b[j] == '_' ||
				b[j] >= '0' && b[j] <= '9' && j > 0 || b[j] == '$' && j > 0 || b[j] >= 0x80) {
				j++
			}
			part, b = string(b[:j]), b[j:]
		}
		if part == "" {
			return last
		}
		last = part
		if len(b) == 0 || b[0] != '.' {
			return last
		}
		b = b[1:]
	}
}

// addRel adds a relation name, folded, once; "STDIN" is COPY's source.
func (c *stmtClass) addRel(name string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToLower(strings.Trim(name, `"`))
	if name == "" || name == "stdin" || name == "stdout" {
		return
	}
	for _, r := range c.rels {
		if r == name {
			return
		}
	}
	if len(c.rels) < maxRels {
		c.rels = append(c.rels, name)
	}
}

// maxRels bounds the relations kept of one statement.
const maxRels = 16

// classCache remembers the class of each fingerprint: every execution of
// a query touches the same relations.
type classCache struct {
	m map[fingerprint.ID]stmtClass
	// fastest is each query's shortest duration seen: a run that takes
	// about that long waited for no lock.
	fastest map[fingerprint.ID]int64
}

// quick reports whether a statement's duration (µs, -1 unknown) shows it
// waited for no lock: it took at most three times its query's fastest
// run, and under a millisecond. It remembers the duration.
func (cc *classCache) quick(fp fingerprint.ID, dur int64) bool {
	if dur < 0 {
		return false
	}
	if cc.fastest == nil || len(cc.fastest) >= 1<<16 {
		cc.fastest = make(map[fingerprint.ID]int64)
	}
	f, ok := cc.fastest[fp]
	if !ok || dur < f {
		cc.fastest[fp], f = dur, dur
	}
	return dur < 1000 && dur <= 3*f+20
}

func (cc *classCache) get(fp fingerprint.ID, text string) stmtClass {
	if c, ok := cc.m[fp]; ok && fp != 0 {
		return c
	}
	c := classify(text)
	if cc.m == nil || len(cc.m) >= 1<<16 {
		cc.m = make(map[fingerprint.ID]stmtClass)
	}
	cc.m[fp] = c
	return c
}
