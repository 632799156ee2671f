package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/internal/dsn"
)

func runSample(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "sample", "")
	target := fs.String("target", "", "the cluster to sample: a libpq DSN or URL (PG* variables and .pgpass apply)")
	out := fs.StringP("output", "o", "samples.jsonl", "samples file to write")
	interval := fs.Duration("interval", time.Second, "time between samples")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C or SIGTERM)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usagef("sample: takes no arguments; name the cluster with --target")
	}
	cfg, err := pgconn.ParseConfig(*target)
	if err != nil {
		return usagef("sample: --target: %v", err)
	}
	if *interval < 100*time.Millisecond {
		return usagef("sample: --interval %v is too short (100ms at least)", *interval)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	paths := files{cmd: "sample"}
	paths.output("-o", *out)
	if err := paths.check(); err != nil {
		return err
	}
	// Written in place, line by line: a sampler killed outright still
	// leaves every sample it took. The file is made (private) with the
	// first sample, so a target that can not be reached leaves an
	// existing file alone.
	f := &lazyFile{path: *out}
	defer f.Close()
	fmt.Fprintf(env.stderr, "sampling %s every %v into %s; Ctrl-C stops\n", dsn.Describe(cfg), *interval, *out)
	errs := 0
	s := &pgsample.Sampler{Config: cfg, Interval: *interval, Warn: func(err error) {
		if errs++; errs <= 5 {
			fmt.Fprintf(env.stderr, "pgrehearse: %v (sampling goes on)\n", err)
		}
	}}
	tr, err := s.Run(ctx, f)
	if err != nil && !f.created() {
		return fmt.Errorf("%w (%s is left as it was)", err, *out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "%d samples (%d failed) in %s\n", tr.Samples, tr.Errors, *out)
	return f.Close()
}
