package parse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// writeSample encodes a small workload by hand through the writer.
func writeSample(t testing.TB, compress bool, slots int) ([]byte, []*Event) {
	var buf bytes.Buffer
	h := &Header{Format: "pgrehearse-workload", Version: FormatVersion, Start: 1_000_000, TextSlots: slots, TextBytes: 1 << 20}
	w, err := newWriter(&buf, h, compress)
	if err != nil {
		t.Fatal(err)
	}
	s1 := &Session{ID: 1, Key: "6b02dd5d.41da", PID: 16858, User: "app_user", Database: "app", Application: "psql", Client: "127.0.0.1", Connected: true}
	s2 := &Session{ID: 2, Key: "x", PID: 2, User: "bench_user", Database: "bench"}
	want := []*Event{
		{Kind: SessionStart, Time: 1_000_000, Session: s1, Duration: -1},
		{Kind: SessionStart, Time: 1_000_500, Session: s2, Duration: -1},
	}
	w.session(1_000_000, s1)
	w.session(1_000_500, s2)
	for i := 0; i < 10; i++ {
		ev := &Event{Kind: Statement, Time: int64(1_001_000 + i*10), Session: s1, Index: i, Protocol: Protocol(i % 3),
			Text: fmt.Sprintf("SELECT %d", i%4), Duration: -1, Source: 0, Line: int64(100 + i)}
		if ev.Protocol == Named {
			ev.Name = "S_1"
		}
		if ev.Protocol != Simple {
			ev.Params = []Param{{Value: "it's"}, {Null: true}, {Value: ""}}
		}
		if i == 3 {
			ev.Duration = 1234
		}
		if i == 4 {
			ev.Err = &StmtError{Severity: "ERROR", SQLState: "22012", Message: "division by zero"}
		}
		if i == 5 {
			ev.Skip = SkipCopyFromStdin
		}
		ev.Fingerprint = fingerprint.ID(0x1234_5678_9abc_def0 + uint64(i))
		if i >= 6 {
			ev.VXID, ev.XID, ev.Pipelined, ev.Continued = VXID{Backend: 7, Local: 178}, uint64(10135*(i-6)), i > 6, i < 9
		}
		if i == 7 {
			ev.Sync = &Sync{AfterCommit: []Ref{{Session: 2, Index: 40, From: 37, GapUS: 1500}},
				AfterLocks: []Ref{{Session: 3, Index: 9, From: 9, Sent: true}, {Session: 2, Index: 41, From: 37, GapUS: 3}}}
		}
		if i == 8 {
			ev.Sync = &Sync{AfterObjects: []Ref{{Session: 2, Index: 1 << 20, From: 0, GapUS: 1 << 40}}}
		}
		w.statement(1, ev.Time, ev)
		want = append(want, ev)
	}
	// A statement that runs earlier than the one before: out of order.
	ev := &Event{Kind: Statement, Time: 999_000, Session: s2, Index: 0, Protocol: Simple, Text: "SELECT 0", Duration: 5, Fingerprint: 1}
	w.statement(2, ev.Time, ev)
	want = append(want, ev)
	w.update(1, 2, 777, nil)
	want = append(want, &Event{Kind: Update, Time: 999_000, Session: s1, Index: 2, Duration: 777})
	e := &StmtError{Severity: "ERROR", SQLState: "42601", Inferred: true, Message: "syntax error"}
	errs := []*Event{
		{Kind: Error, Time: 1_002_000, Session: s1, Err: e, Text: "SELEC 1", Duration: -1, Line: 77, Fingerprint: 2, Step: StepParse},
		{Kind: Error, Time: 1_002_001, Session: s1, Index: 1, Err: e, Text: "SELECT $1::int", Duration: -1, Line: 78, Fingerprint: 3,
			Step: StepBind, Params: []Param{{Value: "x"}}, VXID: VXID{Backend: 7, Local: 179}, Pipelined: true, Continued: true},
		{Kind: Error, Time: 1_002_002, Err: e, Duration: -1, Line: 79},
	}
	for _, ev := range errs {
		var sid uint64
		if ev.Session != nil {
			sid = ev.Session.ID
		}
		w.errorEvent(sid, ev.Time, ev)
		want = append(want, ev)
	}
	w.sessionEnd(1, 1_003_000)
	want = append(want, &Event{Kind: SessionEnd, Time: 1_003_000, Session: s1, Duration: -1})
	if err := w.close(&Summary{Sessions: 2, Statements: 11}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

func readAll(t testing.TB, b []byte) ([]*Event, *Reader, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var got []*Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got, r, nil
		}
		if err != nil {
			return got, r, err
		}
		got = append(got, ev)
	}
}

func TestWorkloadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compress bool
		slots    int
	}{
		{"plain", false, 1000},
		{"zstd", true, 1000},
		// Two slots force the writer to clear its text table again and
		// again; the reader must follow.
		{"tiny text table", false, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, want := writeSample(t, tc.compress, tc.slots)
			got, r, err := readAll(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d events, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if tr := r.Trailer(); tr == nil || tr.Sessions != 2 || tr.Statements != 11 {
				t.Errorf("trailer = %+v", tr)
			}
		})
	}
}

func TestWorkloadTruncated(t *testing.T) {
	for _, compress := range []bool{false, true} {
		b, _ := writeSample(t, compress, 1000)
		// Every cut must be reported as truncation (or corruption), never
		// as a clean end, and never panic.
		for cut := 0; cut < len(b); cut += 1 + len(b)/200 {
			got, _, err := readAll(t, b[:cut])
			if err == nil {
				t.Fatalf("compress=%v cut at %d of %d: read %d events and no error", compress, cut, len(b), len(got))
			}
		}
	}
	b, _ := writeSample(t, false, 1000)
	_, _, err := readAll(t, b[:len(b)-3])
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut inside the trailer: %v, want ErrTruncated", err)
	}
}

func TestWorkloadSessionFilter(t *testing.T) {
	b, _ := writeSample(t, true, 1000)
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.SetSessionFilter(func(s *Session) bool { return s.ID == 2 })
	var kinds []string
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Session != nil && ev.Session.ID != 2 {
			t.Fatalf("event of session %d passed the filter", ev.Session.ID)
		}
		kinds = append(kinds, fmt.Sprint(ev.Kind))
	}
	// session 2 start, its statement, and the session-less error
	if len(kinds) != 3 {
		t.Fatalf("got %d events (%v), want 3", len(kinds), kinds)
	}
}

func TestWorkloadRejectsOther(t *testing.T) {
	for _, in := range []string{"", "hello world", "PGRWKLD\x09\x00", "PGRWKLD\x01\x07xxxx"} {
		if _, err := NewReader(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzWorkloadReader(f *testing.F) {
	b, _ := writeSample(f, false, 8)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 100_000; i++ {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// Damage is said as damage, never as something else.
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is neither ErrTruncated nor ErrCorrupt", err)
				}
				return
			}
		}
	})
}

// TestFrameLengthDamage: a frame whose length runs past ten bytes is
// damage; one cut short by the end of the file is a truncation.
func TestFrameLengthDamage(t *testing.T) {
	b, _ := writeSample(t, false, 8)
	// The header frame follows the 9-byte preamble: kind, length, payload.
	n, k := binary.Uvarint(b[10:])
	if b[9] != 'H' || k <= 0 {
		t.Fatalf("sample does not start with a header frame: %q", b[:12])
	}
	head := b[:10+k+int(n)]
	for _, c := range []struct {
		name string
		tail []byte
		want error
	}{
		{"overflowing length", append([]byte{'T'}, bytes.Repeat([]byte{0xff}, 10)...), ErrCorrupt},
		{"length cut short", []byte{'T', 0x80, 0x80}, ErrTruncated},
		{"no length", []byte{'T'}, ErrTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(append(append([]byte{}, head...), c.tail...)))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Next(); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}
