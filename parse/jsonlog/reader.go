// Package jsonlog reads PostgreSQL jsonlog files (log_destination =
// 'jsonlog', PostgreSQL 15 and later) into format-neutral log entries for
// package parse.
//
// Each line is one flat JSON object. A general JSON decoder spends most of
// its time on reflection and allocation; these objects are flat, with
// string and number values only, so a small scanner reads them in place
// and copies only strings that contain escapes.
package jsonlog

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// Reader reads jsonlog lines.
type Reader struct {
	lr  *logentry.LineReader
	tp  *logentry.TimeParser
	e   logentry.Entry
	unq []byte
	err error
}

// NewReader returns a Reader of r; tp resolves the timestamps.
func NewReader(r io.Reader, tp *logentry.TimeParser) *Reader {
	return &Reader{lr: logentry.NewLineReader(r, 1<<20), tp: tp}
}

// Looks reports whether sample (the first bytes of a log) looks like jsonlog.
func Looks(sample []byte) bool {
	s := bytes.TrimLeft(sample, " \t\r\n")
	return bytes.HasPrefix(s, []byte(`{"timestamp":"`))
}

var errSyntax = errors.New("not a flat JSON object")

// Next returns the next line as an entry.
func (r *Reader) Next() (*logentry.Entry, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		line, err := r.lr.Next()
		if err != nil {
			r.err = err
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := r.decode(line)
		if err != nil {
			if r.lr.Cut() {
				return nil, &logentry.MalformedError{Line: r.lr.Line(), Reason: "jsonlog line cut off at the end of the file (no newline): the log is truncated", Cut: true}
			}
			return nil, &logentry.MalformedError{Line: r.lr.Line(), Reason: "jsonlog line: " + err.Error()}
		}
		return e, nil
	}
}

func (r *Reader) decode(line []byte) (*logentry.Entry, error) {
	e := &r.e
	*e = logentry.Entry{Line: r.lr.Line()}
	if cap(r.unq) < len(line) {
		r.unq = make([]byte, 0, len(line))
	}
	r.unq = r.unq[:0]
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, errSyntax
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return nil, errors.New("empty object")
	}
	var f fields
	for {
		key, val, isNum, j, err := r.member(line, i)
		if err != nil {
			return nil, err
		}
		f.set(e, string(key), val, isNum)
		j = skipSpace(line, j)
		if j >= len(line) {
			return nil, errors.New("object cut off")
		}
		if line[j] == '}' {
			if skipSpace(line, j+1) != len(line) {
				return nil, errors.New("text after the object")
			}
			break
		}
		if line[j] != ',' {
			return nil, errSyntax
		}
		i = skipSpace(line, j+1)
	}
	if f.ts == nil {
		return nil, errors.New("no timestamp")
	}
	var err error
	if e.Time, e.TimePrecision, err = r.tp.Parse(f.ts); err != nil {
		return nil, errors.New("timestamp: " + err.Error())
	}
	if f.start != nil {
		e.SessionStart, _, _ = r.tp.Parse(f.start)
	}
	return e, nil
}

// member reads one "key": value pair at i, and returns where it ends.
// Values are strings (unquoted), numbers, or null and booleans (nil).
func (r *Reader) member(line []byte, i int) (key, val []byte, isNum bool, j int, err error) {
	key, j, err = r.str(line, i)
	if err != nil {
		return nil, nil, false, 0, err
	}
	j = skipSpace(line, j)
	if j >= len(line) || line[j] != ':' {
		return nil, nil, false, 0, errSyntax
	}
	j = skipSpace(line, j+1)
	if j >= len(line) {
		return nil, nil, false, 0, errSyntax
	}
	switch c := line[j]; {
	case c == '"':
		val, j, err = r.str(line, j)
		return key, val, false, j, err
	case c == '-' || (c >= '0' && c <= '9'):
		k := j + 1
		for k < len(line) && (line[k] >= '0' && line[k] <= '9' || line[k] == '.' || line[k] == 'e' || line[k] == 'E' || line[k] == '+' || line[k] == '-') {
			k++
		}
		return key, line[j:k], true, k, nil
	case bytes.HasPrefix(line[j:], []byte("null")), bytes.HasPrefix(line[j:], []byte("true")):
		return key, nil, false, j + 4, nil
	case bytes.HasPrefix(line[j:], []byte("false")):
		return key, nil, false, j + 5, nil
	}
	return nil, nil, false, 0, errSyntax
}

