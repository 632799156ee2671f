package stderrlog

import (
	"bytes"
	"sort"
	"strings"
)

// inferPrefix guesses a log_line_prefix made of fields that can be told by
// their shape alone: %m, %t, %n, %c, %p, %l, %e and user@database, joined
// by literal separators. It returns "" when the lines hold anything else
// (a free-text field such as %a cannot be named by looking at it).
func inferPrefix(lines [][]byte) string {
	votes := map[string]int{}
	for _, l := range lines {
		if len(l) == 0 || l[0] == '\t' {
			continue
		}
		if t := templateOf(l); t != "" {
			votes[t]++
		}
	}
	// A five-digit SQLSTATE such as 22012 looks like a line number; a
	// line whose %e was 00000, or had letters, shows what that field is.
	for t, n := range votes {
		for i := strings.Index(t, "%l"); i >= 0; {
			if v := t[:i] + "%e" + t[i+2:]; votes[v] > 0 {
				votes[v] += n
				delete(votes, t)
				break
			}
			j := strings.Index(t[i+2:], "%l")
			if j < 0 {
				break
			}
			i += 2 + j
		}
	}
	type cand struct {
		t string
		n int
	}
	var cs []cand
	for t, n := range votes {
		cs = append(cs, cand{t, n})
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].n != cs[j].n {
			return cs[i].n > cs[j].n
		}
		if len(cs[i].t) != len(cs[j].t) {
			return len(cs[i].t) > len(cs[j].t)
		}
		return cs[i].t < cs[j].t
	})
	if len(cs) == 0 {
		return ""
	}
	return cs[0].t
}

// templateOf turns the text before a line's severity into a prefix.
func templateOf(l []byte) string {
	sevAt := -1
	for i := 0; i < len(l) && i < 400; i++ {
		if i == 0 || l[i-1] == ' ' || l[i-1] == '|' || l[i-1] == ':' || l[i-1] == ']' || l[i-1] == '-' {
			if sev, _ := severityAt(l[i:]); sev != 0 {
				sevAt = i
				break
			}
		}
	}
	if sevAt <= 0 {
		return ""
	}
	p := l[:sevAt]
	var b strings.Builder
	numbers := 0
	for i := 0; i < len(p); {
		if e := stampEnd(p, i, true); e > 0 {
			b.WriteString("%m")
			i = e
			continue
		}
		if e := stampEnd(p, i, false); e > 0 {
			b.WriteString("%t")
			i = e
			continue
		}
		c := p[i]
		switch {
		case isHex(c) || isUpperAlnum(c):
			j := i
			for j < len(p) && (isAlnum(p[j])) {
				j++
			}
			tok := p[i:j]
			if j < len(p) && p[j] == '.' && hexDigits(p, j+1) > j+1 && allHex(tok) && len(tok) >= 6 {
				b.WriteString("%c")
				i = hexDigits(p, j+1)
				continue
			}
			if j < len(p) && p[j] == '.' && digits(p, j+1) > j+1 && allDigits(tok) && len(tok) >= 9 {
				b.WriteString("%n")
				i = digits(p, j+1)
				continue
			}
			switch {
			case len(tok) == 5 && isSQLState(tok) && !allDigits(tok) || bytes.Equal(tok, []byte("00000")):
				b.WriteString("%e")
			case allDigits(tok):
				if numbers == 0 {
					b.WriteString("%p")
				} else {
					b.WriteString("%l")
				}
				numbers++
			default:
				if k := bytes.IndexByte(p[i:], '@'); k >= 0 && k == j-i {
					// user@database
					end := bytes.IndexByte(p[j:], ' ')
					if end < 0 {
						return ""
					}
					b.WriteString("%u@%d")
					i = j + end
					continue
				}
				return ""
			}
			i = j
		case c == '%':
			b.WriteString("%%")
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isHex(c byte) bool        { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isUpperAlnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !isHex(c) {
			return false
		}
	}
	return len(b) > 0
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func isSQLState(b []byte) bool {
	for _, c := range b {
		if !isUpperAlnum(c) {
			return false
		}
	}
	return true
}
