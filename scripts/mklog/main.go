// Command mklog builds a large PostgreSQL log from a small real one by
// appending time-shifted copies: copy k has every timestamp moved k×shift
// later and its backend pids and session ids renumbered, so the result
// reads as a longer capture with the same load per second, not the same
// sessions repeated. It streams and never holds the log in memory.
//
//	go run ./scripts/mklog -format stderr -copies 37 -o big.log testdata/corpus/A-stderr.log.gz
//
// It understands the corpus formats: stderr with log_line_prefix
// '%m|%u|%d|%c|', csvlog and jsonlog.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	format := flag.String("format", "stderr", "stderr, csvlog or jsonlog")
	copies := flag.Int("copies", 10, "number of copies")
	shift := flag.Duration("shift", 40*time.Second, "time between copies (longer than the log's span)")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if flag.NArg() != 1 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mklog -format F -copies N -o OUT LOG.gz")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for k := 0; k < *copies; k++ {
		if err := copyOnce(w, flag.Arg(0), *format, k, time.Duration(k)*(*shift)); err != nil {
			fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mklog:", err)
	os.Exit(1)
}

func copyOnce(w *bufio.Writer, path, format string, k int, d time.Duration) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if zr, err := gzip.NewReader(f); err == nil {
		r = zr
	} else {
		f.Seek(0, 0)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	inQuote := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			switch format {
			case "stderr":
				if line[0] != '\t' {
					line = fixStderr(line, k, d)
				}
			case "csvlog":
				if !inQuote {
					line = fixCSV(line, k, d)
				}
				if bytes.Count(line, []byte{'"'})%2 == 1 {
					inQuote = !inQuote
				}
			case "jsonlog":
				line = fixJSON(line, k, d)
			default:
				return fmt.Errorf("unknown format %q", format)
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shiftStamp moves "2026-11-22 12:17:33[.113] UTC" by d in its own zone.
func shiftStamp(s []byte, d time.Duration) []byte {
	i := bytes.LastIndexByte(s, ' ')
	if i < 0 {
		return s
	}
	zone := string(s[i+1:])
	off := map[string]int{"UTC": 0, "EST": -5 * 3600}[zone]
	layout := "2006-01-02 15:04:05"
	if bytes.IndexByte(s[:i], '.') >= 0 {
		layout += ".000"
	}
	t, err := time.ParseInLocation(layout, string(s[:i]), time.FixedZone(zone, off))
	if err != nil {
		return s
	}
	return []byte(t.Add(d).Format(layout) + " " + zone)
}

// shiftSession renumbers "starthex.pidhex".
func shiftSession(s []byte, k int, d time.Duration) []byte {
	i := bytes.IndexByte(s, '.')
	if i < 0 {
		return s
	}
	start, err1 := strconv.ParseInt(string(s[:i]), 16, 64)
	pid, err2 := strconv.ParseInt(string(s[i+1:]), 16, 64)
	if err1 != nil || err2 != nil {
		return s
	}
	return []byte(fmt.Sprintf("%x.%x", start+int64(d/time.Second), pid+int64(k)*100000))
}

func shiftPID(s []byte, k int) []byte {
	pid, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return s
	}
	return strconv.AppendInt(nil, pid+int64(k)*100000, 10)
}

func fixStderr(line []byte, k int, d time.Duration) []byte {
	f := bytes.SplitN(line, []byte("|"), 5)
	if len(f) < 5 {
		return line
	}
	f[0] = shiftStamp(f[0], d)
	f[3] = shiftSession(f[3], k, d)
	return bytes.Join(f, []byte("|"))
}

// fixCSV rewrites log_time, process_id, session_id and session_start_time,
// the first nine columns, which never contain newlines.
func fixCSV(line []byte, k int, d time.Duration) []byte {
	var fields [][]byte
	i := 0
	for n := 0; n < 9 && i <= len(line); n++ {
		j := i
		if j < len(line) && line[j] == '"' {
			j++
			for j < len(line) && !(line[j] == '"' && (j+1 >= len(line) || line[j+1] != '"')) {
				if line[j] == '"' {
					j++
				}
				j++
			}
			j++
		}
		e := bytes.IndexByte(line[j:], ',')
		if e < 0 {
			return line
		}
		fields = append(fields, line[i:j+e])
		i = j + e + 1
	}
	if len(fields) < 9 {
		return line
	}
	fields[0] = shiftStamp(fields[0], d)
	fields[3] = shiftPID(fields[3], k)
	fields[5] = shiftSession(fields[5], k, d)
	fields[8] = shiftStamp(fields[8], d)
	out := bytes.Join(fields, []byte(","))
	out = append(out, ',')
	return append(out, line[i:]...)
}

func replaceValue(line []byte, key string, fix func([]byte) []byte) []byte {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return line
	}
	s := i + len(key)
	quoted := s < len(line) && line[s] == '"'
	if quoted {
		s++
	}
	e := s
	for e < len(line) && line[e] != '"' && line[e] != ',' && line[e] != '}' {
		e++
	}
	out := append([]byte{}, line[:s]...)
	out = append(out, fix(line[s:e])...)
	return append(out, line[e:]...)
}

func fixJSON(line []byte, k int, d time.Duration) []byte {
	line = replaceValue(line, `"timestamp":`, func(b []byte) []byte { return shiftStamp(b, d) })
	line = replaceValue(line, `"pid":`, func(b []byte) []byte { return shiftPID(b, k) })
	line = replaceValue(line, `"session_id":`, func(b []byte) []byte { return shiftSession(b, k, d) })
	return replaceValue(line, `"session_start":`, func(b []byte) []byte { return shiftStamp(b, d) })
}
