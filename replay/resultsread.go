package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// ResultLine is one statement's line of a results file.
type ResultLine struct {
	Session uint64 `json:"s"`
	Index   int    `json:"i"`
	// Kind is "e" for a production error raised again (an Error event of
	// the workload), empty for a statement.
	Kind      string `json:"k,omitempty"`
	SchedUS   int64  `json:"sched_us"`
	StartUS   int64  `json:"start_us"`
	LateUS    int64  `json:"late_us"`
	LatUS     int64  `json:"lat_us"`
	Rows      int64  `json:"rows"`
	FP        string `json:"fp"`
	Late      string `json:"late,omitempty"`
	Pipelined bool   `json:"pl,omitempty"`
	Retyped   bool   `json:"retyped,omitempty"`
	StandIn   bool   `json:"stand_in,omitempty"`
	BlockedBy string `json:"blocked_by,omitempty"`
	// SyncUS is how long it waited for other sessions (--sync);
	// SyncTimeout is set when it went on at the bound, SyncCycle when it
	// went on because the session it waited for waited for it.
	SyncUS      int64  `json:"sync_us,omitempty"`
	SyncTimeout bool   `json:"sync_timeout,omitempty"`
	SyncCycle   bool   `json:"sync_cycle,omitempty"`
	Skipped     string `json:"skipped,omitempty"`
	SQLState    string `json:"sqlstate,omitempty"`
	// Interrupted: the end of the replay cut the statement short.
	Interrupted bool `json:"interrupted,omitempty"`
	// CK is the checksum of the returned rows in any order, OCK in their
	// order (statements with a top-level ORDER BY); 16 hex digits, ""
	// without one.
	CK  string `json:"ck,omitempty"`
	OCK string `json:"ock,omitempty"`
	// ND says what makes the statement non-deterministic, "" when
	// nothing does.
	ND string `json:"nd,omitempty"`
}

// EventKind is the workload event kind the line is the result of.
func (l *ResultLine) EventKind() parse.EventKind {
	if l.Kind == "e" {
		return parse.Error
	}
	return parse.Statement
}

// Fingerprint is the line's fingerprint, 0 when it has none.
func (l *ResultLine) Fingerprint() fingerprint.ID {
	id, _ := fingerprint.ParseID(l.FP)
	return id
}

// resultsMagic starts every results file.
var resultsMagic = []byte(`{"header":{"format":"pgrehearse-results"`)

// IsResults reports whether head, the first bytes of a file, is the start
// of a results file.
func IsResults(head []byte) bool {
	return bytes.HasPrefix(head, resultsMagic)
}

// ResultsReader reads a results file: its header, its lines, and its
// summary. A file cut in its last line (a replay killed while writing) is
// read up to that line, and reports Truncated.
type ResultsReader struct {
	name    string
	sc      *bufio.Scanner
	header  *ResultsHeader
	summary *Summary
	line    int
	// held is a line that did not decode: an error unless it is the last.
	held      int
	truncated bool
}

// NewResultsReader reads the header of a results file; name is used in
// errors.
func NewResultsReader(r io.Reader, name string) (*ResultsReader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	rr := &ResultsReader{name: name, sc: sc}
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s is empty: not a results file (from pgrehearse replay)", name)
	}
	rr.line = 1
	var v struct{ Header *ResultsHeader }
	if json.Unmarshal(sc.Bytes(), &v) != nil || v.Header == nil || v.Header.Format != "pgrehearse-results" {
		return nil, fmt.Errorf("%s is not a results file (from pgrehearse replay)", name)
	}
	if v.Header.Version > ResultsVersion {
		return nil, fmt.Errorf("%s: results format version %d is newer than this pgrehearse reads (%d): upgrade pgrehearse", name, v.Header.Version, ResultsVersion)
	}
	rr.header = v.Header
	return rr, nil
}

// OpenResults opens a results file by name; close the returned file when
// done.
func OpenResults(path string) (*ResultsReader, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	rr, err := NewResultsReader(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return rr, f, nil
}

// Header returns the file's header.
func (rr *ResultsReader) Header() *ResultsHeader { return rr.header }

// Summary returns the trailer once Next has returned io.EOF; nil when the
// file has none (the replay was killed).
func (rr *ResultsReader) Summary() *Summary { return rr.summary }

// Truncated reports, after io.EOF, whether the file ended without its
// trailer or in a half-written line.
func (rr *ResultsReader) Truncated() bool { return rr.truncated }

var summaryStart = []byte(`{"summary"`)

// Next returns the next statement line, io.EOF at the end.
func (rr *ResultsReader) Next() (*ResultLine, error) {
	for rr.sc.Scan() {
		rr.line++
		if rr.held > 0 {
			return nil, fmt.Errorf("%s:%d: damaged line", rr.name, rr.held)
		}
		b := rr.sc.Bytes()
		if bytes.HasPrefix(b, summaryStart) {
			var v struct{ Summary *Summary }
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("%s:%d: damaged trailer: %w", rr.name, rr.line, err)
			}
			rr.summary = v.Summary
			continue
		}
		var l ResultLine
		if err := json.Unmarshal(b, &l); err != nil {
			// Tolerated only as the half-written last line of a killed
			// replay.
			rr.held = rr.line
			continue
		}
		return &l, nil
	}
	if err := rr.sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", rr.name, err)
	}
	rr.truncated = rr.summary == nil || rr.held > 0
	return nil, io.EOF
}

// Checksum returns the line's checksums of returned rows: in any order,
// and in their order when the statement is ordered; ok is false when the
// line has none.
func (l *ResultLine) Checksum() (set, seq uint64, ok, ordered bool) {
	if l.CK == "" {
		return 0, 0, false, false
	}
	set, err := strconv.ParseUint(l.CK, 16, 64)
	if err != nil {
		return 0, 0, false, false
	}
	if l.OCK != "" {
		if seq, err = strconv.ParseUint(l.OCK, 16, 64); err == nil {
			ordered = true
		}
	}
	return set, seq, true, ordered
}
