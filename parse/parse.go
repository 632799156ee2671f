// Package parse is the first stage of pgrehearse: it reads PostgreSQL server
// logs (stderr with any log_line_prefix, csvlog, jsonlog; plain, gzip or
// zstd) and writes the workload file that replay runs and compare reads.
//
// Sub-packages read one log format each and hand over format-neutral
// entries (package logentry). This package opens and decompresses inputs,
// detects their format, merges rotated files in time order, assembles
// sessions and statements from the entries, and owns the workload format:
// a header, a stream of length-prefixed frames (sessions, statements with
// their parameters, durations and errors), and a trailer with the counts.
// A file without its trailer is truncated. docs/workload-format.md
// specifies it.
package parse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrehearse/pgrehearse/parse/logentry"
)

// Format names a log format.
type Format string

// The log formats pgrehearse reads.
const (
	FormatAuto   Format = "auto"
	FormatStderr Format = "stderr"
	FormatCSV    Format = "csvlog"
	FormatJSON   Format = "jsonlog"
)

// Options controls a parse.
type Options struct {
	// Format of the inputs; FormatAuto detects it per file.
	Format Format
	// Prefix is log_line_prefix for stderr logs; empty detects it.
	Prefix string
	// Location resolves zone abbreviations the built-in table does not
	// know or resolves differently (--log-timezone).
	Location *time.Location
	// Begin and End keep only statements in [Begin, End]; zero means open.
	Begin, End time.Time
	// Databases, Users and Applications keep sessions by name; a value
	// starting with "!" excludes that name instead.
	Databases, Users, Applications []string
	// Strict stops at the first malformed entry.
	Strict bool
	// ReorderWindow is how long, in log time, events are held to put them
	// in time order and attach what follows them. Default 5s.
	ReorderWindow time.Duration
	// Uncompressed writes the workload without zstd compression.
	Uncompressed bool
	// Producer names the program in the header.
	Producer string
	// SystemIdentifier is the baseline cluster's system_identifier, if
	// the caller looked it up: replay refuses to run against the same
	// cluster the log came from.
	SystemIdentifier string
	// Stdin is read for the input "-"; default os.Stdin.
	Stdin io.Reader
	// Progress, when set, is called now and then with the bytes read so
	// far and the total (0 when unknown, as for stdin).
	Progress func(done, total int64)
	// Malformed, when set, is called for each malformed entry (the caller
	// prints the first few). Reasons never contain parameter values.
	Malformed func(Problem)
}

// ErrUnrecognized is wrapped by errors about input that is not a
// PostgreSQL log pgrehearse can read, or a log without statements: a
// usage problem, not a runtime failure.
var ErrUnrecognized = errors.New("unrecognized input")

// ErrMalformed is wrapped by the error Run returns in Strict mode.
var ErrMalformed = errors.New("malformed log entry")

// ErrOutput is wrapped by the error Run returns when writing the workload
// failed (a full disk, a closed pipe); the parse stops at the first one.
var ErrOutput = errors.New("write the workload")

// Run parses the logs at paths ("-" is standard input) and writes a
// workload to out. It returns the summary even with an error: the
// workload written so far is valid and carries a trailer that says why it
// is incomplete. An error writing out (wrapping ErrOutput) stops the parse
// at once.
func Run(ctx context.Context, paths []string, out io.Writer, opt Options) (*Summary, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no log files given", ErrUnrecognized)
	}
	if opt.ReorderWindow <= 0 {
		opt.ReorderWindow = 5 * time.Second
	}
	if opt.Producer == "" {
		opt.Producer = "pgrehearse"
	}
	p := &parseRun{ctx: ctx, opt: &opt, sum: newSummary(), out: &outputWriter{w: out}}
	defer func() {
		for _, in := range p.inputs {
			in.close()
		}
	}()
	hdr := &Header{Format: "pgrehearse-workload", Version: FormatVersion, Producer: opt.Producer, SystemIdentifier: opt.SystemIdentifier, ID: newID(),
		ReorderWindowMS: opt.ReorderWindow.Milliseconds(), TextSlots: defaultTextSlots, TextBytes: defaultTextBytes}
	for _, path := range paths {
		in, err := open(path, &opt)
		if err != nil {
			return nil, err
		}
		in.idx = len(p.inputs)
		p.inputs = append(p.inputs, in)
		p.total += in.size
		hdr.Sources = append(hdr.Sources, Source{Path: path, Format: string(in.format), Prefix: in.prefix, Compression: in.comp, Bytes: in.size})
		in.fsum = &FileSummary{Path: path, Format: string(in.format), Prefix: in.prefix, Compression: in.comp}
	}
	f := newFilter(&opt, hdr)
	// Read the first entry of every input before writing the header: its
	// time is the base all frame times are relative to.
	for _, in := range p.inputs {
		if err := p.advance(in); err != nil && opt.Strict && errors.Is(err, ErrMalformed) {
			return p.sum, err
		}
		if in.cur != nil && in.cur.Time != 0 && (hdr.Start == 0 || in.cur.Time < hdr.Start) {
			hdr.Start = in.cur.Time
		}
		if prec := entryPrecision(in.cur); prec > hdr.TimePrecisionUS {
			hdr.TimePrecisionUS = prec
		}
	}
	// With --begin the workload starts there, not at the log's first
	// line: replay's clock starts at the header's start, and nobody wants
	// to wait through the part of the log they cut away.
	if f.begin > hdr.Start {
		hdr.Start = f.begin
	}
	w, err := newWriter(p.out, hdr, !opt.Uncompressed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	p.asm = newAssembler(w, p.sum, f, opt.ReorderWindow.Microseconds())
	p.asm.problem = p.problem
	p.loop()
	return p.finish(w, f)
}

