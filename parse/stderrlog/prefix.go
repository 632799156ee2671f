// Package stderrlog reads PostgreSQL stderr logs (log_destination =
// 'stderr', with or without the logging collector) for any
// log_line_prefix, into format-neutral log entries for package parse.
//
// A prefix is compiled once into a list of literal and escape items and
// matched against each line without regular expressions: fields with a
// known shape (timestamps, pids, session ids) are read by shape, the
// others run to the literal text that follows them. An entry is a line
// that matches the prefix and a severity, its TAB-led continuation lines,
// and the DETAIL, HINT, CONTEXT and STATEMENT lines of the same report.
package stderrlog

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

type item struct {
	lit []byte // a literal, or
	esc byte   // an escape letter
	pad int    // padding width; negative pads on the right (%-10u)
}

// Prefix is a compiled log_line_prefix.
type Prefix struct {
	src   string
	items []item
	has   map[byte]bool
}

// CompilePrefix compiles a log_line_prefix value as it stands in
// postgresql.conf, without the quotes.
func CompilePrefix(prefix string) (*Prefix, error) {
	p := &Prefix{src: prefix, has: map[byte]bool{}}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			p.items = append(p.items, item{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if c != '%' {
			lit = append(lit, c)
			continue
		}
		i++
		if i >= len(prefix) {
			// PostgreSQL ignores a trailing lone %.
			break
		}
		if prefix[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		pad := 0
		if prefix[i] == '-' || (prefix[i] >= '0' && prefix[i] <= '9') {
			neg := prefix[i] == '-'
			if neg {
				i++
			}
			for i < len(prefix) && prefix[i] >= '0' && prefix[i] <= '9' {
				pad = pad*10 + int(prefix[i]-'0')
				if pad > 10000 {
					return nil, fmt.Errorf("padding in %q is implausibly wide", prefix)
				}
				i++
			}
			if neg {
				pad = -pad
			}
			if i >= len(prefix) {
				break
			}
		}
		e := prefix[i]
		switch e {
		case 'a', 'u', 'd', 'r', 'h', 'b', 'p', 'P', 't', 'm', 'n', 'i', 'e', 'c', 'l', 's', 'v', 'x', 'q', 'Q':
			flush()
			p.items = append(p.items, item{esc: e, pad: pad})
			p.has[e] = true
		default:
			// PostgreSQL prints nothing for an unknown escape.
		}
	}
	flush()
	if len(p.items) == 0 {
		return nil, fmt.Errorf("log_line_prefix %q is empty: lines then carry no time or session; pass the server's log_line_prefix", prefix)
	}
	return p, nil
}

// String returns the prefix as it was given.
func (p *Prefix) String() string { return p.src }

// HasSessionID reports whether the prefix contains %c.
func (p *Prefix) HasSessionID() bool { return p.has['c'] }

// Has reports whether the prefix contains escape c (for example 'm').
func (p *Prefix) Has(c byte) bool { return p.has[c] }

// severityAt reports whether b starts with "SEVERITY:  " and returns the
// severity and the length of that text.
func severityAt(b []byte) (logentry.Severity, int) {
	i := bytes.IndexByte(b, ':')
	if i < 3 || i > 9 || len(b) < i+3 || b[i+1] != ' ' || b[i+2] != ' ' {
		return 0, 0
	}
	s := logentry.ParseSeverity(b[:i])
	if s == logentry.SeverityUnknown {
		return 0, 0
	}
	return s, i + 3
}

// match matches the prefix at the start of line and fills e. It returns
// the offset of the severity word, or -1.
func (p *Prefix) match(line []byte, e *logentry.Entry, tp *logentry.TimeParser) int {
	pos := 0
	for k, it := range p.items {
		if it.lit != nil {
			if !bytes.HasPrefix(line[pos:], it.lit) {
				return -1
			}
			pos += len(it.lit)
			continue
		}
		if it.esc == 'q' {
			// Non-session processes stop the prefix here.
			if sev, _ := severityAt(line[pos:]); sev != 0 {
				return pos
			}
			continue
		}
		start := pos
		if it.pad > 0 {
			for pos < len(line) && line[pos] == ' ' {
				pos++
			}
		}
		end := p.fieldEnd(line, pos, it.esc, k)
		if end < 0 {
			return -1
		}
		v := line[pos:end]
		pos = end
		if it.pad < 0 {
			for pos < len(line) && line[pos] == ' ' && pos-start < -it.pad {
				pos++
			}
		}
		if it.pad != 0 {
			v = bytes.TrimRight(v, " ")
		}
		if !p.assign(e, it.esc, v, tp) {
			return -1
		}
	}
	return pos
}

// fieldEnd returns where the field of escape esc that starts at pos ends.
func (p *Prefix) fieldEnd(line []byte, pos int, esc byte, k int) int {
	switch esc {
	case 'm', 't', 's':
		return stampEnd(line, pos, esc == 'm')
	case 'n':
		i := digits(line, pos)
		if i < len(line) && line[i] == '.' {
			i = digits(line, i+1)
		}
		return i
	case 'p', 'l', 'x', 'P':
		return digits(line, pos)
	case 'Q':
		i := pos
		if i < len(line) && line[i] == '-' {
			i++
		}
		return digits(line, i)
	case 'c':
		i := hexDigits(line, pos)
		if i < len(line) && line[i] == '.' && i > pos {
			return hexDigits(line, i+1)
		}
		return i
	case 'v':
		i := digits(line, pos)
		if i < len(line) && line[i] == '/' && i > pos {
			return digits(line, i+1)
		}
		return i
	case 'e':
		if pos+5 <= len(line) {
			for _, c := range line[pos : pos+5] {
				if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
					return pos
				}
			}
			return pos + 5
		}
		return pos
	case 'b':
		for _, bt := range backendTypes {
			if bytes.HasPrefix(line[pos:], []byte(bt)) {
				return pos + len(bt)
			}
		}
	case 'r':
		if pos < len(line) && line[pos] == '[' {
			if i := bytes.IndexByte(line[pos:], ']'); i >= 0 {
				return pos + i + 1
			}
		}
		// host(port); an IPv6 host has colons, so look for the "(port)".
		if k+1 < len(p.items) && p.items[k+1].lit != nil {
			if i := bytes.Index(line[pos:], []byte(")"+string(p.items[k+1].lit))); i >= 0 {
				return pos + i + 1
			}
		}
	}
	// Free text: up to the literal that follows, or to the severity.
	if k+1 < len(p.items) {
		next := p.items[k+1]
		if next.lit != nil {
			i := bytes.Index(line[pos:], next.lit)
			if i < 0 {
				return -1
			}
			return pos + i
		}
		if next.esc != 'q' {
			// Two free fields in a row can not be told apart; take a word.
			i := bytes.IndexByte(line[pos:], ' ')
			if i < 0 {
				return -1
			}
			return pos + i
		}
	}
	for i := pos; i < len(line); i++ {
		if i == pos || line[i-1] == ' ' {
			if sev, _ := severityAt(line[i:]); sev != 0 {
				return i
			}
		}
	}
	return -1
}

// backendTypes are the %b values of PostgreSQL 13 to 17, longest first
// where one is a prefix of another. They contain spaces, so they are read
// by name rather than up to the next space.
var backendTypes = []string{
	"client backend", "autovacuum launcher", "autovacuum worker", "background writer",
	"background worker", "logical replication launcher", "logical replication worker",
	"parallel worker", "checkpointer", "walwriter", "walsender", "walreceiver",
	"wal summarizer", "slotsync worker", "standalone backend", "not initialized",
	"startup", "archiver", "logger", "postmaster", "io worker",
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func hexDigits(b []byte, i int) int {
	for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] >= 'a' && b[i] <= 'f') {
		i++
	}
	return i
}

