package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/objstore"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
	"github.com/pgrehearse/pgrehearse/reports"
)

// verdictError carries a NO-GO or INCONCLUSIVE verdict to main, which
// turns it into exit code 3 or 4.
type verdictError struct{ v compare.Verdict }

func (e verdictError) Error() string { return string(e.v.Result) + ": " + e.v.Reason }

// compareFlags are shared by compare and run.
type compareFlags struct {
	baseline, candidate string
	gates               []string
	gatesFile           string
	warmup              time.Duration
	top                 int
	report              []string
	ascii               bool
	candidateLogs       []string
	candidateLogPrefix  string
	showParams          bool
	// control is the control's metric source; controlResults its
	// results files.
	control        string
	controlResults []string
}

func (cf *compareFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&cf.baseline, "baseline-metrics", "", "metric source of the production cluster during the capture: cloudwatch:instance=ID, cloudwatch:cluster=ID, prometheus:URL,instance=HOST:PORT or pg:SAMPLES-FILE")
	fs.StringVar(&cf.candidate, "candidate-metrics", "", "metric source of the candidate during the replay (default: the samples file the replay took, if any)")
	fs.StringVar(&cf.control, "control-metrics", "", "metric source of the control during its replay (default: the samples file the replay took of it, if any)")
	fs.StringArrayVar(&cf.gates, "gate", nil, "launch gate, e.g. 'cpu.p95 <= baseline * 1.10' (repeatable; default: the built-in gates)")
	fs.StringVar(&cf.gatesFile, "gates-file", "", "file of gates, one per line (# starts a comment)")
	fs.DurationVar(&cf.warmup, "warmup", -1, "start of both windows left out of the metrics (default 10% of the capture, at most 1m)")
	fs.IntVar(&cf.top, "top", 10, "queries shown in the latency tables")
	fs.StringArrayVar(&cf.candidateLogs, "candidate-log", nil, "the candidate's own log written during the replay (log_min_duration_statement = 0, log_connections = on): latency is then compared server-side on both sides (repeatable)")
	fs.StringVar(&cf.candidateLogPrefix, "candidate-log-prefix", "", "the candidate's log_line_prefix, when detection needs help")
	fs.BoolVar(&cf.showParams, "show-params", false, "put the first failing statement of each new error in the comparison and reports with its parameter values (production data: off by default)")
	fs.StringArrayVar(&cf.report, "report", nil, "also write a report, format from the extension: .html, .md, .json, .xml (JUnit), .txt (repeatable)")
	fs.BoolVar(&cf.ascii, "ascii", false, "plain ASCII tables and PASS/FAIL marks (the default when stdout is not a terminal)")
}

// files adds the files compare reads and writes besides the workload,
// the results and the comparison.
func (cf *compareFlags) files(p *files) {
	p.input("--gates-file", cf.gatesFile)
	p.input("--candidate-log", cf.candidateLogs...)
	p.input("--control-results", cf.controlResults...)
	for _, m := range []struct{ flag, spec string }{{"--baseline-metrics", cf.baseline}, {"--candidate-metrics", cf.candidate}, {"--control-metrics", cf.control}} {
		if sp, err := metrics.ParseSpec(m.spec); err == nil && sp.Kind == "pg" {
			if objstore.IsURL(sp.Arg) {
				p.input(m.flag+" pg:", sp.Arg)
			} else if st, err := os.Stat(sp.Arg); err == nil && st.Mode().IsRegular() {
				p.input(m.flag+" pg:", sp.Arg)
			}
		}
	}
	p.output("--report", cf.report...)
}

