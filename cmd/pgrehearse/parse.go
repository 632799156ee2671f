package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
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
	return nil
}

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
	shown := 0
	opt.Malformed = func(p parse.Problem) {
		if *quiet || shown >= 5 {
			return
		}
		shown++
		fmt.Fprintf(env.stderr, "pgrehearse: skipped malformed entry at %s:%d: %s\n", p.File, p.Line, p.Reason)
		if shown == 5 {
			fmt.Fprintln(env.stderr, "pgrehearse: (further malformed entries are counted, not shown)")
		}
	}
	var bar *progressbar.ProgressBar
	if env.stderrTTY && !*quiet {
		opt.Progress = func(done, total int64) {
			if bar == nil {
				max := total
				if max == 0 {
					max = -1
				}
				bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(env.stderr),
					progressbar.OptionShowBytes(true), progressbar.OptionSetDescription("parsing"),
					progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(),
					progressbar.OptionSetPredictTime(true))
			}
			bar.Set64(done)
		}
	}

	w, commit, err := createOutput(*out, env.stdout)
	if err != nil {
		return err
	}
	sum, runErr := parse.Run(ctx, fs.Args(), w, opt)
	if bar != nil {
		bar.Finish()
	}
	if sum == nil {
		commit(false)
		return runErr
	}
	if err := commit(true); err != nil {
		return errors.Join(runErr, err)
	}
	if *jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else if !*quiet {
		if err := reports.ParseSummary(env.stderr, sum, !env.stderrTTY); err != nil {
			return err
		}
		if *out != "-" {
			fmt.Fprintf(env.stderr, "workload written to %s\n", *out)
		}
	}
	return runErr
}

// createOutput opens the output for writing. A file is written under a
// temporary name and renamed into place by commit, so an existing
// workload is never replaced by a half-written one.
func createOutput(path string, stdout io.Writer) (io.Writer, func(keep bool) error, error) {
	if path == "-" {
		return stdout, func(bool) error { return nil }, nil
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		// A device or a pipe (-o /dev/null, a FIFO): write straight into
		// it; renaming over it would replace it.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("open output %s: %w", path, err)
		}
		return f, func(bool) error { return f.Close() }, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, fmt.Errorf("create output in %s: %w", dir, err)
	}
	commit := func(keep bool) error {
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if !keep {
			return os.Remove(f.Name())
		}
		// CreateTemp makes the file private; a workload is as readable as
		// any file the user writes.
		if err := os.Chmod(f.Name(), 0o644); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return f, commit, nil
}

func openInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}
