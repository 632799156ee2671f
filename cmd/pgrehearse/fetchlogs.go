package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/rds"
)

func runFetchLogs(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "fetch-logs", "rds:instance=ID[,region=R][,profile=P]")
	begin := fs.String("begin", "", "start of the capture window (RFC 3339)")
	end := fs.String("end", "", "end of the capture window (RFC 3339)")
	out := fs.StringP("output", "o", "logs", "directory to download into (an interrupted download resumes there)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "rds:") {
		fs.Usage()
		return usagef("fetch-logs: name the instance: rds:instance=ID")
	}
	opts := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(fs.Arg(0), "rds:"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || (k != "instance" && k != "region" && k != "profile") {
			return usagef("fetch-logs: %q: want instance=, region= or profile=", kv)
		}
		opts[k] = v
	}
	if opts["instance"] == "" {
		return usagef("fetch-logs: rds: needs instance=ID")
	}
	b, err1 := time.Parse(time.RFC3339, *begin)
	e, err2 := time.Parse(time.RFC3339, *end)
	if err1 != nil || err2 != nil || !e.After(b) {
		return usagef("fetch-logs: give --begin and --end as RFC 3339 times, end after begin")
	}
	client, err := rds.NewClient(ctx, opts["region"], opts["profile"])
	if err != nil {
		return fmt.Errorf("fetch-logs: %w", err)
	}
	var total int64
	f := &rds.Fetcher{Client: client, Instance: opts["instance"], Dir: *out, Progress: func(file string, n int) {
		total += int64(n)
		if env.stderrTTY {
			fmt.Fprintf(env.stderr, "\r\033[K%s: %d MB", file, total>>20)
		}
	}}
	paths, err := f.Fetch(ctx, b, e)
	if env.stderrTTY {
		fmt.Fprint(env.stderr, "\r\033[K")
	}
	if err != nil {
		return fmt.Errorf("fetch-logs: %w", err)
	}
	for _, p := range paths {
		fmt.Fprintln(env.stdout, p)
	}
	fmt.Fprintf(env.stderr, "%d log files in %s; next: pgrehearse parse --begin %s --end %s -o workload.pgrw %s/*\n", len(paths), *out, *begin, *end, *out)
	return nil
}
