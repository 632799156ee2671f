package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

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
	// Unnamed sends named prepared statements as unnamed Parse/Bind/
	// Execute, for a target behind a transaction pooler, where a named
	// statement does not outlive the transaction that prepared it.
	Unnamed bool
	// Checksums digests the rows every statement returns (rows.go).
	Checksums bool

	types   typeCache
	traits  traitCache
	probeMu sync.Mutex
	mu      sync.Mutex
	// monitor asks the target about waits; probes prepare statements
	// outside any session's transaction to learn parameter types.
	monitor *pgconn.PgConn
	probes  map[[2]string]*probeConn
}

// config returns the connection settings of a session.
func (x *PGExecutor) config(s *parse.Session) *pgconn.Config {
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
	cfg.RuntimeParams = map[string]string{}
	for k, v := range x.Config.RuntimeParams {
		cfg.RuntimeParams[k] = v
	}
	cfg.RuntimeParams["application_name"] = s.Application
	if x.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	// A cancelled statement must leave its session alive, as a client's
	// cancel did in production: send a cancel request, do not close.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &cancelHandler{conn: c, deadlineDelay: 5 * time.Second}
	}
	cfg.DialFunc = noSelfConnect(cfg.DialFunc)
	return cfg
}

// Open connects one session.
func (x *PGExecutor) Open(ctx context.Context, s *parse.Session) (Conn, error) {
	cfg := x.config(s)
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		// pgconn's errors name host, user and database, never the password.
		return nil, fmt.Errorf("connect session %d as %s to %s: %w", s.ID, cfg.User, cfg.Database, err)
	}
	return &pgConn{c: c, x: x, s: s, prepared: map[string]string{}, w: newUnitWatch(c)}, nil
}

// Close closes the connections the executor keeps for itself.
func (x *PGExecutor) Close(ctx context.Context) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.monitor != nil {
		x.monitor.Close(ctx)
		x.monitor = nil
	}
	x.closeProbes(ctx)
}

type pgConn struct {
	c        *pgconn.PgConn
	x        *PGExecutor
	s        *parse.Session
	prepared map[string]string
	vals     [][]byte // values' buffer
	// w cancels the running unit when its context ends: every call on
	// c within Run is given the unwatched context.
	w *unitWatch
}

func (p *pgConn) Close(ctx context.Context) error {
	p.w.close()
	return p.c.Close(ctx)
}

func (p *pgConn) Alive() bool { return !p.c.IsClosed() }

func (p *pgConn) BackendPID() uint32 { return p.c.PID() }

// values gives the parameter values of a statement in the form pgconn
// sends. The slice is the connection's own, made once and reused: pgconn
// copies the values into its message before the call that takes them
// returns. The values are the event's strings seen as bytes, not copies,
// for the same reason; nothing writes to them.
func (p *pgConn) values(ps []parse.Param) [][]byte {
	if len(ps) == 0 {
		return nil
	}
	out := p.vals[:0]
	for _, v := range ps {
		var b []byte
		switch {
		case v.Null:
		case v.Value == "":
			b = []byte{} // an empty string, not NULL
		default:
			b = unsafe.Slice(unsafe.StringData(v.Value), len(v.Value))
		}
		out = append(out, b)
	}
	p.vals = out
	return out
}

func outcome(rows int64, err error) Outcome {
	o := Outcome{Rows: rows, Err: err}
	if err == nil {
		// errors.As would put its target on the heap for every statement.
		return o
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		o.SQLState = pe.Code
	}
	return o
}

// Run sends one unit: alone, or as one pipeline with one Sync. When ctx
// ends, the statement running is cancelled with a cancel request and the
// rest of the unit is not sent.
func (p *pgConn) Run(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	if p.x.Unnamed {
		defer markUnnamed(unit, outs)
	}
	if err := p.w.begin(ctx); err != nil {
		notSent(outs, err)
		return
	}
	defer p.ended(outs)
	if len(unit) > 1 && pipelineable(unit) {
		p.pipeline(ctx, unit, outs)
		return
	}
	for i, ev := range unit {
		if p.w.cancelled() {
			notSent(outs[i:], ctx.Err())
			return
		}
		outs[i] = p.one(ctx, ev)
		outs[i].Done = time.Now()
	}
}