// parseGates reads and checks every gate before any work starts, so a
// typo costs seconds, not a replay.
func (cf *compareFlags) parseGates() ([]compare.Gate, error) {
	exprs := append([]string(nil), cf.gates...)
	where := make([]string, len(exprs))
	for i := range where {
		where[i] = "--gate"
	}
	if cf.gatesFile != "" {
		raw, err := os.ReadFile(cf.gatesFile)
		if err != nil {
			return nil, usagef("--gates-file: %v", err)
		}
		for i, l := range strings.Split(string(raw), "\n") {
			// A file saved on Windows ends its lines in "\r\n".
			l = strings.TrimSuffix(l, "\r")
			if j := strings.IndexByte(l, '#'); j >= 0 {
				l = l[:j]
			}
			if strings.TrimSpace(l) == "" {
				continue
			}
			exprs = append(exprs, l)
			where = append(where, fmt.Sprintf("%s:%d", cf.gatesFile, i+1))
		}
	}
	var gates []compare.Gate
	for i, e := range exprs {
		g, err := compare.ParseGate(e)
		if err != nil {
			return nil, usagef("%s: %v", where[i], err)
		}
		gates = append(gates, g)
	}
	return gates, nil
}

// reportFormat picks an encoder from a file name's extension.
func reportFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		return "html", nil
	case ".md", ".markdown":
		return "markdown", nil
	case ".json":
		return "json", nil
	case ".xml":
		return "junit", nil
	case ".txt", ".text":
		return "text", nil
	}
	return "", usagef("--report %s: cannot tell the format from the extension (use .html, .md, .json, .xml or .txt)", path)
}

func runCompare(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "compare", "")
	workload := fs.String("workload", "", "the workload the replay ran (from pgrehearse parse)")
	results := fs.StringArray("results", nil, "results file of the replay (repeatable: one per shard)")
	controlResults := fs.StringArray("control-results", nil, "results file of the control's replay (replay --control; repeatable: one per shard): divergence, and the control as a third column")
	out := fs.StringP("output", "o", "comparison.json", "where to write the comparison document")
	var cf compareFlags
	cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *workload == "" || len(*results) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return usagef("compare: give --workload and at least one --results")
	}
	cf.controlResults = *controlResults
	paths := files{cmd: "compare"}
	paths.input("--workload", *workload)
	paths.input("--results", *results...)
	cf.files(&paths)
	if cf.candidate == "" {
		paths.input("replay's samples", samplesOf((*results)[0]))
	}
	if cf.control == "" && len(cf.controlResults) > 0 {
		paths.input("the control's samples", samplesOf(cf.controlResults[0]))
	}
	paths.output("-o", *out)
	if err := paths.check(); err != nil {
		return err
	}
	c, err := cf.build(ctx, env, *workload, *results)
	if err != nil {
		return err
	}
	return cf.finish(env, c, *out)
}

// build validates everything it can before the slow part, then compares.
func (cf *compareFlags) build(ctx context.Context, env *environment, workload string, results []string) (*compare.Comparison, error) {
	gates, err := cf.parseGates()
	if err != nil {
		return nil, err
	}
	for _, r := range cf.report {
		if _, err := reportFormat(r); err != nil {
			return nil, err
		}
	}
	// compare reads its inputs more than once: objects from local copies.
	workloadName := workload
	if workload, results, err = localInputs(ctx, workload, results); err != nil {
		return nil, err
	}
	controls, err := localCopies(ctx, "--control-results", cf.controlResults)
	if err != nil {
		return nil, err
	}
	in := compare.Input{Workload: workload, Results: results, Gates: gates, Warmup: cf.warmup, Top: cf.top,
		CandidateLogs: cf.candidateLogs, CandidateLogOptions: parse.Options{Prefix: cf.candidateLogPrefix}, ShowParams: cf.showParams,
		ControlResults: controls}
	if cf.baseline != "" {
		if in.Baseline, err = openSource(ctx, cf.baseline); err != nil {
			return nil, fmt.Errorf("--baseline-metrics: %w", err)
		}
	}
	cand := cf.candidate
	if cand == "" {
		// The replay sampled the candidate itself: use what it took.
		if s := samplesOf(results[0]); s != "" {
			cand = "pg:" + s
			fmt.Fprintf(env.stderr, "candidate metrics from the replay's samples: %s\n", s)
		}
	}
	if cand != "" {
		if in.Candidate, err = openSource(ctx, cand); err != nil {
			return nil, fmt.Errorf("--candidate-metrics: %w", err)
		}
	}
	if err := cf.openControl(ctx, env, &in); err != nil {
		return nil, err
	}
	if in.Baseline == nil {
		fmt.Fprintln(env.stderr, "pgrehearse: note: no --baseline-metrics: CPU, IOPS and replica lag are compared only where both sides have a source")
	}
	c, err := compare.Build(ctx, in)
	if errors.Is(err, compare.ErrMismatch) {
		// Results of another workload, or not of one replay: what was
		// given is wrong, not the data.
		return nil, usageError{err}
	}
	if c != nil {
		c.Fidelity.Workload = workloadName
	}
	return c, err
}

