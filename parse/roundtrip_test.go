package parse

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// randomWorkload writes a random but well-formed stream of events through
// the writer: sessions open, run statements and error events, get late
// news and end, in any interleaving. It returns the file and the events a
// reader must give back.
func randomWorkload(t testing.TB, rng *rand.Rand, compress bool, slots int) ([]byte, []*Event) {
	var buf bytes.Buffer
	h := &Header{Format: "pgrehearse-workload", Version: FormatVersion, Start: 1_000_000, TextSlots: slots, TextBytes: 1 << 16}
	w, err := newWriter(&buf, h, compress)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"", "SELECT 1", "SELECT $1, $2", "INSERT INTO t VALUES ($1)", "it's \x00 binary\n", "UPDATE t SET v = 'x' WHERE id = 7"}
	str := func() string { return texts[rng.IntN(len(texts))] }
	type open struct {
		s           *Session
		stmts, errs int
	}
	var sessions []*open
	var want []*Event
	clock := int64(1_000_000)
	nextID := uint64(1)
	for range 400 {
		clock += rng.Int64N(5000) - 1000
		if len(sessions) == 0 || rng.IntN(8) == 0 {
			s := &Session{ID: nextID, Key: str(), PID: rng.Int64N(1 << 20), User: str(), Database: str(), Application: str(), Client: str(), Connected: rng.IntN(2) == 0}
			nextID++
			w.session(clock, s)
			sessions = append(sessions, &open{s: s})
			want = append(want, &Event{Kind: SessionStart, Time: clock, Session: s, Duration: -1})
			continue
		}
		i := rng.IntN(len(sessions))
		o := sessions[i]
		switch k := rng.IntN(10); {
		case k < 6:
			ev := &Event{Kind: Statement, Time: clock, Session: o.s, Index: o.stmts, Protocol: Protocol(rng.IntN(3)), Text: str(),
				Duration: -1, Source: rng.IntN(3), Line: rng.Int64N(1 << 30), Fingerprint: fingerprint.ID(rng.Uint64() | 1),
				Pipelined: rng.IntN(3) == 0, Continued: rng.IntN(3) == 0}
			if ev.Protocol == Named {
				ev.Name = str()
			}
			if rng.IntN(2) == 0 {
				ev.Duration = rng.Int64N(1 << 40)
			}
			if rng.IntN(2) == 0 {
				for range rng.IntN(4) + 1 {
					ev.Params = append(ev.Params, Param{Value: str()})
				}
				ev.Params[0] = Param{Null: true}
			}
			if rng.IntN(4) == 0 {
				ev.Err = &StmtError{Severity: "ERROR", SQLState: "22012", Message: str(), Inferred: rng.IntN(2) == 0}
			}
			if rng.IntN(6) == 0 {
				ev.Skip = SkipReason(rng.IntN(2) + 1)
			}
			if rng.IntN(2) == 0 {
				ev.VXID = VXID{Backend: rng.Uint32N(100), Local: rng.Uint32() | 1}
				ev.XID = rng.Uint64N(1 << 32)
			}
			w.statement(o.s.ID, clock, ev)
			o.stmts++
			want = append(want, ev)
		case k < 7 && o.stmts > 0:
			u := &Event{Kind: Update, Time: w.clock, Session: o.s, Index: rng.IntN(o.stmts), Duration: rng.Int64N(1 << 30)}
			if rng.IntN(2) == 0 {
				u.Err = &StmtError{Severity: "ERROR", SQLState: "57014", Message: str()}
			}
			w.update(o.s.ID, u.Index, u.Duration, u.Err)
			want = append(want, u)
		case k < 9:
			ev := &Event{Kind: Error, Time: clock, Session: o.s, Index: o.errs, Err: &StmtError{Severity: "ERROR", SQLState: "42601", Message: str()},
				Text: str(), Duration: -1, Line: rng.Int64N(1 << 20), Step: Step(rng.IntN(4)), Pipelined: rng.IntN(2) == 0}
			if ev.Text != "" {
				ev.Fingerprint = fingerprint.ID(rng.Uint64() | 1)
			}
			if rng.IntN(2) == 0 {
				ev.Params = []Param{{Value: str()}, {Null: true}}
			}
			w.errorEvent(o.s.ID, clock, ev)
			o.errs++
			want = append(want, ev)
		default:
			w.sessionEnd(o.s.ID, clock)
			want = append(want, &Event{Kind: SessionEnd, Time: clock, Session: o.s, Duration: -1})
			sessions = append(sessions[:i], sessions[i+1:]...)
		}
	}
	if err := w.close(&Summary{Statements: int64(len(want))}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

// TestWorkloadRandomRoundTrip: whatever the writer writes, the reader
// reads back as it went in, with and without compression, with a text
// table small enough to be cleared again and again.
func TestWorkloadRandomRoundTrip(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 99))
		compress := seed%2 == 0
		slots := []int{8, 16, 1 << 12}[seed%3]
		data, want := randomWorkload(t, rng, compress, slots)
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ev, err := range r.Events() {
			if err != nil {
				t.Fatalf("seed %d: event %d: %v", seed, i, err)
			}
			if i >= len(want) || !reflect.DeepEqual(ev, want[i]) {
				t.Fatalf("seed %d: event %d:\n got %+v\nwant %+v", seed, i, ev, want[min(i, len(want)-1)])
			}
			i++
		}
		r.Close()
		if i != len(want) || r.Trailer() == nil {
			t.Fatalf("seed %d: read %d of %d events, trailer %v", seed, i, len(want), r.Trailer())
		}
	}
}
