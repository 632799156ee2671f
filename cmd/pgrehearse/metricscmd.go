package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/compare/prometheus"
	"github.com/pgrehearse/pgrehearse/internal/dsn"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
	"github.com/pgrehearse/pgrehearse/reports"
)

// openSource makes the metric source a spec names.
func openSource(ctx context.Context, spec string) (metrics.Source, error) {
	sp, err := metrics.ParseSpec(spec)
	if err != nil {
		return nil, usagef("%v", err)
	}
	switch sp.Kind {
	case "cloudwatch":
		return cloudwatch.New(ctx, sp)
	case "pg":
		// A samples file on S3 is read from a local copy.
		if sp.Arg, err = localCopy(ctx, sp.Arg); err != nil {
			return nil, err
		}
		if _, err := os.Stat(sp.Arg); err != nil {
			return nil, usagef("pg: %q is not a samples file: sources read past windows, so sample a live cluster with `pgrehearse sample --target DSN -o FILE` during the capture (or `replay --candidate-metrics pg:DSN`) and give pg:FILE", dsn.Redact(sp.Arg))
		}
		return &pgsample.Source{Path: sp.Arg}, nil
	case "prometheus":
		return prometheus.New(sp)
	}
	return nil, usagef("metrics spec %q: %s sources are not supported yet", spec, sp.Kind)
}

// windowFrom reads the capture window of a workload or the replay
// window of a results file.
func windowFrom(path string) (metrics.Window, error) {
	f, err := openInput(path, nil)
	if err != nil {
		return metrics.Window{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(64)
	switch {
	case parse.IsWorkload(head):
		r, err := parse.NewReader(br)
		if err != nil {
			return metrics.Window{}, fmt.Errorf("%s: %w", path, err)
		}
		defer r.Close()
		for _, err := range r.Events() {
			if err != nil {
				break
			}
		}
		tr := r.Trailer()
		if tr == nil {
			return metrics.Window{}, fmt.Errorf("%s: the workload has no trailer (truncated): give --begin and --end", path)
		}
		return metrics.Window{Start: time.UnixMicro(tr.FirstUS).UTC(), End: time.UnixMicro(tr.LastUS).UTC()}, nil
	case replay.IsResults(head):
		// A results file: the header's start and the trailer's finish.
		rr, err := replay.NewResultsReader(br, path)
		if err != nil {
			return metrics.Window{}, err
		}
		for _, err := rr.Next(); err == nil; _, err = rr.Next() {
		}
		sum := rr.Summary()
		if sum == nil {
			return metrics.Window{}, fmt.Errorf("%s: the results have no summary (the replay was killed): give --begin and --end", path)
		}
		var w metrics.Window
		w.Start, _ = time.Parse(time.RFC3339Nano, rr.Header().Started)
		w.End, _ = time.Parse(time.RFC3339Nano, sum.Finished)
		return w, nil
	}
	return metrics.Window{}, fmt.Errorf("%s: neither a workload (pgrehearse parse) nor a results file (pgrehearse replay)", path)
}

func runMetrics(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "metrics", "SPEC")
	begin := fs.String("begin", "", "window start (RFC 3339)")
	end := fs.String("end", "", "window end (RFC 3339)")
	from := fs.String("window-of", "", "take the window from a workload (its capture) or a results file (its replay)")
	jsonOut := fs.Bool("json", false, "print the series as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("metrics: name one source spec, e.g. cloudwatch:instance=prod-db")
	}
	var w metrics.Window
	var err error
	switch {
	case *from != "":
		if w, err = windowFrom(*from); err != nil {
			return usagef("metrics: --window-of: %v", err)
		}
	case *begin != "" && *end != "":
		if w.Start, err = time.Parse(time.RFC3339, *begin); err != nil {
			return usagef("metrics: --begin: %v", err)
		}
		if w.End, err = time.Parse(time.RFC3339, *end); err != nil {
			return usagef("metrics: --end: %v", err)
		}
	default:
		return usagef("metrics: give --begin and --end, or --window-of FILE")
	}
	if !w.End.After(w.Start) {
		return usagef("metrics: the window ends before it begins")
	}
	src, err := openSource(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	set, err := src.Fetch(ctx, w)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(set)
	}
	return reports.MetricSet(env.stdout, set)
}
