package logentry

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 300_000)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"one without newline", "a", []string{"a"}},
		{"lines", "a\nbb\n\nccc\n", []string{"a", "bb", "", "ccc"}},
		{"long line", "a\n" + long + "\nb", []string{"a", long, "b"}},
		{"crlf kept", "a\r\nb\n", []string{"a\r", "b"}},
	}
	for _, tc := range tests {
		for _, src := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"onebyte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			{"halfreader", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
		} {
			lr := NewLineReader(src.r(tc.in), 4096)
			var got []string
			var prev []byte
			var prevWant string
			for {
				line, err := lr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s/%s: %v", tc.name, src.name, err)
				}
				// The line before must still be intact: readers look one
				// line ahead.
				if prev != nil && string(prev) != prevWant {
					t.Fatalf("%s/%s: previous line changed after the next Next", tc.name, src.name)
				}
				got = append(got, string(line))
				prev, prevWant = line, string(line)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("%s/%s: got %d lines, want %d", tc.name, src.name, len(got), len(tc.want))
			}
			if lr.Line() != int64(len(tc.want)) {
				t.Errorf("%s/%s: Line() = %d, want %d", tc.name, src.name, lr.Line(), len(tc.want))
			}
		}
	}
}

func TestLineReaderError(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 4096)
	var got []string
	for {
		line, err := lr.Next()
		if err != nil {
			if !errors.Is(err, boom) {
				t.Fatalf("error = %v, want boom", err)
			}
			break
		}
		got = append(got, string(line))
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("lines before the error = %q", got)
	}
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\n\nc"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		lr := NewLineReader(iotest.HalfReader(bytes.NewReader(data)), int(chunk))
		var got [][]byte
		for {
			line, err := lr.Next()
			if err != nil {
				break
			}
			got = append(got, append([]byte(nil), line...))
		}
		want := bytes.Split(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] == '\n' {
			want = want[:len(want)-1]
		}
		if len(data) == 0 {
			want = nil
		}
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d differs", i)
			}
		}
	})
}

// TestLineReaderCut: Cut tells a last line without its newline (a log cut
// off) from a whole one, also before a read error.
func TestLineReaderCut(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		r    io.Reader
		cuts []bool // Cut after each line
	}{
		{"whole", strings.NewReader("a\nb\n"), []bool{false, false}},
		{"cut", strings.NewReader("a\nb"), []bool{false, true}},
		{"cut before an error", io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), []bool{false, true}},
		{"whole before an error", io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), []bool{false}},
	}
	for _, tc := range tests {
		lr := NewLineReader(tc.r, 4096)
		var cuts []bool
		for {
			if _, err := lr.Next(); err != nil {
				break
			}
			cuts = append(cuts, lr.Cut())
		}
		if len(cuts) != len(tc.cuts) || (len(cuts) > 0 && cuts[len(cuts)-1] != tc.cuts[len(tc.cuts)-1]) || (len(cuts) > 1 && cuts[0]) {
			t.Errorf("%s: Cut after each line %v, want %v", tc.name, cuts, tc.cuts)
		}
		if len(cuts) > 0 && lr.Cut() != tc.cuts[len(tc.cuts)-1] {
			t.Errorf("%s: Cut changed at the end of the input", tc.name)
		}
	}
}
