package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// targetInfo is what checkTarget learnt of the target before the replay.
type targetInfo struct {
	rtt time.Duration
	// maxConnections and reserved (superuser_reserved_connections, plus
	// reserved_connections from PostgreSQL 16) are the server's
	// settings; 0 when it did not say.
	maxConnections, reserved int
	pooler                   *pooler
}

// pooler is what gives away a connection pooler in front of the server.
type pooler struct {
	// transaction is set when one client connection was served by
	// several backends, one per transaction: a transaction (or
	// statement) pooler.
	transaction bool
	// connected is the port connected to; serverPort the port the
	// server behind it listens on (inet_server_port()).
	connected, serverPort int
	evidence              string
}

// showInt reads an integer setting; 0 when the server does not have it.
func showInt(ctx context.Context, c *pgconn.PgConn, name string) int {
	res, err := c.Exec(ctx, "SHOW "+name).ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		return 0
	}
	n, _ := strconv.Atoi(string(res[0].Rows[0][0]))
	return n
}

// limits asks the server for its connection limit.
func (ti *targetInfo) limits(ctx context.Context, c *pgconn.PgConn) {
	ti.maxConnections = showInt(ctx, c, "max_connections")
	// reserved_connections is new in PostgreSQL 16: 0 before.
	ti.reserved = showInt(ctx, c, "superuser_reserved_connections") + showInt(ctx, c, "reserved_connections")
}

// backend asks which backend serves c now, and on which port the server
// listens (0 on a Unix socket).
func backend(ctx context.Context, c *pgconn.PgConn, sql string) (pid, port int, err error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return 0, 0, err
	}
	r := res[len(res)-1]
	if len(r.Rows) != 1 || len(r.Rows[0]) < 1 {
		return 0, 0, errors.New("no row")
	}
	pid, _ = strconv.Atoi(string(r.Rows[0][0]))
	if len(r.Rows[0]) > 1 {
		port, _ = strconv.Atoi(string(r.Rows[0][1]))
	}
	return pid, port, nil
}

