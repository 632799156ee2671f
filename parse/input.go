package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/pgrehearse/pgrehearse/parse/csvlog"
	"github.com/pgrehearse/pgrehearse/parse/jsonlog"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
	"github.com/pgrehearse/pgrehearse/parse/stderrlog"
)

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
	spread stampSpread
	fsum   *FileSummary
	closer func()
	// hint says what the file looks like when --format or
	// --log-line-prefix chose otherwise, for the messages when little
	// of it can be read.
	hint string
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

// maxProblems is how many malformed entries the summary lists.
const maxProblems = 20

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
		if err == nil && e.Time != 0 {
			in.spread.place(e)
			in.cur = e
			return nil
		}
		var m *logentry.MalformedError
		var p Problem
		switch {
		case err == nil:
			p = Problem{File: in.path, Line: e.Line, Reason: "entry without a timestamp"}
			in.fsum.Unreadable++
			record(sum, opt, p, "malformed")
		case errors.As(err, &m) && m.Cut:
			p = Problem{File: in.path, Line: m.Line, Reason: m.Reason}
			in.fsum.CutLastLine = true
			record(sum, opt, p, "cut_off")
		case errors.As(err, &m):
			p = Problem{File: in.path, Line: m.Line, Reason: m.Reason}
			in.fsum.Unreadable++
			record(sum, opt, p, "malformed")
		default:
			in.done = true
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s: %w (everything before this point was kept; if the file is still being written or was cut off, that is expected)", in.path, err)
		}
		if opt.Strict {
			in.done = true
			return fmt.Errorf("parse %s:%d: %s: %w", p.File, p.Line, p.Reason, ErrMalformed)
		}
	}
}

// record counts a skipped entry under reason, lists it among the first
// problems and hands it to the caller's callback: every malformed entry,
// found by a reader or by the assembler, goes this one way.
func record(sum *Summary, opt *Options, p Problem, reason string) {
	sum.Skipped[reason]++
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
		in.closer = nil
	}
	if in.f != nil {
		in.f.Close()
		in.f = nil
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
	body, err := in.openRaw(path, opt)
	if err != nil {
		return nil, err
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
	if err := in.reader(dr, sample, opt); err != nil {
		return nil, err
	}
	return in, nil
}

// openRaw opens the file (or standard input) and undoes its compression.
func (in *input) openRaw(path string, opt *Options) (io.Reader, error) {
	var raw io.Reader
	if path == "-" {
		raw = opt.Stdin
		if raw == nil {
			raw = os.Stdin
		}
		in.path = "stdin"
	} else {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: open log: %w", ErrUnrecognized, err)
		}
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		in.f = f
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				return nil, fmt.Errorf("%w: %s is a directory: name the log files in it (for example %s/*.log)", ErrUnrecognized, path, strings.TrimRight(path, "/"))
			}
			in.size = st.Size()
		}
		raw = f
	}
	in.count = &countingReader{r: raw}
	br := bufio.NewReaderSize(in.count, 1<<20)
	head, _ := br.Peek(8)
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read %s: gzip: %w", in.path, err)
		}
		in.comp = "gzip"
		return zr, nil
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(512<<20))
		if err != nil {
			return nil, fmt.Errorf("read %s: zstd: %w", in.path, err)
		}
		in.comp = "zstd"
		in.closer = zr.Close
		return zr, nil
	case len(head) >= 3 && string(head[:3]) == "BZh":
		return nil, fmt.Errorf("%w: %s is bzip2-compressed: run bzip2 -dc %s | pgrehearse parse -", ErrUnrecognized, in.path, path)
	case len(head) >= 6 && bytes.Equal(head[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, fmt.Errorf("%w: %s is xz-compressed: run xz -dc %s | pgrehearse parse -", ErrUnrecognized, in.path, path)
	case IsWorkload(head):
		return nil, fmt.Errorf("%w: %s is already a pgrehearse workload file: pass it to replay, or look inside with pgrehearse inspect", ErrUnrecognized, in.path)
	}
	return br, nil
}

// reader settles the format (detected from sample unless the options
// name it) and sets up the entry reader on dr.
func (in *input) reader(dr io.Reader, sample []byte, opt *Options) error {
	format := opt.Format
	if (format == "" || format == FormatAuto) && opt.Prefix != "" && !jsonlog.Looks(sample) && !csvlog.Looks(sample) {
		// A log_line_prefix only means something for stderr logs: the
		// user has told us what the lines look like.
		format = FormatStderr
	}
	if format == "" || format == FormatAuto {
		f, err := detectFormat(sample)
		if err != nil {
			return fmt.Errorf("%s: %w", in.path, err)
		}
		format = f
	} else {
		in.hint = formatHint(sample, format, opt.Prefix)
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
					return fmt.Errorf("%s: %w", in.path, errNonEnglish(lang))
				}
				return fmt.Errorf("%w: %s: %v%s", ErrUnrecognized, in.path, err, hintSuffix(in.hint))
			}
			prefix = p
		} else if in.hint == "" {
			in.hint = prefixHint(sample, prefix)
		}
		cp, err := stderrlog.CompilePrefix(prefix)
		if err != nil {
			return fmt.Errorf("%w: --log-line-prefix %q: %v", ErrUnrecognized, prefix, err)
		}
		if !strings.Contains(prefix, "%m") && !strings.Contains(prefix, "%t") && !strings.Contains(prefix, "%n") {
			return fmt.Errorf("%w: log_line_prefix %q has no timestamp (%%m, %%t or %%n): replay needs statement times; set log_line_prefix = '%%m [%%p] %%q%%u@%%d ' (or similar) on the server", ErrUnrecognized, prefix)
		}
		if !strings.Contains(prefix, "%c") && !strings.Contains(prefix, "%p") {
			return fmt.Errorf("%w: log_line_prefix %q has neither %%c nor %%p, so sessions can not be told apart; add %%c to log_line_prefix", ErrUnrecognized, prefix)
		}
		in.prefix = prefix
		in.r = stderrlog.NewReader(dr, cp, tp)
	default:
		return fmt.Errorf("%w: unknown log format %q: use auto, stderr, csvlog or jsonlog", ErrUnrecognized, format)
	}
	return nil
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
	// A log copied through Windows ends its lines in "\r\n"; the stderr
	// reader takes the "\r" off, and so does detection.
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}