// finish writes the comparison and the reports, prints the text report,
// and hands the verdict to main.
func (cf *compareFlags) finish(env *environment, c *compare.Comparison, out string) error {
	if err := writeReport(out, "json", c, reports.Options{}, env.stdout); err != nil {
		return err
	}
	for _, r := range cf.report {
		f, _ := reportFormat(r)
		if err := writeReport(r, f, c, reports.Options{ASCII: cf.ascii}, env.stdout); err != nil {
			return err
		}
	}
	if err := reports.Text(env.stdout, c, reports.Options{ASCII: cf.ascii || !env.stdoutTTY}); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "comparison written to %s", out)
	if len(cf.report) > 0 {
		fmt.Fprintf(env.stderr, "; report in %s", strings.Join(cf.report, ", "))
	}
	fmt.Fprintln(env.stderr)
	if c.Verdict.Result != compare.GO {
		return verdictError{c.Verdict}
	}
	return nil
}

func writeReport(path, format string, c *compare.Comparison, o reports.Options, stdout io.Writer) error {
	w, commit, err := createOutput(path, stdout)
	if err != nil {
		return err
	}
	if err := reports.Encode(w, format, c, o); err != nil {
		commit(false)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return commit(true)
}

// samplesOf returns the samples file a replay took of its target, if it
// still exists.
func samplesOf(results string) string {
	f, err := openInput(results, nil)
	if err != nil {
		return ""
	}
	defer f.Close()
	rr, err := replay.NewResultsReader(f, results)
	if err != nil {
		return ""
	}
	samples := rr.Header().Samples
	if samples == "" {
		return ""
	}
	if objstore.IsURL(samples) {
		return samples
	}
	for _, p := range []string{samples, filepath.Join(filepath.Dir(results), filepath.Base(samples))} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func runReport(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "report", "COMPARISON.json")
	format := fs.StringP("format", "f", "", "text, markdown, json, junit or html (default: from -o's extension, else text)")
	out := fs.StringP("output", "o", "-", "where to write the report")
	ascii := fs.Bool("ascii", false, "plain ASCII tables (the default when writing to a file or a pipe)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("report: name one comparison document (from pgrehearse compare -o)")
	}
	if *format == "" {
		*format = "text"
		if *out != "-" {
			f, err := reportFormat(*out)
			if err != nil {
				return err
			}
			*format = f
		}
	}
	if !reports.Known(*format) {
		return usagef("report: --format %q: use %s", *format, reports.Formats())
	}
	paths := files{cmd: "report"}
	paths.input("comparison", fs.Arg(0))
	paths.output("-o", *out)
	if err := paths.check(); err != nil {
		return err
	}
	raw, err := readInput(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c, err := compare.ReadComparison(raw)
	if err != nil {
		return usagef("report: %s: %v (write one with pgrehearse compare -o FILE)", fs.Arg(0), err)
	}
	return writeReport(*out, *format, c, reports.Options{ASCII: *ascii || *out != "-" || !env.stdoutTTY}, env.stdout)
}
