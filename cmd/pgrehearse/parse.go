package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
	"github.com/pgrehearse/pgrehearse/reports"
)

var errHelp = errors.New("help requested")

// newFlags returns a FlagSet for a subcommand whose parse errors are usage
// errors and whose --help prints the flags.
func newFlags(env *environment, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: pgrehearse %s [flags] %s\n\nFlags:\n%s", name, args, fs.FlagUsages())
	}
	return fs
}

func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if stopAfterFlags {
		return errFlagsParsed
	}
	return nil
}

// stopAfterFlags makes every command stop once its flags are parsed, with
// errFlagsParsed: the tests check the README's command lines this way.
var stopAfterFlags bool

var errFlagsParsed = errors.New("flags parsed")

// logFlags are the flags that say how to read logs; replay and run reuse
// them to parse a log on the fly.
type logFlags struct {
	format, prefix, timezone string
	begin, end               string
	databases, users, apps   []string
	strict                   bool
	reorder                  time.Duration
}

func (l *logFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.format, "format", "auto", "log format: auto, stderr, csvlog or jsonlog")
	fs.StringVar(&l.prefix, "log-line-prefix", "", "the server's log_line_prefix, for stderr logs (detected when empty)")
	fs.StringVar(&l.timezone, "log-timezone", "", "the server's log_timezone (IANA name, e.g. Europe/Berlin) when its zone abbreviations are ambiguous")
	fs.StringVar(&l.begin, "begin", "", "keep statements from this time on (RFC 3339 or '2006-01-02 15:04:05 UTC')")
	fs.StringVar(&l.end, "end", "", "keep statements up to this time")
	fs.StringArrayVar(&l.databases, "database", nil, "keep only this database; '!name' drops it instead (repeatable)")
	fs.StringArrayVar(&l.users, "user", nil, "keep only this user; '!name' drops it (repeatable)")
	fs.StringArrayVar(&l.apps, "application", nil, "keep only this application_name; '!name' drops it (repeatable)")
	fs.BoolVar(&l.strict, "strict", false, "stop at the first malformed log entry (exit 1)")
	fs.DurationVar(&l.reorder, "reorder-window", 5*time.Second, "how long, in log time, to hold events to put them in order")
}

func (l *logFlags) options() (parse.Options, error) {
	o := parse.Options{Format: parse.Format(l.format), Prefix: l.prefix, Databases: l.databases,
		Users: l.users, Applications: l.apps, Strict: l.strict, ReorderWindow: l.reorder}
	switch o.Format {
	case parse.FormatAuto, parse.FormatStderr, parse.FormatCSV, parse.FormatJSON:
	default:
		return o, usagef("--format %q: use auto, stderr, csvlog or jsonlog", l.format)
	}
	if l.timezone != "" {
		loc, err := time.LoadLocation(l.timezone)
		if err != nil {
			return o, usagef("--log-timezone %q: %v (use an IANA name such as America/New_York)", l.timezone, err)
		}
		o.Location = loc
	}
	var err error
	if o.Begin, err = parseTimeFlag("--begin", l.begin, o.Location); err != nil {
		return o, err
	}
	if o.End, err = parseTimeFlag("--end", l.end, o.Location); err != nil {
		return o, err
	}
	if !o.Begin.IsZero() && !o.End.IsZero() && o.End.Before(o.Begin) {
		return o, usagef("--end %s is before --begin %s", l.end, l.begin)
	}
	return o, nil
}

// parseTimeFlag reads a time with a zone: RFC 3339, or the log's own form.
func parseTimeFlag(name, v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	tp := logentry.TimeParser{Location: loc}
	us, _, err := tp.Parse([]byte(v))
	if err != nil {
		return time.Time{}, usagef("%s %q: want a time with a zone, like 2026-11-22T12:00:00Z or '2026-11-22 07:00:00 EST'", name, v)
	}
	return time.UnixMicro(us), nil
}

func runParse(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "parse", "LOG... (- for standard input)")
	var lf logFlags
	lf.register(fs)
	out := fs.StringP("output", "o", "workload.pgrw", "workload file to write ('-' for standard output)")
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object on standard output instead of a table")
	quiet := fs.BoolP("quiet", "q", false, "print no progress and no summary table")
	uncompressed := fs.Bool("uncompressed", false, "write the workload without zstd compression")
	baseline := fs.String("baseline", "", "the production cluster the log came from (DSN): its system_identifier is recorded so replay refuses to run against it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("parse: name at least one log file (or - for standard input)")
	}
	if *out == "-" && *jsonOut {
		return usagef("parse: --json prints to standard output, so -o - can not be used with it")
	}
	opt, err := lf.options()
	if err != nil {
		return err
	}
	paths := files{cmd: "parse"}
	paths.input("log", fs.Args()...)
	paths.output("-o", *out)
	if err := paths.check(); err != nil {
		return err
	}
	opt.Uncompressed = *uncompressed
	if *baseline != "" {
		id, err := systemIdentifier(ctx, *baseline)
		if err != nil {
			return fmt.Errorf("parse: --baseline: %w", err)
		}
		opt.SystemIdentifier = id
	}
	opt.Producer = "pgrehearse " + version
	opt.Stdin = env.stdin
	opt.Malformed = problemPrinter(env, *quiet)
	finishBar := parseProgress(env, *quiet, &opt)

	w, commit, err := createOutput(*out, env.stdout)
	if err != nil {
		return err
	}
	sum, runErr := parse.Run(ctx, fs.Args(), w, opt)
	finishBar()
	if errors.Is(runErr, parse.ErrOutput) {
		commit(false)
		kept := ""
		if st, err := os.Stat(*out); err == nil && st.Mode().IsRegular() {
			kept = "; the existing " + *out + " is untouched"
		}
		return fmt.Errorf("parse: %w. Free space on the disk of %s or write elsewhere with -o, then parse again%s", runErr, *out, kept)
	}
	// A workload without statements (a window outside the log, a log of
	// another format) would only replace a good one with an empty one.
	if sum == nil || sum.Statements == 0 || errors.Is(runErr, parse.ErrUnrecognized) {
		commit(false)
		return runErr
	}
	if err := commit(true); err != nil {
		return errors.Join(runErr, err)
	}
	return printParseSummary(env, sum, *out, *jsonOut, *quiet, runErr)
}

func printParseSummary(env *environment, sum *parse.Summary, out string, jsonOut, quiet bool, runErr error) error {
	if jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else if !quiet {
		if err := reports.ParseSummary(env.stderr, sum, !env.stderrTTY); err != nil {
			return err
		}
		if out != "-" {
			fmt.Fprintf(env.stderr, "workload written to %s\n", out)
		}
	}
	return runErr
}

// problemPrinter prints the first few malformed entries on stderr.
func problemPrinter(env *environment, quiet bool) func(parse.Problem) {
	shown := 0
	return func(p parse.Problem) {
		if quiet || shown >= 5 {
			return
		}
		shown++
		fmt.Fprintf(env.stderr, "pgrehearse: skipped an entry at %s:%d: %s\n", p.File, p.Line, p.Reason)
		if shown == 5 {
			fmt.Fprintln(env.stderr, "pgrehearse: (further malformed entries are counted, not shown)")
		}
	}
}
