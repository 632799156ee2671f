package calibrate

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

type countingExec struct{ opens, closes atomic.Int32 }

type countingConn struct {
	id uint64
	ex *countingExec
}

func (c *countingConn) Run(context.Context, []*parse.Event, []replay.Outcome) {}
func (c *countingConn) Close(context.Context) error                           { c.ex.closes.Add(1); return nil }
func (c *countingConn) Alive() bool                                           { return true }

func (x *countingExec) Open(_ context.Context, s *parse.Session) (replay.Conn, error) {
	x.opens.Add(1)
	return &countingConn{id: s.ID, ex: x}, nil
}
func (x *countingExec) Close(context.Context) {}

// TestWarm: the sessions open at a stretch's start are connected before
// it, each handed its own connection once; others connect when opened,
// and connections no session took are closed with the step.
func TestWarm(t *testing.T) {
	ctx := context.Background()
	x := &countingExec{}
	w := newWarm(ctx, x, []*parse.Session{{ID: 1}, {ID: 2}, {ID: 3}})
	if x.opens.Load() != 3 {
		t.Fatalf("%d connections made beforehand, want 3", x.opens.Load())
	}
	c, _ := w.Open(ctx, &parse.Session{ID: 2})
	if c.(*countingConn).id != 2 || x.opens.Load() != 3 {
		t.Fatalf("session 2 got connection %d, %d opens", c.(*countingConn).id, x.opens.Load())
	}
	if c, _ := w.Open(ctx, &parse.Session{ID: 2}); c.(*countingConn).id != 2 || x.opens.Load() != 4 {
		t.Fatalf("session 2 reconnecting: %d opens, want a new one", x.opens.Load())
	}
	w.Open(ctx, &parse.Session{ID: 9})
	if x.opens.Load() != 5 {
		t.Fatalf("a session not open at the start: %d opens", x.opens.Load())
	}
	w.Close(ctx)
	if x.closes.Load() != 2 {
		t.Fatalf("%d unused connections closed, want 2 (sessions 1 and 3)", x.closes.Load())
	}
}
