package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// WaitStats is what a log with log_min_duration_statement = 0 says of the
// time statements that write spent waiting: each one's duration beyond
// what its query usually takes (its 10th percentile in the same log), the
// part a lock wait adds, when that is 1 ms or more (below that it is the
// noise of a shared machine, not a wait log_lock_waits could show).
// Measured the same way on the capture and on the target, the two can be
// set side by side whatever the speed of either.
type WaitStats struct {
	// Statements counts the writing statements with a duration.
	Statements int
	// ExcessUS sums their durations beyond their query's 10th percentile.
	ExcessUS int64
	// Errors counts the log's errors by SQLSTATE.
	Errors map[string]int
}

// PerStatementMS is the mean wait of a writing statement, in ms.
func (w *WaitStats) PerStatementMS() float64 {
	if w.Statements == 0 {
		return 0
	}
	return float64(w.ExcessUS) / float64(w.Statements) / 1000
}

func (w *WaitStats) String() string {
	return fmt.Sprintf("%d writing statements, %.3f ms waited per statement, errors %v", w.Statements, w.PerStatementMS(), w.Errors)
}

// ReadWaits reads the logs (with durations) into WaitStats.
func ReadWaits(ctx context.Context, paths []string) (*WaitStats, error) {
	var buf bytes.Buffer
	if _, err := parse.Run(ctx, paths, &buf, parse.Options{}); err != nil {
		return nil, err
	}
	r, err := parse.NewReader(&buf)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	type key struct {
		session uint64
		index   int
	}
	durs := map[key]int64{}
	fps := map[key]fingerprint.ID{}
	w := &WaitStats{Errors: map[string]int{}}
	var norms fingerprint.Cache
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.Err != nil {
			w.Errors[ev.Err.SQLState]++
		}
		if ev.Session == nil {
			continue
		}
		k := key{ev.Session.ID, ev.Index}
		switch ev.Kind {
		case parse.Statement:
			if _, norm := norms.Lookup(ev.Text); !writes(norm) {
				continue
			}
			fps[k] = ev.Fingerprint
			if ev.Duration >= 0 {
				durs[k] = ev.Duration
			}
		case parse.Update:
			if _, ok := fps[k]; ok && ev.Duration >= 0 {
				durs[k] = ev.Duration
			}
		}
	}
	byFP := map[fingerprint.ID][]int64{}
	for k, d := range durs {
		byFP[fps[k]] = append(byFP[fps[k]], d)
	}
	for _, ds := range byFP {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		base := ds[len(ds)/10]
		for _, d := range ds {
			w.Statements++
			if d-base >= minWaitUS {
				w.ExcessUS += d - base
			}
		}
	}
	return w, nil
}

// minWaitUS is the shortest excess counted as a wait.
const minWaitUS = 1000

// writes reports whether a normalised statement writes or locks rows.
func writes(norm string) bool {
	for _, p := range []string{"UPDATE ", "DELETE ", "INSERT ", "MERGE "} {
		if strings.HasPrefix(norm, p) {
			return true
		}
	}
	return strings.HasPrefix(norm, "SELECT ") && strings.Contains(norm, " FOR UPDATE")
}

// LogFiles lists a cluster's log files with extension ext (".csv").
func LogFiles(dir, ext string) ([]string, error) { return logFiles(dir, ext) }