// stampEnd returns the end of "2006-01-02 15:04:05[.000] ZONE" at pos.
func stampEnd(b []byte, pos int, frac bool) int {
	i := pos + 19
	if i > len(b) || b[pos+4] != '-' || b[pos+10] != ' ' || b[pos+13] != ':' {
		return -1
	}
	if frac {
		if i >= len(b) || b[i] != '.' {
			return -1
		}
		i = digits(b, i+1)
	}
	if i >= len(b) || b[i] != ' ' {
		return -1
	}
	i++
	z := i
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == ':') {
			i++
		}
	} else {
		for i < len(b) && (b[i] >= 'A' && b[i] <= 'Z' || b[i] >= 'a' && b[i] <= 'z') {
			i++
		}
	}
	if i == z {
		return -1
	}
	return i
}

func (p *Prefix) assign(e *logentry.Entry, esc byte, v []byte, tp *logentry.TimeParser) bool {
	switch esc {
	case 'a':
		e.Application = v
	case 'u':
		e.User = v
	case 'd':
		e.Database = v
	case 'r':
		if i := bytes.LastIndexByte(v, '('); i > 0 && v[len(v)-1] == ')' {
			e.RemoteHost, e.RemotePort = v[:i], v[i+1:len(v)-1]
		} else {
			e.RemoteHost = v
		}
	case 'h':
		e.RemoteHost = v
	case 'b':
		e.BackendType = v
	case 'p':
		e.PID = atoi(v)
	case 'm', 't':
		if e.Time == 0 || esc == 'm' {
			t, prec, err := tp.Parse(v)
			if err != nil {
				return false
			}
			e.Time, e.TimePrecision = t, prec
		}
	case 'n':
		t, prec, err := logentry.ParseEpoch(v)
		if err != nil {
			return false
		}
		e.Time, e.TimePrecision = t, prec
	case 's':
		if t, _, err := tp.Parse(v); err == nil {
			e.SessionStart = t
		}
	case 'i':
		e.CommandTag = v
	case 'e':
		e.SQLState = v
	case 'c':
		e.SessionID = v
		// %c is the backend's start time and pid in hex: "6b02dd5c.41c5".
		if i := bytes.IndexByte(v, '.'); i > 0 {
			if e.PID == 0 {
				e.PID = hexVal(v[i+1:])
			}
			if e.SessionStart == 0 {
				e.SessionStart = hexVal(v[:i]) * 1_000_000
			}
		}
	case 'l':
		e.LineNum = atoi(v)
	case 'v':
		e.VXID = v
	case 'x':
		e.XID = v
	}
	return true
}

