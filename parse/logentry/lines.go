package logentry

import (
	"bytes"
	"io"
)

// LineReader splits its input into lines of any length (a statement line
// of several hundred kilobytes is normal in a Postgres log, far past
// bufio.Scanner's default token limit).
//
// A line returned by Next stays valid until the second call to Next after
// it, so a reader can look one line ahead without copying the current one.
// Two buffers make that cheap: a refill moves the unread bytes into the
// other buffer and leaves the one the caller's lines point into untouched.
type LineReader struct {
	r       io.Reader
	buf     []byte
	spare   []byte
	pos     int // start of unread data
	end     int // end of buffered data
	err     error
	line    int64
	swapped bool // a refill during this Next already switched buffers
	cut     bool // the line Next returned last had no "\n" after it
}

// NewLineReader returns a LineReader over r with buffers of size bytes (at
// least 4 KiB). The buffers grow to fit the longest line.
func NewLineReader(r io.Reader, size int) *LineReader {
	if size < 4096 {
		size = 4096
	}
	return &LineReader{r: r, buf: make([]byte, size), spare: make([]byte, size)}
}

// Line returns the 1-based number of the line Next returned last.
func (l *LineReader) Line() int64 { return l.line }

// Cut reports whether the line Next returned last ended without its "\n",
// at the end of the input or before a read error. PostgreSQL ends every
// line, so such a line is most likely a fragment of a log cut off while
// it was being written or copied.
func (l *LineReader) Cut() bool { return l.cut }

// Next returns the next line without its terminating "\n" (a "\r" before it
// is kept: PostgreSQL never writes one, so it is data if it is there). At
// the end of the input it returns io.EOF; a last line without "\n" is
// returned first. Read errors other than io.EOF are returned after the
// lines read before them.
func (l *LineReader) Next() ([]byte, error) {
	l.swapped = false
	for {
		if i := bytes.IndexByte(l.buf[l.pos:l.end], '\n'); i >= 0 {
			start := l.pos
			l.pos += i + 1
			l.line++
			l.cut = false
			return l.buf[start : start+i : start+i], nil
		}
		if l.err != nil {
			if l.pos < l.end {
				start := l.pos
				l.pos = l.end
				l.line++
				l.cut = true
				return l.buf[start:l.end:l.end], nil
			}
			return nil, l.err
		}
		l.fill()
	}
}

func (l *LineReader) fill() {
	n := l.end - l.pos
	switch {
	case !l.swapped:
		// The caller may still hold the previous line in buf: move the
		// unread tail to the spare buffer and leave buf alone.
		if len(l.spare) < 2*n {
			l.spare = make([]byte, max(2*n, len(l.buf)))
		}
		copy(l.spare, l.buf[l.pos:l.end])
		l.buf, l.spare = l.spare, l.buf
		l.swapped = true
	case n == len(l.buf):
		nb := make([]byte, 2*len(l.buf))
		copy(nb, l.buf[l.pos:l.end])
		l.buf = nb
	default:
		copy(l.buf, l.buf[l.pos:l.end])
	}
	l.pos, l.end = 0, n
	m, err := l.r.Read(l.buf[l.end:])
	l.end += m
	if err != nil {
		l.err = err
	}
}
