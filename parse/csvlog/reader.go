// Package csvlog reads PostgreSQL csvlog files (log_destination = 'csvlog')
// into format-neutral log entries for package parse.
//
// The column set depends on the server version: 22 columns up to 8.4, 23
// from 9.0 (application_name), 24 in 13 (backend_type) and 26 from 14
// (leader_pid, query_id). Each record is read by its own column count, so
// a log that spans an upgrade reads too. Quoted fields hold raw newlines
// and doubled quotes; only fields with doubled quotes are copied.
package csvlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// Column indexes shared by every version.
const (
	colTime = iota
	colUser
	colDatabase
	colPID
	colConnFrom
	colSessionID
	colLineNum
	colCommandTag
	colSessionStart
	colVXID
	colXID
	colSeverity
	colSQLState
	colMessage
	colDetail
	colHint
	colInternalQuery
	colInternalPos
	colContext
	colQuery
	colQueryPos
	colLocation
	colApplication
	colBackendType
	colLeaderPID
	colQueryID
	maxCols
)

// Reader reads csvlog records.
type Reader struct {
	lr     *logentry.LineReader
	tp     *logentry.TimeParser
	e      logentry.Entry
	rec    []byte // a record spanning several lines
	unq    []byte // unescaped field bytes
	fields [maxCols + 1][]byte
	peek   []byte // a line read ahead while resynchronising
	peekN  int64
	err    error
}

// NewReader returns a Reader of r; tp resolves the timestamps.
func NewReader(r io.Reader, tp *logentry.TimeParser) *Reader {
	return &Reader{lr: logentry.NewLineReader(r, 1<<20), tp: tp}
}

// Looks reports whether sample (the first bytes of a log) looks like csvlog.
func Looks(sample []byte) bool {
	line := sample
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	// "2026-11-22 12:18:13.958 UTC,user,db,17138,..."
	i := bytes.IndexByte(line, ',')
	if i < 23 || i > 40 {
		return false
	}
	var tp logentry.TimeParser
	if _, _, err := tp.Parse(line[:i]); err != nil {
		return false
	}
	return bytes.Count(line, []byte(",")) >= 21
}

var errUnterminated = errors.New("unterminated quoted field")

