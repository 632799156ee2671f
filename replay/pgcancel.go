package replay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// cancelHandler cancels a statement whose context ended with a cancel
// request, as a client's cancel did in production, and leaves the session
// alive. Unlike pgconn's CancelRequestContextWatcherHandler it lets the
// cancel request finish (the server closes its connection, as libpq
// waits for) even when the statement has already returned: a client that
// hangs up on its cancel request first makes PgBouncer before 1.20 exit
// ("bad client state: 0"), taking every session of the replay with it.
type cancelHandler struct {
	conn *pgconn.PgConn
	// deadlineDelay bounds how long the statement and the cancel request
	// may take after the context ended; then the connection is closed.
	deadlineDelay time.Duration
	done          chan struct{}
}

func (h *cancelHandler) HandleCancel(context.Context) {
	h.done = make(chan struct{})
	deadline := time.Now().Add(h.deadlineDelay)
	h.conn.Conn().SetDeadline(deadline)
	go func() {
		defer close(h.done)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		h.conn.CancelRequest(ctx)
		// The server has the request, but it may not have reached the
		// backend yet: a statement sent at once could be the one
		// cancelled (pgconn waits as long).
		time.Sleep(100 * time.Millisecond)
	}()
}

func (h *cancelHandler) HandleUnwatchAfterCancel() {
	<-h.done
	h.conn.Conn().SetDeadline(time.Time{})
}
