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
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/pgrehearse/pgrehearse/parse/csvlog"
	"github.com/pgrehearse/pgrehearse/parse/jsonlog"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
	"github.com/pgrehearse/pgrehearse/parse/stderrlog"
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

// input is one opened log.
type input struct {
	path   string
	idx    int // position among the inputs: the source index in frames
	f      io.Closer
	count  *countingReader
	r      logentry.Reader
	format Format
	prefix string
	comp   string
	size   int64
	cur    *logentry.Entry
	done   bool
	fsum   *FileSummary
	closer func()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Run parses the logs at paths ("-" is standard input) and writes a
// workload to out. It returns the summary even with an error: the
// workload written so far is valid and carries a trailer that says why it
// is incomplete.
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
	sum := newSummary()
	var inputs []*input
	defer func() {
		for _, in := range inputs {
			in.close()
		}
	}()
	var total int64
	hdr := &Header{Format: "pgrehearse-workload", Version: FormatVersion, Producer: opt.Producer, SystemIdentifier: opt.SystemIdentifier,
		ReorderWindowMS: opt.ReorderWindow.Milliseconds(), TextSlots: defaultTextSlots, TextBytes: defaultTextBytes}
	for _, p := range paths {
		in, err := open(p, &opt)
		if err != nil {
			return nil, err
		}
		in.idx = len(inputs)
		inputs = append(inputs, in)
		total += in.size
		hdr.Sources = append(hdr.Sources, Source{Path: p, Format: string(in.format), Prefix: in.prefix, Compression: in.comp, Bytes: in.size})
		in.fsum = &FileSummary{Path: p, Format: string(in.format), Prefix: in.prefix, Compression: in.comp}
	}
	f := &filter{db: newNameFilter(opt.Databases), user: newNameFilter(opt.Users), app: newNameFilter(opt.Applications)}
	if !opt.Begin.IsZero() {
		f.begin = opt.Begin.UnixMicro()
		hdr.Filters = append(hdr.Filters, "begin="+opt.Begin.UTC().Format(time.RFC3339Nano))
	}
	if !opt.End.IsZero() {
		f.end = opt.End.UnixMicro()
		hdr.Filters = append(hdr.Filters, "end="+opt.End.UTC().Format(time.RFC3339Nano))
	}
	for _, kv := range [][2]any{{"database", opt.Databases}, {"user", opt.Users}, {"application", opt.Applications}} {
		for _, v := range kv[1].([]string) {
			hdr.Filters = append(hdr.Filters, kv[0].(string)+"="+v)
		}
	}

	// Read the first entry of every input before writing the header: its
	// time is the base all frame times are relative to.
	var runErr error
	for _, in := range inputs {
		if err := in.advance(sum, &opt); err != nil {
			runErr = errors.Join(runErr, err)
			if opt.Strict && errors.Is(err, ErrMalformed) {
				return sum, err
			}
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
	w, err := newWriter(out, hdr, !opt.Uncompressed)
	if err != nil {
		return nil, fmt.Errorf("write workload: %w", err)
	}
	asm := newAssembler(w, sum, f, opt.ReorderWindow.Microseconds())

	var n int64
	for {
		in := nextInput(inputs)
		if in == nil {
			break
		}
		asm.name = in.path
		in.fsum.Entries++
		asm.add(in.cur, in.idx)
		if err := in.advance(sum, &opt); err != nil {
			runErr = errors.Join(runErr, err)
			if opt.Strict && errors.Is(err, ErrMalformed) {
				break
			}
		}
		n++
		if n&4095 == 0 {
			if ctx.Err() != nil {
				sum.Interrupted = true
				break
			}
			if opt.Progress != nil {
				opt.Progress(readBytes(inputs), total)
			}
		}
	}
	asm.finish()
	sum.Bytes = readBytes(inputs)
	for _, in := range inputs {
		in.fsum.Bytes = in.count.n
		sum.Files = append(sum.Files, *in.fsum)
	}
	if opt.Progress != nil {
		opt.Progress(sum.Bytes, total)
	}
	sum.Complete = runErr == nil && !sum.Interrupted
	if runErr != nil {
		sum.Damage = runErr.Error()
	}
	if err := w.close(sum); err != nil {
		return sum, errors.Join(runErr, fmt.Errorf("write workload: %w", err))
	}
	if sum.Interrupted {
		return sum, errors.Join(runErr, ctx.Err())
	}
	if runErr != nil {
		return sum, runErr
	}
	if sum.Statements == 0 {
		return sum, noStatements(sum)
	}
	return sum, nil
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

// advance moves in to its next entry, skipping (and counting) malformed
// input. It returns a non-nil error for damage that ends the file, or for
// a malformed entry in strict mode.
func (in *input) advance(sum *Summary, opt *Options) error {
	in.cur = nil
	if in.done {
		return nil
	}
	for {
		e, err := in.r.Next()
		if err == nil {
			if e.Time == 0 {
				p := Problem{File: in.path, Line: e.Line, Reason: "entry without a timestamp"}
				record(sum, opt, p)
				if opt.Strict {
					in.done = true
					return fmt.Errorf("parse %s:%d: %s: %w", p.File, p.Line, p.Reason, ErrMalformed)
				}
				continue
			}
			in.cur = e
			return nil
		}
		var m *logentry.MalformedError
		if errors.As(err, &m) {
			p := Problem{File: in.path, Line: m.Line, Reason: m.Reason}
			record(sum, opt, p)
			if opt.Strict {
				in.done = true
				return fmt.Errorf("parse %s:%d: %s: %w", p.File, p.Line, p.Reason, ErrMalformed)
			}
			continue
		}
		in.done = true
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("read %s: %w (everything before this point was kept; if the file is still being written or was cut off, that is expected)", in.path, err)
	}
}

func record(sum *Summary, opt *Options, p Problem) {
	sum.Skipped["malformed"]++
	if len(sum.Problems) < maxProblems {
		sum.Problems = append(sum.Problems, p)
	}
	if opt.Malformed != nil {
		opt.Malformed(p)
	}
}

func (in *input) close() {
	if in.closer != nil {
		in.closer()
	}
	if in.f != nil {
		in.f.Close()
	}
}

const sampleSize = 256 << 10

// open opens path, undoes its compression, detects its format and sets up
// the entry reader.
func open(path string, opt *Options) (_ *input, err error) {
	in := &input{path: path}
	defer func() {
		// A file that is refused is closed, its decompressor with it.
		if err != nil {
			in.close()
		}
	}()
	var raw io.Reader
	if path == "-" {
		raw = opt.Stdin
		if raw == nil {
			raw = os.Stdin
		}
		in.path = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				f.Close()
				return nil, fmt.Errorf("%w: %s is a directory: name the log files in it (for example %s/*.log)", ErrUnrecognized, path, strings.TrimRight(path, "/"))
			}
			in.size = st.Size()
		}
		in.f = f
		raw = f
	}
	in.count = &countingReader{r: raw}
	br := bufio.NewReaderSize(in.count, 1<<20)
	head, _ := br.Peek(8)
	var body io.Reader = br
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read %s: gzip: %w", in.path, err)
		}
		in.comp = "gzip"
		body = zr
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(512<<20))
		if err != nil {
			return nil, fmt.Errorf("read %s: zstd: %w", in.path, err)
		}
		in.comp = "zstd"
		in.closer = zr.Close
		body = zr
	case len(head) >= 3 && string(head[:3]) == "BZh":
		return nil, fmt.Errorf("%w: %s is bzip2-compressed: run bzip2 -dc %s | pgrehearse parse -", ErrUnrecognized, in.path, path)
	case len(head) >= 6 && bytes.Equal(head[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, fmt.Errorf("%w: %s is xz-compressed: run xz -dc %s | pgrehearse parse -", ErrUnrecognized, in.path, path)
	case len(head) >= 7 && string(head[:7]) == magic:
		return nil, fmt.Errorf("%w: %s is already a pgrehearse workload file: pass it to replay, or look inside with pgrehearse inspect", ErrUnrecognized, in.path)
	}
	if in.comp != "" {
		// Decompress on another core while this one parses.
		ra := newReadahead(body)
		prev := in.closer
		in.closer = func() {
			ra.Close()
			if prev != nil {
				prev()
			}
		}
		body = ra
	}
	dr := bufio.NewReaderSize(body, 1<<20)
	sample, _ := dr.Peek(sampleSize)
	format := opt.Format
	if format == "" || format == FormatAuto {
		f, err := detectFormat(sample)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.path, err)
		}
		format = f
	}
	in.format = format
	tp := &logentry.TimeParser{Location: opt.Location}
	switch format {
	case FormatCSV:
		in.r = csvlog.NewReader(dr, tp)
	case FormatJSON:
		in.r = jsonlog.NewReader(dr, tp)
	case FormatStderr:
		prefix := opt.Prefix
		if prefix == "" {
			p, err := stderrlog.DetectPrefix(sampleLines(sample))
			if err != nil {
				if lang := nonEnglish(sample); lang != "" {
					return nil, fmt.Errorf("%s: %w", in.path, errNonEnglish(lang))
				}
				return nil, fmt.Errorf("%w: %s: %v", ErrUnrecognized, in.path, err)
			}
			prefix = p
		}
		cp, err := stderrlog.CompilePrefix(prefix)
		if err != nil {
			return nil, fmt.Errorf("%w: --log-line-prefix %q: %v", ErrUnrecognized, prefix, err)
		}
		if !strings.Contains(prefix, "%m") && !strings.Contains(prefix, "%t") && !strings.Contains(prefix, "%n") {
			return nil, fmt.Errorf("%w: log_line_prefix %q has no timestamp (%%m, %%t or %%n): replay needs statement times; set log_line_prefix = '%%m [%%p] %%q%%u@%%d ' (or similar) on the server", ErrUnrecognized, prefix)
		}
		if !strings.Contains(prefix, "%c") && !strings.Contains(prefix, "%p") {
			return nil, fmt.Errorf("%w: log_line_prefix %q has neither %%c nor %%p, so sessions can not be told apart; add %%c to log_line_prefix", ErrUnrecognized, prefix)
		}
		in.prefix = prefix
		in.r = stderrlog.NewReader(dr, cp, tp)
	default:
		return nil, fmt.Errorf("%w: unknown log format %q: use auto, stderr, csvlog or jsonlog", ErrUnrecognized, format)
	}
	return in, nil
}

