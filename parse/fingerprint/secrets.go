package fingerprint

import (
	"regexp"
	"strings"
)

// Masked stands for a value that is not shown.
const Masked = "***"

// MaskPasswords returns text with password literals replaced by '***':
// CREATE/ALTER ROLE|USER ... [ENCRYPTED] PASSWORD '...' (also E'...' and
// dollar-quoted), password 'x' in OPTIONS (...) of user mappings,
// password=x in connection strings and the password of a postgres://
// URI. Statements shown with their values (--show-params) still never
// show a password: a value the user asked to see is data, a password is
// a credential.
func MaskPasswords(text string) string {
	if !containsFold(text, "password") && !strings.Contains(text, "://") {
		return text
	}
	text = uriPassword.ReplaceAllString(text, "${1}"+Masked+"@")
	var b strings.Builder
	rest := text
	for {
		i := indexFold(rest, "password")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		end := i + len("password")
		if (i > 0 && isWord(rest[i-1])) || (end < len(rest) && isWord(rest[end]) && rest[end] != '=') {
			// part of a longer word: password_encryption, passwords
			b.WriteString(rest[:end])
			rest = rest[end:]
			continue
		}
		b.WriteString(rest[:end])
		rest = rest[end:]
		j := skipSpace(rest, 0)
		if j < len(rest) && rest[j] == '=' {
			// password=secret in a connection string, SET password = '...'
			k := skipSpace(rest, j+1)
			if n := literalLen(rest[k:]); n > 0 {
				b.WriteString(rest[:k])
				b.WriteString("'" + Masked + "'")
				rest = rest[k+n:]
				continue
			}
			v := k
			for v < len(rest) && !isSpace(rest[v]) && rest[v] != '\'' && rest[v] != '"' && rest[v] != ')' && rest[v] != ',' {
				v++
			}
			if v > k && rest[k] != '$' {
				b.WriteString(rest[:k])
				b.WriteString(Masked)
				rest = rest[v:]
			}
			continue
		}
		if n := literalLen(rest[j:]); n > 0 {
			b.WriteString(rest[:j])
			b.WriteString("'" + Masked + "'")
			rest = rest[j+n:]
		}
	}
}

var uriPassword = regexp.MustCompile(`(?i)(postgres(?:ql)?://[^:/@\s']*:)[^@\s']*@`)

// literalLen returns the length of the SQL string literal s starts with
// ('...', E'...', U&'...', $tag$...$tag$), to the end of s when it is not
// closed, or 0 when s does not start with one.
func literalLen(s string) int {
	i := 0
	escapes := false
	switch {
	case len(s) > 1 && (s[0] == 'E' || s[0] == 'e') && s[1] == '\'':
		i, escapes = 1, true
	case len(s) > 2 && (s[0] == 'U' || s[0] == 'u') && s[1] == '&' && s[2] == '\'':
		i = 2
	case len(s) > 0 && s[0] == '$':
		k := 1
		for k < len(s) && isWord(s[k]) {
			k++
		}
		if k >= len(s) || s[k] != '$' {
			return 0
		}
		tag := s[:k+1]
		if e := strings.Index(s[k+1:], tag); e >= 0 {
			return k + 1 + e + len(tag)
		}
		return len(s)
	}
	if i >= len(s) || s[i] != '\'' {
		return 0
	}
	for k := i + 1; k < len(s); k++ {
		switch {
		case escapes && s[k] == '\\':
			k++
		case s[k] == '\'' && k+1 < len(s) && s[k+1] == '\'':
			k++
		case s[k] == '\'':
			return k + 1
		}
	}
	return len(s)
}

// identifierNouns precede a double-quoted name in PostgreSQL's messages
// (relation "t", constraint "t_pkey"): names of objects, not data.
var identifierNouns = map[string]bool{
	"relation": true, "column": true, "constraint": true, "table": true, "index": true, "schema": true,
	"database": true, "role": true, "user": true, "function": true, "type": true, "sequence": true,
	"view": true, "trigger": true, "extension": true, "statement": true, "portal": true, "cursor": true,
	"savepoint": true, "operator": true, "tablespace": true, "server": true, "publication": true,
	"subscription": true, "collation": true, "domain": true, "policy": true, "rule": true,
	"channel": true, "parameter": true, "language": true, "procedure": true, "routine": true,
	"aggregate": true, "encoding": true, "slot": true, "attribute": true, "family": true, "class": true,
	"mapping": true, "wrapper": true, "conversion": true, "event": true, "object": true,
}

// MaskMessage returns an error message with the values it quotes
// replaced by "?": every single-quoted string, and double-quoted text
// that is not the name of an object (relation "t" stays; invalid input
// syntax for type integer: "42x" does not). "at or near" keeps a keyword
// or a name, not a literal.
func MaskMessage(msg string) string {
	if !strings.ContainsAny(msg, `'"`) {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		c := msg[i]
		if c != '\'' && c != '"' {
			b.WriteByte(c)
			i++
			continue
		}
		end := closing(msg, i)
		inner := msg[i+1 : max(i+1, end-1)]
		if c == '"' && keepQuoted(msg[:i], inner) {
			b.WriteString(msg[i:end])
		} else {
			b.WriteByte(c)
			b.WriteByte('?')
			b.WriteByte(c)
		}
		i = end
	}
	return b.String()
}

// closing returns the index after the quote that closes the one at i
// (doubled quotes stay inside), or len(s).
func closing(s string, i int) int {
	q := s[i]
	for k := i + 1; k < len(s); k++ {
		if s[k] == q {
			if k+1 < len(s) && s[k+1] == q {
				k++
				continue
			}
			return k + 1
		}
	}
	return len(s)
}

var bareWord = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

func keepQuoted(before, inner string) bool {
	words := strings.Fields(before)
	if len(words) == 0 {
		return false
	}
	last := strings.ToLower(strings.TrimRight(words[len(words)-1], ":,"))
	if identifierNouns[last] {
		return true
	}
	if last == "near" && len(words) >= 3 && strings.EqualFold(words[len(words)-2], "or") {
		return bareWord.MatchString(inner)
	}
	return false
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func indexFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return i
		}
	}
	return -1
}

func containsFold(s, sub string) bool { return indexFold(s, sub) >= 0 }

// Redact returns text as a report may show it: normalised, and with any
// string literal the normaliser left (text it could not lex is returned
// only collapsed) replaced by "?", passwords included.
func Redact(text string) string {
	n := Normalize(text)
	if !strings.ContainsAny(n, `'$`) {
		return n
	}
	var b strings.Builder
	for i := 0; i < len(n); {
		if k := literalLen(n[i:]); k > 0 && (i == 0 || !isWord(n[i-1]) || n[i] != '$') {
			b.WriteByte('?')
			i += k
			continue
		}
		b.WriteByte(n[i])
		i++
	}
	return b.String()
}
