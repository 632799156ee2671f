package replay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// Parameter types. The log keeps parameter values, not the types the
// client declared for them: pgJDBC declares setString as varchar, so a
// statement such as "$1 IS NULL OR kind = $2" parses in production and
// fails on the target with 42P18 when prepared untyped. When the target
// says it can not infer a type, the parameters it names are declared text
// (what the log's values are), the statement is prepared again, and the
// types are remembered for every session.

const oidText = 25

// typeCache remembers per database and statement text what the target
// needs declared: nil for nothing.
type typeCache struct {
	mu sync.RWMutex
	m  map[[2]string][]uint32
}

func (c *typeCache) lookup(db, text string) ([]uint32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	oids, ok := c.m[[2]string{db, text}]
	return oids, ok
}

func (c *typeCache) get(db, text string) []uint32 {
	oids, _ := c.lookup(db, text)
	return oids
}

func (c *typeCache) set(db, text string, oids []uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[2]string][]uint32{}
	}
	c.m[[2]string{db, text}] = oids
}

// typesFor returns the parameter types to declare for ev. A statement with
// parameters not met before is first prepared on a probe connection of
// the same user and database, outside any transaction: a Parse that fails
// on the session's own connection would show the target an error
// production never had, and inside a transaction block would abort a
// transaction production completed.
func (p *pgConn) typesFor(ctx context.Context, ev *parse.Event) []uint32 {
	if oids, ok := p.x.types.lookup(p.s.Database, ev.Text); ok {
		return oids
	}
	if ev.Err != nil || maxPlaceholder(ev.Text) == 0 {
		return nil
	}
	return p.x.probe(ctx, p.s, ev.Text)
}

// retype learns the types a statement needs after its Parse failed with a
// type error production did not have. It can only do so outside a
// transaction block: a Parse that failed there has aborted it.
func (p *pgConn) retype(ctx context.Context, ev *parse.Event, oids []uint32, o Outcome) ([]uint32, bool) {
	if _, ok := typeError(o.SQLState, message(o.Err)); !ok || p.c.TxStatus() != 'I' {
		return nil, false
	}
	learned, ok := learnTypes(ctx, p.c, ev.Text, oids)
	if !ok || learned == nil {
		return nil, false
	}
	p.x.types.set(p.s.Database, ev.Text, learned)
	return learned, true
}

// learnTypes prepares text unnamed on c, outside any transaction, declaring
// text for each parameter the server can not infer, until it parses. It
// returns the types (nil when none were needed) and whether it parsed.
func learnTypes(ctx context.Context, c *pgconn.PgConn, text string, oids []uint32) ([]uint32, bool) {
	n := maxPlaceholder(text)
	for range n + 1 {
		_, err := c.Prepare(ctx, "", text, oids)
		if err == nil {
			return oids, true
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			return nil, false
		}
		param, ok := typeError(pe.Code, pe.Message)
		if !ok {
			return nil, false
		}
		next := widen(oids, n, param)
		if next == nil {
			return nil, false
		}
		oids = next
	}
	return nil, false
}

// widen declares parameter param (1-based) text, or every undeclared one
// when param is 0. It returns nil when that changes nothing.
func widen(oids []uint32, n, param int) []uint32 {
	next := make([]uint32, n)
	copy(next, oids)
	changed := false
	for i := range next {
		if (param == 0 || param == i+1) && next[i] == 0 {
			next[i] = oidText
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return next
}

func message(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return ""
}

// probeWait bounds how long a statement waits for its types to be
// learned: the probe's Parse takes the locks the statement's tables need,
// and a session of the replay may hold them in an open transaction
// (TRUNCATE, ALTER TABLE, LOCK) while it waits for the probe itself.
const probeWait = 2 * time.Second

// probeConn is the probe connection of one user and database; sem lets one
// statement at a time use it.
type probeConn struct {
	sem chan struct{}
	c   *pgconn.PgConn
}

// probe learns on a connection of the session's user and database, outside
// any transaction, which parameter types text needs. What it can not find
// out (a statement on a table only the session's transaction can see, or
// locked by a transaction still open) is left to the server to infer.
func (x *PGExecutor) probe(ctx context.Context, s *parse.Session, text string) []uint32 {
	cfg := x.config(s)
	key := [2]string{cfg.User, cfg.Database}
	x.probeMu.Lock()
	pc := x.probes[key]
	if pc == nil {
		if x.probes == nil {
			x.probes = map[[2]string]*probeConn{}
		}
		pc = &probeConn{sem: make(chan struct{}, 1)}
		x.probes[key] = pc
	}
	x.probeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	select {
	case pc.sem <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	defer func() { <-pc.sem }()
	if pc.c == nil || pc.c.IsClosed() {
		cfg.RuntimeParams["application_name"] = "pgrehearse-probe"
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil
		}
		pc.c = c
	}
	// A Parse that waits past the deadline is cancelled with a cancel
	// request, which leaves the probe connection usable.
	oids, ok := learnTypes(ctx, pc.c, text, nil)
	if ok {
		x.types.set(s.Database, text, oids)
	}
	return oids
}

// closeProbes closes the probe connections.
func (x *PGExecutor) closeProbes(ctx context.Context) {
	x.probeMu.Lock()
	defer x.probeMu.Unlock()
	for k, pc := range x.probes {
		pc.sem <- struct{}{}
		if pc.c != nil {
			pc.c.Close(ctx)
		}
		delete(x.probes, k)
	}
}