// fields holds the members decode reads after the others.
type fields struct{ ts, start []byte }

// set puts one member's value in its field of e.
func (f *fields) set(e *logentry.Entry, key string, val []byte, isNum bool) {
	switch key {
	case "timestamp":
		f.ts = val
	case "session_start":
		f.start = val
	case "user":
		e.User = val
	case "dbname":
		e.Database = val
	case "pid":
		if isNum {
			e.PID, _ = strconv.ParseInt(string(val), 10, 64)
		}
	case "remote_host":
		e.RemoteHost = val
	case "remote_port":
		e.RemotePort = val
	case "session_id":
		e.SessionID = val
	case "line_num":
		if isNum {
			e.LineNum, _ = strconv.ParseInt(string(val), 10, 64)
		}
	case "ps":
		e.CommandTag = val
	case "vxid":
		e.VXID = val
	case "txid":
		e.XID = val
	case "error_severity":
		e.Severity = logentry.ParseSeverity(val)
	case "state_code":
		e.SQLState = val
	case "message":
		e.Message = val
	case "detail":
		e.Detail = val
	case "hint":
		e.Hint = val
	case "internal_query":
		e.InternalQuery = val
	case "context":
		e.Context = val
	case "statement":
		e.Query = val
	case "application_name":
		e.Application = val
	case "backend_type":
		e.BackendType = val
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// str reads the JSON string starting at b[i] == '"'. It returns the string
// (aliasing b when it has no escapes) and the index after its closing quote.
func (r *Reader) str(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, errSyntax
	}
	i++
	j := i
	for j < len(b) && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if j >= len(b) {
		return nil, 0, errors.New("string cut off")
	}
	if b[j] == '"' {
		return b[i:j:j], j + 1, nil
	}
	u0 := len(r.unq)
	r.unq = append(r.unq, b[i:j]...)
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			out := r.unq[u0:len(r.unq):len(r.unq)]
			return out, j + 1, nil
		case c == '\\':
			if j+1 >= len(b) {
				return nil, 0, errors.New("string cut off")
			}
			switch b[j+1] {
			case '"', '\\', '/':
				r.unq = append(r.unq, b[j+1])
			case 'n':
				r.unq = append(r.unq, '\n')
			case 't':
				r.unq = append(r.unq, '\t')
			case 'r':
				r.unq = append(r.unq, '\r')
			case 'b':
				r.unq = append(r.unq, '\b')
			case 'f':
				r.unq = append(r.unq, '\f')
			case 'u':
				cp, ok := hex4(b, j+2)
				if !ok {
					return nil, 0, errors.New("bad \\u escape")
				}
				j += 6
				rn := rune(cp)
				if utf16.IsSurrogate(rn) {
					if lo, ok := hex4(b, j+2); ok && j+1 < len(b) && b[j] == '\\' && b[j+1] == 'u' {
						if d := utf16.DecodeRune(rn, rune(lo)); d != utf8.RuneError {
							rn = d
							j += 6
						} else {
							rn = utf8.RuneError
						}
					} else {
						rn = utf8.RuneError
					}
				}
				r.unq = utf8.AppendRune(r.unq, rn)
				continue
			default:
				return nil, 0, errors.New("bad escape")
			}
			j += 2
		default:
			k := j
			for k < len(b) && b[k] != '"' && b[k] != '\\' {
				k++
			}
			r.unq = append(r.unq, b[j:k]...)
			j = k
		}
	}
	return nil, 0, errors.New("string cut off")
}

func hex4(b []byte, i int) (uint16, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return uint16(v), err == nil
}
