// Command pgrehearse rehearses a PostgreSQL migration with real traffic:
// parse a production statement log, replay it against a candidate
// cluster, compare both clusters and gate the launch.
//
// This package only wires flags to the packages that do the work; main
// alone turns errors into exit codes (see exitcodes.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/pgrehearse/pgrehearse/parse"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment carries the process's streams so tests can run commands
// in-process.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stderrTTY is true when stderr is a terminal (progress, colours).
	stderrTTY bool
	// stdoutTTY is true when stdout is a terminal (Unicode tables).
	stdoutTTY bool
}

func commands() []command {
	return []command{
		{"demo", "rehearse on this machine: baseline and candidate clusters, a built-in OLTP load, parse, replay, compare, report", runDemo},
		{"fetch-logs", "download an RDS or Aurora instance's log files for a window, for parse", runFetchLogs},
		{"parse", "read PostgreSQL logs into a workload file", runParse},
		{"inspect", "show a workload file's header, summary and events", runInspect},
		{"replay", "replay a workload against a candidate cluster", runReplay},
		{"metrics", "fetch a cluster's metrics for a window from a source spec (cloudwatch:, prometheus:, pg:FILE)", runMetrics},
		{"compare", "compare the baseline and the candidate, judge the launch gates, write the comparison and the report", runCompare},
		{"run", "parse, replay, compare and report in one command, keeping every stage's file", runRun},
		{"report", "render a comparison document as text, Markdown, JSON, JUnit or HTML", runReport},
		{"salvage", "make the parts a killed replay uploaded to s3:// into its results object", runSalvage},
		{"sample", "sample a cluster's statistics every second into a samples file (a metric source for compare)", runSample},
		{"version", "print the version", func(_ context.Context, env *environment, _ []string) error {
			fmt.Fprintln(env.stdout, "pgrehearse", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal ends the process at once.
		<-ctx.Done()
		stop()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		os.Exit(exitInterrupted)
	}()
	env := &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr), stdoutTTY: isTerminal(os.Stdout)}
	// PGREHEARSE_CPUPROFILE=FILE profiles a whole command, for the
	// performance work in docs/performance.md.
	if path := os.Getenv("PGREHEARSE_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	// PGREHEARSE_MEMPROFILE=FILE writes where a command allocated.
	memPath := os.Getenv("PGREHEARSE_MEMPROFILE")
	if memPath != "" {
		runtime.MemProfileRate = 4096
	}
	err := dispatch(ctx, env, os.Args[1:])
	pprof.StopCPUProfile()
	if memPath != "" {
		if f, err := os.Create(memPath); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(exitCode(ctx, env, err))
}

func dispatch(ctx context.Context, env *environment, args []string) error {
	defer removeStaged()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.stderr)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	printUsage(env.stderr)
	return usagef("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "pgrehearse rehearses a PostgreSQL migration with real traffic.")
	fmt.Fprintln(w, "\nUsage: pgrehearse COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'pgrehearse COMMAND --help' for a command's flags.")
}

// exitCode maps an error to the documented exit codes and prints it.
func exitCode(ctx context.Context, env *environment, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitError
	var ue usageError
	var ve verdictError
	switch {
	case errors.As(err, &ve):
		// The report has said it all; this line is for CI logs.
		fmt.Fprintf(env.stderr, "pgrehearse: %s\n", ve.Error())
		return exitFor(ve.v.Result)
	case errors.Is(err, errHelp):
		return exitOK
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		code = exitInterrupted
	case errors.As(err, &ue), errors.Is(err, parse.ErrUnrecognized):
		code = exitUsage
	}
	if code == exitInterrupted {
		fmt.Fprintln(env.stderr, "pgrehearse: interrupted; the files written so far are valid and record that they are incomplete")
		return code
	}
	fmt.Fprintln(env.stderr, "pgrehearse:", err)
	return code
}
