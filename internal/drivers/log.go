package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// Log is what the comparison knows of one server log: its client sessions
// as the project's parser read them, and how often each session prepared
// each named statement.
type Log struct {
	Paths    []string
	Sessions []*Session
	Summary  *parse.Summary
	// PreparesKnown is true when the log had Parse duration entries
	// (log_min_duration_statement = 0): only then are the counts in
	// Session.Prepares what the server did.
	PreparesKnown bool
}

// Session is one client session of a log.
type Session struct {
	*parse.Session
	// First is the time of the session's first statement or error, else
	// its connect time: sessions are matched in this order.
	First int64
	Items []Item
	// Prepares counts the "parse NAME" entries of named statements.
	Prepares map[string]int
}

// Item is one statement, or one error the log attributes to no
// statement (an error at Parse or Bind, a FATAL).
type Item struct {
	// Index is the statement's index in its session; -1 for an error.
	Index    int
	Error    bool
	Protocol parse.Protocol
	Name     string
	Text     string
	Params   []parse.Param
	Err      *parse.StmtError
	Line     int64
	// FP is the fingerprint of Text (of the statement a stand-in stands
	// for); StandIn marks the replayer's stand-in for a production error
	// the log lacks the values or types to reproduce.
	FP      fingerprint.ID
	StandIn bool
	// Pipelined: the log shows it in the same implicit transaction as the
	// statement before it (same vxid, no BEGIN).
	Pipelined bool
}

// standInPrefix starts the statement replay sends for a production error
// it can only raise on purpose; its message names the query's
// fingerprint.
const standInPrefix = "DO $pgrehearse$"

var standInFP = regexp.MustCompile(`stand-in for query ([0-9a-f]{16})`)

// item makes the Item of a statement or Error event; a stand-in becomes
// the error of the statement it stands for.
func item(ev *parse.Event) Item {
	it := Item{Index: ev.Index, Protocol: ev.Protocol, Name: ev.Name, Text: ev.Text, Params: ev.Params, Err: ev.Err, Line: ev.Line, FP: ev.Fingerprint, Pipelined: ev.Pipelined}
	if ev.Kind == parse.Error {
		it.Index, it.Error = -1, true
	}
	if strings.HasPrefix(ev.Text, standInPrefix) && ev.Err != nil {
		if m := standInFP.FindStringSubmatch(ev.Err.Message); m != nil {
			id, _ := fingerprint.ParseID(m[1])
			it = Item{Index: -1, Error: true, Text: "(stand-in)", Err: ev.Err, Line: ev.Line, FP: id, StandIn: true}
		}
	}
	return it
}

// Label names a session in a diff: application, user@database and its
// rank among the sessions with those three.
func (s *Session) label(rank int) string {
	app := s.Application
	if app == "" {
		app = "(no application_name)"
	}
	return fmt.Sprintf("%s %s@%s #%d", app, s.User, s.Database, rank+1)
}

// Statements counts the statements (not the bare errors) of the log.
func (l *Log) Statements() int {
	n := 0
	for _, s := range l.Sessions {
		for _, it := range s.Items {
			if !it.Error {
				n++
			}
		}
	}
	return n
}

// Errors counts the errors of the log by SQLSTATE.
func (l *Log) Errors() map[string]int {
	m := map[string]int{}
	for _, s := range l.Sessions {
		for _, it := range s.Items {
			if it.Err != nil {
				m[it.Err.SQLState]++
			}
		}
	}
	return m
}

// ReadLog parses log files with parse.Run into a workload in memory, reads
// it back with parse.NewReader, and counts the named statements' Parse
// entries.
func ReadLog(ctx context.Context, paths []string) (*Log, error) {
	var w bytes.Buffer
	sum, err := parse.Run(ctx, paths, &w, parse.Options{})
	if err != nil {
		return nil, fmt.Errorf("parse %v: %w", paths, err)
	}
	l := &Log{Paths: paths, Summary: sum}
	if err := l.readWorkload(&w); err != nil {
		return nil, fmt.Errorf("read the workload of %v: %w", paths, err)
	}
	counts, known, err := countPrepares(paths)
	if err != nil {
		return nil, err
	}
	l.PreparesKnown = known
	for _, s := range l.Sessions {
		s.Prepares = counts[s.Key]
	}
	return l, nil
}

func (l *Log) readWorkload(w io.Reader) error {
	r, err := parse.NewReader(w)
	if err != nil {
		return err
	}
	defer r.Close()
	byID := map[uint64]*Session{}
	for ev, err := range r.Events() {
		if err != nil {
			return err
		}
		if ev.Session == nil {
			continue // an error of no session: nothing to match it with
		}
		s := byID[ev.Session.ID]
		if s == nil {
			s = &Session{Session: ev.Session, First: ev.Time}
			byID[ev.Session.ID] = s
			l.Sessions = append(l.Sessions, s)
		}
		switch ev.Kind {
		case parse.Statement, parse.Error:
			s.add(ev.Time, item(ev))
		case parse.Update:
			if ev.Err != nil {
				s.update(ev.Index, ev.Err)
			}
		}
	}
	sort.SliceStable(l.Sessions, func(i, j int) bool { return l.Sessions[i].First < l.Sessions[j].First })
	return nil
}

func (s *Session) add(t int64, it Item) {
	if len(s.Items) == 0 {
		s.First = t
	}
	s.Items = append(s.Items, it)
}

// update attaches an error the log reported after the statement was
// written.
func (s *Session) update(index int, e *parse.StmtError) {
	for i := len(s.Items) - 1; i >= 0; i-- {
		if !s.Items[i].Error && s.Items[i].Index == index {
			s.Items[i].Err = e
			return
		}
	}
}

// Check reports what the capture lacks of what its scenario was written to
// do.
func (l *Log) Check(e Expect) error {
	var errs []error
	if len(l.Sessions) < e.MinSessions {
		errs = append(errs, fmt.Errorf("%d sessions, want at least %d", len(l.Sessions), e.MinSessions))
	}
	if n := l.Statements(); n < e.MinStatements {
		errs = append(errs, fmt.Errorf("%d statements, want at least %d", n, e.MinStatements))
	}
	if e.Named && !l.hasNamed() {
		errs = append(errs, errors.New("no named prepared statement"))
	}
	got := l.Errors()
	for _, state := range e.Errors {
		if got[state] == 0 {
			errs = append(errs, fmt.Errorf("no error %s (errors: %v)", state, got))
		}
	}
	return errors.Join(errs...)
}

func (l *Log) hasNamed() bool {
	for _, s := range l.Sessions {
		for _, it := range s.Items {
			if it.Protocol == parse.Named && !it.Error {
				return true
			}
		}
	}
	return false
}