func hexVal(b []byte) int64 {
	var n int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		default:
			return 0
		}
		if n > 1<<50 {
			return 0
		}
	}
	return n
}

func atoi(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' || n > 1<<50 {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// knownPrefixes are log_line_prefix values met in the field, most specific
// first: pgreplay's, Amazon RDS and Aurora's, Debian's, PostgreSQL's own
// default, Google Cloud SQL's, Azure's, pgBadger's recommendations, and
// the one pgrehearse's README recommends (with %v and %x, which tell
// which statements ran in one transaction).
var knownPrefixes = []string{
	"%m|%u|%d|%c|",
	"%t:%r:%u@%d:[%p]:",
	"%m:%r:%u@%d:[%p]:",
	"%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
	"%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
	"%t [%p]: user=%u,db=%d,app=%a,client=%h ",
	"%m [%p]: user=%u,db=%d,app=%a,client=%h ",
	"%m [%p]: [%l-1] db=%d,user=%u ",
	"%t [%p]: [%l-1] db=%d,user=%u ",
	"%m [%p] %q%u@%d %c %e %v %x ",
	"%m [%p] %q%u@%d %c %e ",
	"%m [%p] %q%u@%d ",
	"%t [%p] %q%u@%d ",
	"%m [%p] %q[user=%u,db=%d,app=%a] ",
	"%t-%c-",
	"%m-%c-",
	"%m [%p] ",
	"%t [%p] ",
	"%m [%p]: ",
	"%t [%p]: ",
	"%m ",
	"%t ",
}

// countStarts counts the lines that p matches up to a severity.
// CountStarts returns how many of lines start with the log_line_prefix
// and a severity word (-1 when the prefix does not compile).
func CountStarts(prefix string, lines [][]byte) int {
	p, err := CompilePrefix(prefix)
	if err != nil {
		return -1
	}
	return countStarts(p, lines)
}

func countStarts(p *Prefix, lines [][]byte) int {
	var e logentry.Entry
	var tp logentry.TimeParser
	n := 0
	for _, l := range lines {
		if len(l) == 0 || l[0] == '\t' {
			continue
		}
		e = logentry.Entry{}
		if pos := p.match(l, &e, &tp); pos >= 0 {
			if sev, _ := severityAt(l[pos:]); sev != 0 {
				n++
			}
		}
	}
	return n
}

// DetectPrefix returns the log_line_prefix that explains the first lines
// of a stderr log: the known prefix that matches the most of them, else
// one inferred from the fields' shapes. Two thirds of the lines must match
// (a log can hold lines that are not entries, such as raw stderr output).
func DetectPrefix(lines [][]byte) (string, error) {
	best, bestN, starts := "", 0, 0
	for _, l := range lines {
		if len(l) > 0 && l[0] != '\t' {
			starts++
		}
	}
	if starts == 0 {
		return "", fmt.Errorf("no log lines to look at")
	}
	for _, s := range knownPrefixes {
		p, _ := CompilePrefix(s)
		if n := countStarts(p, lines); n > bestN {
			best, bestN = s, n
		}
	}
	if bestN > 0 && bestN*3 >= starts*2 {
		return best, nil
	}
	if s := inferPrefix(lines); s != "" {
		if p, err := CompilePrefix(s); err == nil && countStarts(p, lines)*3 >= starts*2 {
			return s, nil
		}
	}
	first := ""
	for _, l := range lines {
		if len(l) > 0 && l[0] != '\t' {
			first = string(l)
			break
		}
	}
	// Show little of the line: it may hold production data.
	if i := strings.Index(first, ":  "); i >= 0 && i < 120 {
		first = first[:i+3] + "…"
	} else if len(first) > 80 {
		first = first[:80] + "…"
	}
	return "", fmt.Errorf("no known log_line_prefix explains the first lines (the first reads %q); pass --log-line-prefix with the value of log_line_prefix from the server (SHOW log_line_prefix)", first)
}
