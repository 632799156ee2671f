package compare

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// stmtKey names one statement of a workload, or one of its Error events
// (production errors at Parse or Bind), as results files do.
type stmtKey struct {
	session uint64
	index   int32
	event   bool
}

// capture is what compare takes from the workload: production's side.
type capture struct {
	trailer *parse.Summary
	header  parse.Header
	// prod holds the SQLSTATE of every statement and Error event that
	// failed in production ("unknown" when the log did not say), late
	// news (U frames) folded in.
	prod map[stmtKey]string
	// outside counts production errors in no replayed session (failed
	// logins).
	outside int64
	spans   spans
	// base holds every statement's server-side duration.
	base *hdrhistogram.Histogram
}

// readCapture reads the workload once: its window, the statements'
// server-side durations by normalised query, and production's errors.
func readCapture(ctx context.Context, path string, queries queryTable, win *window) (*capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	defer f.Close()
	r, err := parse.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("compare: workload %s: %w", path, err)
	}
	defer r.Close()
	c := &capture{header: *r.Header(), prod: map[stmtKey]string{}, spans: spans{}, base: newHist()}
	// Statements whose duration may still come as late news.
	pending := map[stmtKey]fingerprint.ID{}
	for ev, err := range r.Events() {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("compare: workload %s: %w", path, err)
		}
		win.count(ev)
		switch ev.Kind {
		case parse.Statement:
			c.statement(ev, queries, pending)
		case parse.Update:
			c.update(ev, queries, pending)
		case parse.Error:
			if ev.Session == nil {
				c.outside++
				continue
			}
			c.prod[stmtKey{ev.Session.ID, int32(ev.Index), true}] = sqlstate(ev.Err)
		}
	}
	c.trailer = r.Trailer()
	if c.trailer == nil {
		return nil, fmt.Errorf("compare: workload %s is truncated: parse the log again", path)
	}
	return c, nil
}

func sqlstate(e *parse.StmtError) string {
	if e == nil {
		return ""
	}
	if e.SQLState == "" {
		return "unknown"
	}
	return e.SQLState
}

func (c *capture) statement(ev *parse.Event, queries queryTable, pending map[stmtKey]fingerprint.ID) {
	k := stmtKey{ev.Session.ID, int32(ev.Index), false}
	c.spans.add(ev.Session.ID, ev.Time, ev.Time+max(ev.Duration, 0))
	s := queries.get(ev.Fingerprint, ev.Text)
	if ev.Err != nil {
		c.prod[k] = sqlstate(ev.Err)
	}
	switch {
	case ev.Duration >= 0 && ev.Err == nil:
		s.addBase(ev.Duration, c.base)
	case ev.Duration < 0 && ev.Err == nil:
		if len(pending) >= 1<<20 {
			// Late news comes within minutes; a log without any
			// durations would otherwise keep every statement here.
			clear(pending)
		}
		pending[k] = ev.Fingerprint
	}
}

// update folds late news into its statement: an error production had, or
// a duration.
func (c *capture) update(ev *parse.Event, queries queryTable, pending map[stmtKey]fingerprint.ID) {
	k := stmtKey{ev.Session.ID, int32(ev.Index), false}
	if ev.Err != nil {
		c.prod[k] = sqlstate(ev.Err)
		delete(pending, k)
		return
	}
	if fp, ok := pending[k]; ok && ev.Duration >= 0 {
		queries.get(fp, "").addBase(ev.Duration, c.base)
		delete(pending, k)
	}
}

// qstat is one normalised query's figures on both sides.
type qstat struct {
	text       string
	base, cand *hdrhistogram.Histogram
	// server holds the candidate's server-side durations, from its log.
	server  *hdrhistogram.Histogram
	calls   int64
	totalUS int64
}

// queryTable holds latency by normalised query.
type queryTable map[fingerprint.ID]*qstat

// get returns the entry of fp, making it with text's normalised form.
func (qt queryTable) get(fp fingerprint.ID, text string) *qstat {
	s := qt[fp]
	if s == nil {
		s = &qstat{text: "(not in the workload)"}
		if text != "" {
			s.text = fingerprint.Normalize(text)
		}
		qt[fp] = s
	}
	return s
}

// addBase records a production duration (µs).
func (s *qstat) addBase(us int64, all *hdrhistogram.Histogram) {
	if s.base == nil {
		s.base = newHist()
	}
	s.base.RecordValue(max(us, 1))
	all.RecordValue(max(us, 1))
}