// parseRun is the state of one Run.
type parseRun struct {
	ctx    context.Context
	opt    *Options
	sum    *Summary
	inputs []*input
	total  int64
	asm    *assembler
	out    *outputWriter
	runErr error
	// strictErr is the first malformed entry in strict mode.
	strictErr error
	// first and last are the earliest and latest entry times read, the
	// log's own window, for messages about --begin and --end.
	first, last int64
}

// loop feeds the entries of all inputs, merged in time order, to the
// assembler until they end, the output fails, --strict meets a malformed
// entry, or ctx is cancelled.
func (p *parseRun) loop() {
	var n int64
	for {
		in := nextInput(p.inputs)
		if in == nil {
			return
		}
		if t := in.cur.Time; p.first == 0 || t < p.first {
			p.first = t
		}
		p.last = max(p.last, in.cur.Time)
		p.asm.name = in.path
		in.fsum.Entries++
		p.asm.add(in.cur, in.idx)
		if err := p.out.failed(); err != nil {
			p.runErr = errors.Join(p.runErr, fmt.Errorf("%w: %w; stopped reading at %s line %d", ErrOutput, err, in.path, in.cur.Line))
			return
		}
		if p.strictErr != nil {
			return
		}
		if err := p.advance(in); err != nil && p.opt.Strict && errors.Is(err, ErrMalformed) {
			return
		}
		n++
		if n&4095 == 0 {
			if p.ctx.Err() != nil {
				p.sum.Interrupted = true
				return
			}
			if p.opt.Progress != nil {
				p.opt.Progress(readBytes(p.inputs), p.total)
			}
		}
	}
}

// advance moves in to its next entry, collecting the error that ends it.
func (p *parseRun) advance(in *input) error {
	err := in.advance(p.sum, p.opt)
	if err != nil {
		p.runErr = errors.Join(p.runErr, err)
	}
	return err
}

// problem takes a malformed entry the assembler found.
func (p *parseRun) problem(pr Problem) {
	record(p.sum, p.opt, pr, "malformed")
	if p.opt.Strict && p.strictErr == nil {
		p.strictErr = fmt.Errorf("parse %s:%d: %s: %w", pr.File, pr.Line, pr.Reason, ErrMalformed)
		p.runErr = errors.Join(p.runErr, p.strictErr)
	}
}

// finish completes the summary, writes the trailer and says what went
// wrong, if anything.
func (p *parseRun) finish(w *writer, f *filter) (*Summary, error) {
	sum := p.sum
	p.asm.finish()
	sum.Bytes = readBytes(p.inputs)
	for _, in := range p.inputs {
		in.fsum.Bytes = in.count.n
		sum.Files = append(sum.Files, *in.fsum)
	}
	if p.opt.Progress != nil {
		p.opt.Progress(sum.Bytes, p.total)
	}
	runErr := p.runErr
	if runErr == nil && !sum.Interrupted {
		// Lines of another format are damage too, when there are many.
		runErr = unreadable(p.inputs)
	}
	sum.Complete = runErr == nil && !sum.Interrupted
	if runErr != nil {
		sum.Damage = runErr.Error()
	}
	if err := w.close(sum); err != nil {
		if errors.Is(runErr, ErrOutput) {
			return sum, runErr
		}
		return sum, errors.Join(runErr, fmt.Errorf("%w: %w", ErrOutput, err))
	}
	if sum.Interrupted {
		return sum, errors.Join(runErr, p.ctx.Err())
	}
	if runErr != nil {
		return sum, runErr
	}
	if sum.Statements == 0 {
		return sum, noStatements(sum, p.inputs, f, p.first, p.last)
	}
	return sum, nil
}

// outputWriter remembers the first error writing the workload. The zstd
// encoder writes from its own goroutines, hence the lock.
type outputWriter struct {
	w   io.Writer
	mu  sync.Mutex
	bad atomic.Bool
	err error
}

func (o *outputWriter) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(b)
	if err != nil {
		o.err = err
		o.bad.Store(true)
	}
	return n, err
}

func (o *outputWriter) failed() error {
	if !o.bad.Load() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func entryPrecision(e *logentry.Entry) int64 {
	if e == nil {
		return 0
	}
	return e.TimePrecision
}

func readBytes(ins []*input) int64 {
	var n int64
	for _, in := range ins {
		n += in.count.n
	}
	return n
}

// nextInput picks the input whose current entry is earliest, merging
// rotated or overlapping files into one time line.
func nextInput(ins []*input) *input {
	var best *input
	for _, in := range ins {
		if in.cur == nil {
			continue
		}
		if best == nil || in.cur.Time < best.cur.Time {
			best = in
		}
	}
	return best
}

// newID returns a random workload id: 16 bytes in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