// split splits rec into fields. It returns errUnterminated when a quoted
// field runs past the end of rec (the record continues on the next line).
func (r *Reader) split(rec []byte) (int, error) {
	n := 0
	r.unq = r.unq[:0]
	if cap(r.unq) < len(rec) {
		r.unq = make([]byte, 0, len(rec)+len(rec)/2)
	}
	i := 0
	for {
		if n > maxCols {
			return n, fmt.Errorf("more than %d columns", maxCols)
		}
		if i < len(rec) && rec[i] == '"' {
			j := i + 1
			start := j
			escaped := false
			for {
				k := bytes.IndexByte(rec[j:], '"')
				if k < 0 {
					return n, errUnterminated
				}
				j += k
				if j+1 < len(rec) && rec[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				break
			}
			f := rec[start:j]
			if escaped {
				u0 := len(r.unq)
				for len(f) > 0 {
					k := bytes.IndexByte(f, '"')
					if k < 0 {
						r.unq = append(r.unq, f...)
						break
					}
					r.unq = append(r.unq, f[:k+1]...)
					f = f[k+2:]
				}
				f = r.unq[u0:len(r.unq):len(r.unq)]
			}
			r.fields[n] = f
			n++
			i = j + 1
			if i == len(rec) {
				return n, nil
			}
			if rec[i] != ',' {
				return n, errors.New("text after a closing quote")
			}
			i++
			continue
		}
		k := bytes.IndexByte(rec[i:], ',')
		if k < 0 {
			r.fields[n] = rec[i:]
			return n + 1, nil
		}
		r.fields[n] = rec[i : i+k]
		n++
		i += k + 1
	}
}

func (r *Reader) nextLine() ([]byte, int64, error) {
	if r.peek != nil {
		l, n := r.peek, r.peekN
		r.peek = nil
		return l, n, nil
	}
	l, err := r.lr.Next()
	return l, r.lr.Line(), err
}

// Next returns the next record as an entry.
func (r *Reader) Next() (*logentry.Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	line, start, err := r.nextLine()
	if err != nil {
		r.err = err
		return nil, err
	}
	rec := line
	n, err := r.split(rec)
	for errors.Is(err, errUnterminated) {
		// The record goes on: gather lines (a quoted field with newlines).
		if len(r.rec) == 0 || &r.rec[0] != &rec[0] {
			r.rec = append(r.rec[:0], rec...)
		}
		more, _, lerr := r.nextLine()
		if lerr != nil {
			if errors.Is(lerr, io.EOF) {
				r.err = io.EOF
				return nil, &logentry.MalformedError{Line: start, Reason: "csv record cut off at the end of the file (unterminated quote): the log is truncated", Cut: true}
			}
			r.err = lerr
			return nil, lerr
		}
		if len(more) > 0 && looksLikeRecordStart(more) && bytes.Count(r.rec, []byte{'"'})%2 == 1 && len(r.rec) > 1<<20 {
			// A runaway quote: give up on this record rather than
			// swallowing the rest of the file.
			r.peek, r.peekN = more, r.lr.Line()
			return nil, &logentry.MalformedError{Line: start, Reason: "csv record with an unterminated quote"}
		}
		r.rec = append(r.rec, '\n')
		r.rec = append(r.rec, more...)
		rec = r.rec
		n, err = r.split(rec)
	}
	r.rec = r.rec[:0]
	if err != nil {
		return nil, &logentry.MalformedError{Line: start, Reason: "csv record: " + err.Error()}
	}
	if n != 22 && n != 23 && n != 24 && n != 26 {
		if r.peek == nil && r.lr.Cut() {
			return nil, &logentry.MalformedError{Line: start, Reason: fmt.Sprintf("csv record cut off at the end of the file (%d columns, no newline): the log is truncated", n), Cut: true}
		}
		return nil, &logentry.MalformedError{Line: start, Reason: fmt.Sprintf("csv record with %d columns; csvlog has 22 to 26", n)}
	}
	e := &r.e
	*e = logentry.Entry{Line: start}
	f := r.fields[:n]
	e.Time, e.TimePrecision, err = r.tp.Parse(f[colTime])
	if err != nil {
		return nil, &logentry.MalformedError{Line: start, Reason: "log_time: " + err.Error()}
	}
	e.User, e.Database = f[colUser], f[colDatabase]
	e.PID, _ = strconv.ParseInt(string(f[colPID]), 10, 64)
	if cf := f[colConnFrom]; len(cf) > 0 {
		if i := bytes.LastIndexByte(cf, ':'); i > 0 && cf[0] != '[' {
			e.RemoteHost, e.RemotePort = cf[:i], cf[i+1:]
		} else {
			e.RemoteHost = cf
		}
	}
	e.SessionID = f[colSessionID]
	e.LineNum, _ = strconv.ParseInt(string(f[colLineNum]), 10, 64)
	e.CommandTag = f[colCommandTag]
	e.VXID, e.XID = f[colVXID], f[colXID]
	if ss := f[colSessionStart]; len(ss) > 0 {
		e.SessionStart, _, _ = r.tp.Parse(ss)
	}
	e.Severity = logentry.ParseSeverity(f[colSeverity])
	e.SQLState = f[colSQLState]
	e.Message = f[colMessage]
	e.Detail = f[colDetail]
	e.Hint = f[colHint]
	e.InternalQuery = f[colInternalQuery]
	e.Context = f[colContext]
	e.Query = f[colQuery]
	if n > colApplication {
		e.Application = f[colApplication]
	}
	if n > colBackendType {
		e.BackendType = f[colBackendType]
	}
	return e, nil
}

func looksLikeRecordStart(l []byte) bool {
	return len(l) > 20 && l[4] == '-' && l[7] == '-' && l[10] == ' ' && l[13] == ':'
}
