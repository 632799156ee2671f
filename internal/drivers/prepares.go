package drivers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse/csvlog"
	"github.com/pgrehearse/pgrehearse/parse/jsonlog"
	"github.com/pgrehearse/pgrehearse/parse/logentry"
	"github.com/pgrehearse/pgrehearse/parse/stderrlog"
)

// countPrepares counts, per session (%c) and statement name, the
// "duration: ... ms  parse NAME: ..." entries of log files written by
// this package (plain files named by their format: .csv, .json, .log).
// known is false when no file had any Parse entry (log_statement only).
func countPrepares(paths []string) (counts map[string]map[string]int, known bool, err error) {
	counts = map[string]map[string]int{}
	for _, p := range paths {
		k, err := countFile(p, counts)
		if err != nil {
			return nil, false, err
		}
		known = known || k
	}
	return counts, known, nil
}

var (
	msgDuration = []byte("duration: ")
	msgParse    = []byte(" ms  parse ")
)

func countFile(path string, counts map[string]map[string]int) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := entryReader(path, f)
	if err != nil {
		return false, err
	}
	known := false
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return known, nil
		}
		var bad *logentry.MalformedError
		if errors.As(err, &bad) {
			continue // the parser counts and reports those
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", path, err)
		}
		if e.Severity != logentry.SeverityLog || !bytes.HasPrefix(e.Message, msgDuration) {
			continue
		}
		i := bytes.Index(e.Message, msgParse)
		if i < 0 {
			continue
		}
		known = true
		rest := e.Message[i+len(msgParse):]
		j := bytes.Index(rest, []byte(": "))
		if j < 0 {
			continue
		}
		name := string(rest[:j])
		if name == "<unnamed>" {
			continue
		}
		s := counts[string(e.SessionID)]
		if s == nil {
			s = map[string]int{}
			counts[string(e.SessionID)] = s
		}
		s[name]++
	}
}

// entryReader returns the project's reader for the file's format; a
// stderr log's prefix is detected as the parser does.
func entryReader(path string, f io.Reader) (logentry.Reader, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	tp := &logentry.TimeParser{}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return csvlog.NewReader(br, tp), nil
	case ".json":
		return jsonlog.NewReader(br, tp), nil
	}
	sample, _ := br.Peek(256 << 10)
	lines := bytes.Split(sample, []byte("\n"))
	if len(lines) > 1 {
		lines = lines[:len(lines)-1] // maybe cut off
	}
	prefix, err := stderrlog.DetectPrefix(lines)
	if err != nil {
		return nil, fmt.Errorf("%s: log_line_prefix: %w", path, err)
	}
	p, err := stderrlog.CompilePrefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("%s: log_line_prefix %q: %w", path, prefix, err)
	}
	return stderrlog.NewReader(br, p, tp), nil
}
