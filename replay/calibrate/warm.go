package calibrate

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// warm connects the sessions open at a stretch's start before the step's
// clock starts, and hands each its connection when the replay opens it.
// A replay of the whole workload connects every session at its original
// time; a stretch cut from the middle would connect them all at its first
// instant, and the statements of a busy workload, which follow each other
// without a pause, would never make up that delay: the step would measure
// a connection storm, not the replayer.
type warm struct {
	Executor
	mu    sync.Mutex
	ready map[uint64]replay.Conn
}

// connects is how many sessions connect at once.
const connects = 8

func newWarm(ctx context.Context, ex Executor, sessions []*parse.Session) *warm {
	w := &warm{Executor: ex, ready: map[uint64]replay.Conn{}}
	var g errgroup.Group
	g.SetLimit(connects)
	for _, s := range sessions {
		g.Go(func() error {
			// A session that cannot connect now tries again, and counts
			// its failure, when the replay opens it.
			if c, err := ex.Open(ctx, s); err == nil {
				w.mu.Lock()
				w.ready[s.ID] = c
				w.mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	return w
}

// Open hands out the session's connection made beforehand, if any.
func (w *warm) Open(ctx context.Context, s *parse.Session) (replay.Conn, error) {
	w.mu.Lock()
	c, ok := w.ready[s.ID]
	delete(w.ready, s.ID)
	w.mu.Unlock()
	if ok && c.Alive() {
		return c, nil
	}
	return w.Executor.Open(ctx, s)
}

// Waits passes the lock watcher's questions to the executor.
func (w *warm) Waits(ctx context.Context, pids []uint32) ([]replay.Wait, error) {
	if in, ok := w.Executor.(replay.Inspector); ok {
		return in.Waits(ctx, pids)
	}
	return nil, nil
}

// Close closes the connections no session took, then the executor.
func (w *warm) Close(ctx context.Context) {
	w.mu.Lock()
	for id, c := range w.ready {
		c.Close(ctx)
		delete(w.ready, id)
	}
	w.mu.Unlock()
	w.Executor.Close(ctx)
}