// detectPooler looks for a pooler between us and the server. A pooler
// passes the server's settings and version through; what gives it away
// is the server's own port (inet_server_port()) differing from the one
// connected to, and, for a transaction pooler, a connection served by
// another backend in its next transaction: while a second connection
// holds one backend in an open transaction, the first one's next
// statement goes to another backend (or waits for one).
func detectPooler(ctx context.Context, cfg *pgconn.Config, a *pgconn.PgConn) (*pooler, error) {
	pid1, port, err := backend(ctx, a, "SELECT pg_backend_pid(), inet_server_port()")
	if err != nil {
		return nil, fmt.Errorf("replay: query the target: %w", err)
	}
	p := &pooler{connected: int(cfg.Port), serverPort: port}
	b, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: connect to the target a second time: %w", err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	pidB, _, err := backend(ctx, b, "BEGIN; SELECT pg_backend_pid()")
	switch {
	case err != nil && strings.Contains(err.Error(), "pooling mode"):
		p.transaction, p.evidence = true, "it refused a transaction block ("+err.Error()+")"
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("replay: query the target: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	pid2, _, err := backend(wctx, a, "SELECT pg_backend_pid()")
	waited := errors.Is(wctx.Err(), context.DeadlineExceeded)
	cancel()
	b.Exec(ctx, "ROLLBACK").ReadAll()
	switch {
	case waited:
		p.transaction, p.evidence = true, "a connection's next statement waited for another connection's transaction to end"
	case err != nil:
		return nil, fmt.Errorf("replay: query the target: %w", err)
	case pid2 != pid1:
		p.transaction, p.evidence = true, fmt.Sprintf("one connection was served by backend %d, then by backend %d in its next transaction", pid1, pid2)
	case pidB == pid1:
		p.transaction, p.evidence = true, fmt.Sprintf("two connections were served by the same backend %d", pid1)
	}
	if !p.transaction && (port == 0 || port == p.connected) {
		return nil, nil
	}
	return p, nil
}

// check refuses to replay through a transaction pooler unless named
// statements are sent unnamed, and says what a pooler means either way.
func (p *pooler) check(env *environment, unnamed bool, named int64) error {
	if p == nil {
		return nil
	}
	if !p.transaction {
		fmt.Fprintf(env.stderr, "pgrehearse: note: --target port %d is not the server's own (it listens on %d): a proxy or a session pooler is in between; the replay goes through it as the applications would\n", p.connected, p.serverPort)
		return nil
	}
	what := fmt.Sprintf("--target (port %d) is a transaction pooler in front of the server", p.connected)
	if p.serverPort != 0 && p.serverPort != p.connected {
		what += fmt.Sprintf(" (which listens on %d)", p.serverPort)
	}
	what += ": " + p.evidence + ". Named prepared statements and session state (SET, temporary tables, advisory locks, LISTEN, SQL-level PREPARE) do not survive from one transaction to the next there"
	if !unnamed {
		n := "the workload's named statements"
		if named > 0 {
			n = fmt.Sprintf("the workload's %d named statements", named)
		}
		return usagef("replay: %s, so %s would fail with 26000 (prepared statement does not exist) and 42P05 (already exists), then abort their transactions (25P02): errors production never had. Point --target at the server itself or at a session pooler, or pass --unnamed to send named statements as unnamed Parse/Bind/Execute (counted and shown in the report as a protocol change)", what, n)
	}
	fmt.Fprintf(env.stderr, "pgrehearse: warning: %s. Named statements are sent unnamed (--unnamed) and counted as a protocol change; statements that rely on session state may still fail\n", what)
	return nil
}

// connections warns when the workload's peak of concurrent sessions,
// with the replay's own connections (own), does not fit in the target's
// connection limit.
func (ti *targetInfo) connections(env *environment, peak, own int64) {
	if ti.maxConnections <= 0 || peak <= 0 || ti.pooler != nil {
		return
	}
	room := int64(ti.maxConnections - ti.reserved)
	if peak+own <= room {
		return
	}
	fmt.Fprintf(env.stderr, "pgrehearse: warning: too many connections ahead: the target's max_connections is %d (%d reserved for superusers), the workload peaks at %d concurrent sessions, plus up to %d connections of the replay's own (a lock monitor, and a parameter-types probe per user and database when one is needed): sessions past the limit will be refused (SQLSTATE 53300), counted as refused_connections, and the comparison will be INCONCLUSIVE. Raise max_connections on the target, or replay through the pooler production uses\n",
		ti.maxConnections, ti.reserved, peak, own)
}

// ownConnections is how many connections the replay may open besides
// the sessions': the lock monitor, and a types probe per user and
// database pair (at most one per session).
func ownConnections(tr *parse.Summary) int64 {
	return 1 + min(int64(len(tr.Users)*len(tr.Databases)), tr.Sessions)
}

// peekTrailer reads a workload file's trailer before the replay, skipping
// every session, for figures such as the peak of concurrent sessions; it
// gives up (nil) on standard input, a log, or after a few seconds.
func peekTrailer(ctx context.Context, path string) *parse.Summary {
	if path == "-" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	if head, _ := br.Peek(16); !parse.IsWorkload(head) {
		return nil
	}
	r, err := parse.NewReader(br)
	if err != nil {
		return nil
	}
	defer r.Close()
	r.SetSessionFilter(func(*parse.Session) bool { return false })
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return r.Trailer()
			}
			return nil
		}
	}
	return nil
}

// printConnections says what the replay met on its way to the target.
func printConnections(env *environment, sum *replay.Summary) {
	if sum.RefusedConnections > 0 {
		fmt.Fprintf(env.stderr, "pgrehearse: warning: %s\n", sum.ConnectionLimit)
	}
	if sum.ConnectFailures > 0 {
		fmt.Fprintf(env.stderr, "%d attempts to connect failed (%d sessions could not connect at first)\n", sum.ConnectFailures, sum.OpenErrors)
	}
	if sum.InterruptedStatements > 0 {
		fmt.Fprintf(env.stderr, "%d statements were cut short by the interruption: they are not counted as errors\n", sum.InterruptedStatements)
	}
	if sum.Unnamed > 0 {
		fmt.Fprintf(env.stderr, "%d named statements were sent unnamed (--unnamed): a protocol change the comparison reports\n", sum.Unnamed)
	}
}
