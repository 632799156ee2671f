package replay

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// unwatched is the context a session's statements are given to pgconn
// with: context.Background, which pgconn does not watch. The statement
// is cancelled by the connection's unitWatch instead.
var unwatched = context.Background()

// unitWatch cancels what a session's connection is running when the
// context its unit was sent under ends, as pgconn's context watcher does
// for one call, with the same cancel handler: a cancel request, the
// connection kept. pgconn watches the context of each call anew (a
// context.AfterFunc, a channel and their allocations, for every
// statement); a session sends unit after unit under one context, so this
// registers once per context and arms and disarms with a lock.
type unitWatch struct {
	h *cancelHandler

	mu      sync.Mutex
	ctx     context.Context
	stop    func() bool
	running bool // a unit is being sent or read
	fired   bool // the running unit's cancel was sent
}

func newUnitWatch(c *pgconn.PgConn) *unitWatch {
	return &unitWatch{h: &cancelHandler{conn: c, deadlineDelay: 5 * time.Second}}
}

// begin arms the watch for a unit sent under ctx. It returns ctx's error,
// and arms nothing, when ctx has already ended: nothing may be sent.
func (w *unitWatch) begin(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx != w.ctx {
		if w.stop != nil {
			w.stop()
		}
		w.ctx, w.stop = ctx, nil
		if ctx.Done() != nil {
			w.stop = context.AfterFunc(ctx, func() { w.cancel(ctx) })
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.running = true
	return nil
}

// cancel sends the cancel of the running unit, once, when ctx is still
// the watched one: a context given up for another cancels nothing.
func (w *unitWatch) cancel(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx == w.ctx && w.running && !w.fired {
		w.fired = true
		w.h.HandleCancel(ctx)
	}
}

// cancelled reports whether the running unit's cancel was sent: what is
// left of the unit must not be.
func (w *unitWatch) cancelled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// end disarms the watch after the unit. When the cancel was sent it waits
// for the cancel request to finish and lifts the connection's deadline,
// as pgconn does when it stops watching, so that the cancel can not reach
// the next unit; it returns the context's error then.
func (w *unitWatch) end() error {
	w.mu.Lock()
	w.running = false
	fired, ctx := w.fired, w.ctx
	w.fired = false
	w.mu.Unlock()
	if !fired {
		return nil
	}
	w.h.HandleUnwatchAfterCancel()
	return ctx.Err()
}

// close stops watching: the connection is closed.
func (w *unitWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.ctx = nil
}