// notSent is the outcome of statements a unit's context ended before.
func notSent(outs []Outcome, err error) {
	now := time.Now()
	for i := range outs {
		outs[i] = outcome(0, fmt.Errorf("not sent: %w", err))
		outs[i].Done = now
	}
}

// ended disarms the unit's watch. A statement the cancel's deadline cut
// short failed for the context's end, which its error then says, as
// pgconn's does for a watched context.
func (p *pgConn) ended(outs []Outcome) {
	err := p.w.end()
	if err == nil {
		return
	}
	for i := range outs {
		if o := &outs[i]; o.Err != nil && o.SQLState == "" && pgconn.Timeout(o.Err) {
			o.Err = err
		}
	}
}

// one runs a single statement or Error event.
func (p *pgConn) one(ctx context.Context, ev *parse.Event) Outcome {
	if ev.Kind == parse.Error {
		return p.reproduce(ctx, ev)
	}
	proto := ev.Protocol
	if proto == parse.Named && p.x.Unnamed {
		proto = parse.Unnamed
	}
	switch proto {
	case parse.Simple:
		return p.simple(ctx, ev)
	case parse.Unnamed:
		oids := p.typesFor(ctx, ev)
		o := p.unnamed(ctx, ev, oids)
		if o.Err != nil && ev.Err == nil {
			if oids, ok := p.retype(ctx, ev, oids, o); ok {
				o = p.unnamed(ctx, ev, oids)
				o.Retyped = true
			}
		}
		return o
	default:
		retyped, err := p.prepare(ctx, ev)
		if err != nil {
			return outcome(0, err)
		}
		o := p.read(p.c.ExecPrepared(unwatched, ev.Name, p.values(ev.Params), nil, nil), ev)
		o.Retyped = retyped
		return o
	}
}

func (p *pgConn) unnamed(ctx context.Context, ev *parse.Event, oids []uint32) Outcome {
	return p.read(p.c.ExecParams(unwatched, ev.Text, p.values(ev.Params), oids, nil, nil), ev)
}

// prepare makes sure the named statement of ev is prepared with its text,
// once per session, as the application did, so generic plans appear as in
// production. A name reused for another text is prepared again.
func (p *pgConn) prepare(ctx context.Context, ev *parse.Event) (retyped bool, err error) {
	text, ok := p.prepared[ev.Name]
	if ok && text == ev.Text {
		return false, nil
	}
	if ok {
		if err := p.c.Deallocate(unwatched, ev.Name); err != nil {
			return false, err
		}
		delete(p.prepared, ev.Name)
	}
	oids := p.typesFor(ctx, ev)
	_, err = p.c.Prepare(unwatched, ev.Name, ev.Text, oids)
	if err != nil && ev.Err == nil {
		var ok bool
		if oids, ok = p.retype(ctx, ev, oids, outcome(0, err)); ok {
			_, err = p.c.Prepare(unwatched, ev.Name, ev.Text, oids)
			retyped = true
		}
	}
	if err != nil {
		return retyped, err
	}
	p.prepared[ev.Name] = ev.Text
	return retyped, nil
}

// reproduce raises a production error of an Error event again.
func (p *pgConn) reproduce(ctx context.Context, ev *parse.Event) Outcome {
	switch planError(ev) {
	case reproSimple:
		_, err := p.c.Exec(unwatched, ev.Text).ReadAll()
		return outcome(0, err)
	case reproParse:
		_, err := p.c.Prepare(unwatched, "", ev.Text, nil)
		return outcome(0, err)
	case reproBind:
		return p.unnamed(ctx, ev, nil)
	case reproParseThenStandIn:
		if _, err := p.c.Prepare(unwatched, "", ev.Text, nil); err != nil {
			return outcome(0, err)
		}
	}
	_, err := p.c.Exec(unwatched, standIn(ev)).ReadAll()
	o := outcome(0, err)
	o.StandIn = true
	return o
}

// pipelineable reports whether a unit can go in one pipeline: extended
// statements and errors raised through the extended protocol.
func pipelineable(unit []*parse.Event) bool {
	for _, ev := range unit {
		if ev.Kind == parse.Statement && ev.Protocol == parse.Simple {
			return false
		}
	}
	return true
}
