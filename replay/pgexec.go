package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/pgrehearse/pgrehearse/parse"
)

// PGExecutor connects each original session to the target as its
// original user and database, and replays statements with the protocol
// they were sent with.
type PGExecutor struct {
	// Config is the target, parsed from a DSN (PG* variables, .pgpass and
	// service files apply).
	Config *pgconn.Config
	// UserMap and DatabaseMap rename users and databases on the target.
	UserMap, DatabaseMap map[string]string
	// Passwords gives a password per (mapped) user.
	Passwords map[string]string
	// ReadOnly runs every session with default_transaction_read_only.
	ReadOnly bool
}

// Open connects one session.
func (x *PGExecutor) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	cfg := x.Config.Copy()
	if s.User != "" {
		cfg.User = s.User
	}
	if u, ok := x.UserMap[cfg.User]; ok {
		cfg.User = u
	}
	if s.Database != "" {
		cfg.Database = s.Database
	}
	if d, ok := x.DatabaseMap[cfg.Database]; ok {
		cfg.Database = d
	}
	if p, ok := x.Passwords[cfg.User]; ok {
		cfg.Password = p
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = s.Application
	if x.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	// A cancelled statement must leave its session alive, as a client's
	// cancel did in production: send a cancel request, do not close.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, CancelRequestDelay: 0, DeadlineDelay: 5 * time.Second}
	}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		// pgconn's errors name host, user and database, never the password.
		return nil, fmt.Errorf("connect session %d as %s to %s: %w", s.ID, cfg.User, cfg.Database, err)
	}
	return &pgConn{c: c, prepared: map[string]string{}}, nil
}

type pgConn struct {
	c        *pgconn.PgConn
	prepared map[string]string
}

func values(ps []parse.Param) [][]byte {
	if len(ps) == 0 {
		return nil
	}
	out := make([][]byte, len(ps))
	for i, p := range ps {
		if !p.Null {
			out[i] = []byte(p.Value)
		}
	}
	return out
}

func outcome(rows int64, err error) Outcome {
	o := Outcome{Rows: rows, Err: err}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		o.SQLState = pe.Code
	}
	return o
}

func (p *pgConn) Exec(ctx context.Context, ev *parse.Event) Outcome {
	switch ev.Protocol {
	case parse.Simple:
		res, err := p.c.Exec(ctx, ev.Text).ReadAll()
		var rows int64
		for _, r := range res {
			rows += r.CommandTag.RowsAffected()
		}
		return outcome(rows, err)
	case parse.Unnamed:
		r := p.c.ExecParams(ctx, ev.Text, values(ev.Params), nil, nil, nil).Read()
		return outcome(r.CommandTag.RowsAffected(), r.Err)
	default:
		// Prepared once per session and executed many times, as the
		// application did, so generic plans appear as in production.
		if text, ok := p.prepared[ev.Name]; !ok || text != ev.Text {
			if ok {
				if err := p.c.Deallocate(ctx, ev.Name); err != nil {
					return outcome(0, err)
				}
				delete(p.prepared, ev.Name)
			}
			if _, err := p.c.Prepare(ctx, ev.Name, ev.Text, nil); err != nil {
				return outcome(0, err)
			}
			p.prepared[ev.Name] = ev.Text
		}
		r := p.c.ExecPrepared(ctx, ev.Name, values(ev.Params), nil, nil).Read()
		return outcome(r.CommandTag.RowsAffected(), r.Err)
	}
}

func (p *pgConn) Close(ctx context.Context) error { return p.c.Close(ctx) }

func (p *pgConn) Alive() bool { return !p.c.IsClosed() }