func sampleLines(sample []byte) [][]byte {
	// The sample may end mid-line; drop the partial last line.
	if i := bytes.LastIndexByte(sample, '\n'); i >= 0 && len(sample) == sampleSize {
		sample = sample[:i]
	}
	lines := bytes.Split(sample, []byte("\n"))
	if len(lines) > 500 {
		lines = lines[:500]
	}
	return lines
}

// detectFormat tells the format from the first bytes of a decompressed log.
func detectFormat(sample []byte) (Format, error) {
	if len(bytes.TrimSpace(sample)) == 0 {
		return "", fmt.Errorf("%w: the log is empty", ErrUnrecognized)
	}
	switch {
	case jsonlog.Looks(sample):
		return FormatJSON, nil
	case csvlog.Looks(sample):
		return FormatCSV, nil
	}
	if _, err := stderrlog.DetectPrefix(sampleLines(sample)); err == nil {
		return FormatStderr, nil
	} else if lang := nonEnglish(sample); lang != "" {
		return "", errNonEnglish(lang)
	} else {
		return "", fmt.Errorf("%w: not a csvlog or jsonlog log, and as a stderr log: %v (or pass --format if it is csvlog or jsonlog)", ErrUnrecognized, err)
	}
}

// nonEnglishWords are the translations of "statement:" and "ERROR:" in the
// PostgreSQL message catalogs most often met. A log in another language
// looks like a log with no statements, which is how pgreplay fails on it.
var nonEnglishWords = []struct{ word, lang string }{
	{"ANWEISUNG:", "German"}, {"FEHLER:", "German"},
	{"INSTRUCTION :", "French"}, {"ERREUR:", "French"}, {"ERREUR :", "French"},
	{"SENTENCIA:", "Spanish"}, {"sentencia:", "Spanish"},
	{"ISTRUZIONE:", "Italian"}, {"ERRORE:", "Italian"}, {"istruzione:", "Italian"},
	{"SENTENÇA:", "Portuguese"}, {"ERRO:", "Portuguese"}, {"comando:", "Portuguese"},
	{"ОПЕРАТОР:", "Russian"}, {"ОШИБКА:", "Russian"},
	{"文:", "Japanese"}, {"エラー:", "Japanese"},
	{"语句:", "Chinese"}, {"错误:", "Chinese"},
	{"문장:", "Korean"}, {"오류:", "Korean"},
	{"Anweisung:", "German"}, {"instruction :", "French"},
	{"POLECENIE:", "Polish"}, {"BŁĄD:", "Polish"},
	{"KOMUT:", "Turkish"}, {"HATA:", "Turkish"},
	{"PŘÍKAZ:", "Czech"}, {"CHYBA:", "Czech"},
	{"UTASÍTÁS:", "Hungarian"}, {"HIBA:", "Hungarian"},
	{"SATS:", "Swedish"}, {"FEL:", "Swedish"},
}

