package replay

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// randomEvent makes an event with every field a spill file keeps.
func randomEvent(rng *rand.Rand, s *parse.Session) *parse.Event {
	str := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	ev := &parse.Event{Kind: parse.EventKind(rng.IntN(5) + 1), Time: rng.Int64(), Session: s, Index: rng.IntN(1 << 20),
		Protocol: parse.Protocol(rng.IntN(3)), Name: str(), Text: str(), Duration: rng.Int64N(1<<40) - 1,
		Skip: parse.SkipReason(rng.IntN(3)), Fingerprint: fingerprint.ID(rng.Uint64()),
		VXID: parse.VXID{Backend: rng.Uint32(), Local: rng.Uint32()}, XID: rng.Uint64(),
		Pipelined: rng.IntN(2) == 0, Continued: rng.IntN(2) == 0, Step: parse.Step(rng.IntN(4)), Source: rng.IntN(5), Line: rng.Int64()}
	if rng.IntN(2) == 0 {
		for range rng.IntN(5) {
			ev.Params = append(ev.Params, parse.Param{Value: str(), Null: rng.IntN(3) == 0})
		}
		for i := range ev.Params {
			if ev.Params[i].Null {
				ev.Params[i].Value = ""
			}
		}
	}
	if rng.IntN(2) == 0 {
		refs := func() []parse.Ref {
			var rs []parse.Ref
			for range rng.IntN(4) {
				rs = append(rs, parse.Ref{Session: rng.Uint64(), Index: rng.IntN(1 << 30), From: rng.IntN(1 << 30), GapUS: rng.Int64N(1 << 40), Sent: rng.IntN(2) == 0})
			}
			return rs
		}
		ev.Sync = &parse.Sync{AfterCommit: refs(), AfterObjects: refs(), AfterLocks: refs()}
	}
	if rng.IntN(2) == 0 {
		ev.Err = &parse.StmtError{Severity: "ERROR", SQLState: str(), Message: str(), Inferred: rng.IntN(2) == 0}
	}
	return ev
}

// TestSpillKeepsEveryField: the random events of the round trip set every
// field of parse.Event, so a field added later and left out of the spill
// encoding fails TestSpillRoundTrip instead of going missing.
func TestSpillKeepsEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	typ := reflect.TypeOf(parse.Event{})
	set := make([]bool, typ.NumField())
	for range 200 {
		v := reflect.ValueOf(*randomEvent(rng, &parse.Session{ID: 1}))
		for i := range set {
			set[i] = set[i] || !v.Field(i).IsZero()
		}
	}
	for i, ok := range set {
		if !ok {
			t.Errorf("randomEvent never sets parse.Event.%s: add it to the spill encoding and to randomEvent", typ.Field(i).Name)
		}
	}
}

// TestSpillRoundTrip: a stalled session's backlog reads back from its
// spill file as it went in, in order.
func TestSpillRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := &parse.Session{ID: 7}
	f, err := newSpill(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	var want []*parse.Event
	for range 2000 {
		ev := randomEvent(rng, s)
		if err := f.write(ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
		// Reads interleave with writes, as a session catches up while
		// the reader goes on.
		if rng.IntN(3) == 0 {
			got, err := f.read(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want[0]) {
				t.Fatalf("read %+v, wrote %+v", got, want[0])
			}
			want = want[1:]
		}
	}
	for len(want) > 0 {
		got, err := f.read(s)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want[0]) {
			t.Fatalf("read %+v, wrote %+v", got, want[0])
		}
		want = want[1:]
	}
	if f.pending != 0 {
		t.Errorf("%d events pending after reading all", f.pending)
	}
	if _, err := decodeEvent([]byte{1, 2}); err == nil {
		t.Error("a damaged record decoded")
	}
}
