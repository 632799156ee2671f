// Package fingerprint gives every statement of a workload the identity of
// its normalised query: literals and parameters become placeholders, so
// "SELECT * FROM t WHERE id = 7", "... id = 8" and "... id = $1" all share
// one fingerprint. Replay records it per statement; compare groups query
// latency by it; reports show the normalised text, never the values.
//
// Normalisation is DataDog's go-sqllexer (Postgres dialect): a pure-Go
// lexer kept up by a team that runs it on production query streams, which
// understands dollar quoting, casts, JSON operators and comments. The hash
// is FNV-64a of the normalised text, stable across processes and machines
// so shards' results and separate runs agree.
package fingerprint

import (
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	sqllexer "github.com/DataDog/go-sqllexer"
)

// ID identifies a normalised query.
type ID uint64

// String is the ID as 16 hex digits, as results files carry it.
func (id ID) String() string {
	return string(id.Append(make([]byte, 0, 16)))
}

// Append appends the ID as String writes it, without allocating.
func (id ID) Append(b []byte) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[uint64(id)>>uint(shift)&0xf])
	}
	return b
}

// ParseID reads an ID written by String.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	return ID(v), err
}

var (
	obfuscator = sqllexer.NewObfuscator(
		sqllexer.WithReplaceDigits(false),
		// $1 in an extended-protocol statement and a literal in a simple
		// one are the same query to the user.
		sqllexer.WithReplacePositionalParameter(true),
		sqllexer.WithReplaceBoolean(true),
		sqllexer.WithReplaceNull(true),
		sqllexer.WithDollarQuotedFunc(true),
	)
	normalizer = sqllexer.NewNormalizer(
		sqllexer.WithUppercaseKeywords(true),
		sqllexer.WithRemoveSpaceBetweenParentheses(true),
		sqllexer.WithKeepIdentifierQuotation(true),
	)
	dbms = sqllexer.WithDBMS(sqllexer.DBMSPostgres)
)

// Normalize returns text with its values replaced by placeholders and its
// whitespace and keyword case made uniform. Text the lexer cannot read is
// returned with only its whitespace collapsed, so it still groups with
// itself.
func Normalize(text string) string {
	out, _, err := sqllexer.ObfuscateAndNormalize(text, obfuscator, normalizer, dbms)
	if err != nil || out == "" {
		return strings.Join(strings.Fields(text), " ")
	}
	return out
}

// Of returns the fingerprint of normalised text.
func Of(normalized string) ID {
	h := fnv.New64a()
	h.Write([]byte(normalized))
	return ID(h.Sum64())
}

// Cache remembers the fingerprint of texts already seen: a workload
// repeats a few thousand texts millions of times, and lexing is the
// expensive part. Texts of one shape (the same statement with other
// values, see shape) share an entry. It is safe for concurrent use.
type Cache struct {
	mu sync.RWMutex
	// m holds texts without a shape, s shapes.
	m, s map[string]entry
	// Max bounds the entries; past it the cache starts over, which costs
	// time, never correctness. 0 means 65536.
	Max int
	// shapes is buffers for the keys, one per caller at a time.
	shapes sync.Pool
}

type entry struct {
	id   ID
	norm string
}

// Lookup returns the fingerprint and normalised text of text.
func (c *Cache) Lookup(text string) (ID, string) {
	c.mu.RLock()
	e, ok := c.m[text]
	c.mu.RUnlock()
	if ok {
		return e.id, e.norm
	}
	bp, _ := c.shapes.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer c.shapes.Put(bp)
	key, shaped := shape((*bp)[:0], text)
	*bp = key
	if shaped {
		c.mu.RLock()
		e, ok = c.s[string(key)]
		c.mu.RUnlock()
		if ok {
			return e.id, e.norm
		}
	}
	norm := Normalize(text)
	e = entry{Of(norm), norm}
	limit := c.Max
	if limit <= 0 {
		limit = 65536
	}
	c.mu.Lock()
	if c.m == nil || len(c.m)+len(c.s) >= limit {
		c.m, c.s = make(map[string]entry), make(map[string]entry)
	}
	if shaped {
		c.s[string(key)] = e
	} else {
		c.m[strings.Clone(text)] = e
	}
	c.mu.Unlock()
	return e.id, e.norm
}