func errNonEnglish(lang string) error {
	return fmt.Errorf("%w: this log was written with lc_messages in %s; pgrehearse reads English messages only: set lc_messages = 'C' (or 'en_US.UTF-8') on the server and capture again", ErrUnrecognized, lang)
}

func nonEnglish(sample []byte) string {
	for _, w := range nonEnglishWords {
		if bytes.Contains(sample, []byte(w.word)) {
			return w.lang
		}
	}
	return ""
}

func noStatements(sum *Summary) error {
	if sum.Entries == 0 {
		return fmt.Errorf("%w: no log entries were read: is this a PostgreSQL log? (pass --format and --log-line-prefix if it is)", ErrUnrecognized)
	}
	other := sum.Skipped["other_message"] + sum.Skipped["unknown_severity"]
	if other > 0 && other*2 >= sum.Entries {
		return fmt.Errorf("%w: %d entries were read but none is a statement, and most messages are not recognised: the log was probably written with a non-English lc_messages; set lc_messages = 'C' on the server and capture again", ErrUnrecognized, sum.Entries)
	}
	return fmt.Errorf("%w: %d log entries were read but none is a statement: capture with log_statement = 'all' (or log_min_duration_statement = 0), and log_connections = on, log_disconnections = on", ErrUnrecognized, sum.Entries)
}
