package replay

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// errSelfConnect is a connection that reached its own address: on
// loopback, while nothing listens on the target's port, a connect whose
// ephemeral port happens to be that port meets itself (a TCP
// simultaneous open), succeeds, and holds the port the restarting
// target needs.
var errSelfConnect = errors.New("the connection reached itself (nothing listens on the target's port)")

// noSelfConnect wraps dial so that such a connection is closed at once and
// counted as the failure it is. A connection it returns makes its reads
// and writes directly (direct).
func noSelfConnect(dial pgconn.DialFunc) pgconn.DialFunc {
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if network != "unix" && c.LocalAddr().String() == c.RemoteAddr().String() {
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Addr: c.RemoteAddr(), Err: errSelfConnect}
		}
		return direct(c), nil
	}
}

// markUnnamed marks the named statements of a unit that were sent as
// unnamed ones (PGExecutor.Unnamed).
func markUnnamed(unit []*parse.Event, outs []Outcome) {
	for i, ev := range unit {
		if ev.Kind == parse.Statement && ev.Protocol == parse.Named && !outs[i].Skipped {
			outs[i].Unnamed = true
		}
	}
}
