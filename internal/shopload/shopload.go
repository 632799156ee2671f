// Package shopload is the demo's built-in load: a small shop (customers,
// products, stock, orders, order items, coupons) used the way a web
// application without a pooler uses its database. It exists so that the
// demo's captured log holds what a production log holds: point reads
// and heavier scans, multi-statement transactions with the odd
// rollback, named prepared statements, unnamed extended-protocol and
// simple-protocol statements, connections opened and closed, and a
// steady trickle of errors that production has too.
//
// Every statement is replayable from the log on a copy of the data taken
// before the load: keys are chosen by the client from its own id space
// and passed as parameters, rows shared between sessions are locked in
// one order, and the only error is one that fails the same way whenever
// it runs.
package shopload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sizes at scale 1. The order tables outgrow a small shared_buffers, so
// a candidate with less memory reads more.
const (
	customers = 20000
	products  = 2000
	orders    = 150000
	coupons   = 500
)

// Setup creates the shop's tables in the database dsn names and fills
// them deterministically; scale multiplies the row counts.
func Setup(ctx context.Context, dsn string, scale int) error {
	if scale < 1 {
		scale = 1
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("shopload: connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := c.QueryRow(ctx, "SELECT to_regclass('customers') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("shopload: %w", err)
	}
	if exists {
		return errors.New("shopload: the shop's tables already exist in this database: use an empty database")
	}
	steps := []string{
		`CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, created_at timestamptz NOT NULL)`,
		`CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category int NOT NULL, price numeric(10,2) NOT NULL)`,
		`CREATE TABLE stock (product_id int PRIMARY KEY, qty int NOT NULL)`,
		`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, created_at timestamptz NOT NULL,
			status text NOT NULL, total numeric(12,2) NOT NULL DEFAULT 0, note text)`,
		`CREATE TABLE order_items (order_id bigint NOT NULL, product_id int NOT NULL,
			qty int NOT NULL, price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, product_id))`,
		`CREATE TABLE coupons (code text PRIMARY KEY, customer_id bigint NOT NULL)`,
		fmt.Sprintf(`INSERT INTO customers SELECT g, 'customer' || g || '@example.com', 'Customer ' || g, '2026-01-01'::timestamptz + g * interval '1 minute'
			FROM generate_series(1, %d) g`, customers*scale),
		// Names as a catalogue has them, capitalised or not, and with a
		// leading underscore: they sort otherwise under C than under a
		// linguistic collation (ICU, glibc's en_US), which is what the
		// demo's candidate shows.
		fmt.Sprintf(`INSERT INTO products SELECT g, (ARRAY['apple', 'Banana', 'cherry', 'Damson', 'elderberry', 'Fig', 'grape', '_sale'])[1 + (g / 7) %% 8] || ' ' || g,
			g %% 40, 1 + (g * 37 %% 10000) / 100.0 FROM generate_series(1, %d) g`, products*scale),
		`INSERT INTO stock SELECT id, 1000000 FROM products`,
		fmt.Sprintf(`INSERT INTO orders SELECT g, 1 + (g * 7919) %% %d, '2026-01-01'::timestamptz + g * interval '1 minute', 'shipped', 9.99 * (1 + g %% 5), repeat('x', 60)
			FROM generate_series(1, %d) g`, customers*scale, orders*scale),
		fmt.Sprintf(`INSERT INTO order_items SELECT o, 1 + (o::bigint * k * 104729) %% %d, k, 9.99 FROM generate_series(1, %d) o, generate_series(1, 3) k
			ON CONFLICT DO NOTHING`, products*scale, orders*scale),
		// Foreign keys after the bulk load: one validation pass each
		// instead of a trigger per row.
		`ALTER TABLE stock ADD FOREIGN KEY (product_id) REFERENCES products`,
		`ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers`,
		`ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders, ADD FOREIGN KEY (product_id) REFERENCES products`,
		fmt.Sprintf(`INSERT INTO coupons SELECT 'WELCOME' || g, g FROM generate_series(1, %d) g`, coupons),
		`CREATE INDEX orders_customer ON orders (customer_id, created_at DESC)`,
		`CREATE INDEX order_items_product ON order_items (product_id)`,
		`ANALYZE`,
	}
	for _, q := range steps {
		if _, err := c.Exec(ctx, q); err != nil {
			f := strings.Fields(q)
			return fmt.Errorf("shopload: setup: %s: %w", strings.Join(f[:min(3, len(f))], " "), err)
		}
	}
	return nil
}

// Options shape the load.
type Options struct {
	// Clients is the number of concurrent sessions (default 8).
	Clients int
	// Duration is how long the load runs.
	Duration time.Duration
	// Seed makes the choices of every client repeatable.
	Seed uint64
	// Scale must match Setup's.
	Scale int
}

// Stats count what the load did.
type Stats struct {
	Transactions int64
	Statements   int64
	Connections  int64
	// Errors counts failed statements by SQLSTATE.
	Errors map[string]int64
}

func (s Stats) String() string {
	var errs []string
	for k, v := range s.Errors {
		errs = append(errs, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(errs)
	e := "none"
	if len(errs) > 0 {
		e = strings.Join(errs, ", ")
	}
	return fmt.Sprintf("%d transactions, %d statements, %d connections, errors: %s", s.Transactions, s.Statements, s.Connections, e)
}

func (s *Stats) add(o *Stats) {
	s.Transactions += o.Transactions
	s.Statements += o.Statements
	s.Connections += o.Connections
	for k, v := range o.Errors {
		s.Errors[k] += v
	}
}

// Run drives the load until opt.Duration has passed or ctx ends, and
// returns what it did. An error is returned only when the load could not
// run at all; failed statements are counted in Stats.Errors.
func Run(ctx context.Context, dsn string, opt Options) (Stats, error) {
	if opt.Clients <= 0 {
		opt.Clients = 8
	}
	if opt.Scale < 1 {
		opt.Scale = 1
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return Stats{}, fmt.Errorf("shopload: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Duration)
	defer cancel()
	total := Stats{Errors: map[string]int64{}}
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < opt.Clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			cl := &client{id: id, opt: opt, cfg: cfg, rng: rand.New(rand.NewPCG(opt.Seed, uint64(id))), st: Stats{Errors: map[string]int64{}}}
			err := cl.run(ctx)
			mu.Lock()
			defer mu.Unlock()
			total.add(&cl.st)
			if err != nil && first == nil {
				first = err
			}
		}(i)
	}
	wg.Wait()
	if first != nil && total.Transactions == 0 {
		return total, first
	}
	return total, nil
}

type client struct {
	id   int
	opt  Options
	cfg  *pgx.ConnConfig
	rng  *rand.Rand
	conn *pgx.Conn
	st   Stats
	// next is the client's next order id: its own range, so replaying
	// the log on a copy of the data inserts the same keys without
	// colliding with another session's.
	next   int64
	placed []int64
}

// Clients differ like an application's parts do: some keep one
// connection, some reconnect every few transactions (a web tier without
// a pooler), and some send unnamed statements instead of prepared ones.
func (c *client) connect(ctx context.Context) error {
	cfg := c.cfg.Copy()
	cfg.RuntimeParams["application_name"] = []string{"shop-web", "shop-api", "shop-worker", "shop-admin"}[c.id%4]
	if c.id%3 == 1 {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	c.conn = conn
	c.st.Connections++
	return nil
}

func (c *client) run(ctx context.Context) error {
	c.next = int64(c.id+1) * 1_000_000_000
	defer func() {
		if c.conn != nil {
			c.conn.Close(context.WithoutCancel(ctx))
		}
	}()
	n := 0
	for ctx.Err() == nil {
		if c.conn == nil || c.conn.IsClosed() {
			if err := c.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("shopload: connect: %w", err)
			}
		}
		if err := c.transaction(ctx); err != nil && ctx.Err() == nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				return fmt.Errorf("shopload: %w", err)
			}
		}
		n++
		if c.id%4 == 0 && n%40 == 0 {
			c.conn.Close(ctx)
			c.conn = nil
		}
		think := time.Duration(2+c.rng.IntN(8)) * time.Millisecond
		select {
		case <-ctx.Done():
		case <-time.After(think):
		}
	}
	return nil
}

// exec runs one statement and counts it, and its error by SQLSTATE.
func (c *client) exec(ctx context.Context, sql string, args ...any) error {
	c.st.Statements++
	_, err := c.conn.Exec(ctx, sql, args...)
	c.count(err)
	return err
}

func (c *client) query(ctx context.Context, sql string, args ...any) error {
	c.st.Statements++
	rows, err := c.conn.Query(ctx, sql, args...)
	if err == nil {
		for rows.Next() {
		}
		rows.Close()
		err = rows.Err()
	}
	c.count(err)
	return err
}

func (c *client) count(err error) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c.st.Errors[pe.Code]++
	}
}

func (c *client) customer() int64 { return 1 + c.rng.Int64N(int64(customers*c.opt.Scale)) }
func (c *client) product() int64  { return 1 + c.rng.Int64N(int64(products*c.opt.Scale)) }

func (c *client) transaction(ctx context.Context) error {
	c.st.Transactions++
	switch r := c.rng.IntN(100); {
	case r < 31:
		return c.query(ctx, "SELECT name, category, price FROM products WHERE id = $1", c.product())
	case r < 35:
		// A catalogue page: products of a category by name.
		return c.query(ctx, "SELECT id, name, price FROM products WHERE category = $1 ORDER BY name LIMIT 10", c.rng.IntN(40))
	case r < 50:
		return c.query(ctx, "SELECT id, email, name FROM customers WHERE id = $1", c.customer())
	case r < 65:
		return c.query(ctx, "SELECT id, created_at, status, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 10", c.customer())
	case r < 72:
		// The heavy one: reads many order items, so it needs memory.
		lo := c.product()
		return c.query(ctx, `SELECT p.category, count(*), sum(oi.qty * oi.price) FROM order_items oi JOIN products p ON p.id = oi.product_id
			WHERE oi.product_id BETWEEN $1 AND $2 GROUP BY p.category ORDER BY 3 DESC`, lo, lo+10)
	case r < 94:
		return c.order(ctx)
	case r < 97:
		return c.exec(ctx, "UPDATE customers SET name = $1 WHERE id = $2", pgx.QueryExecModeSimpleProtocol,
			fmt.Sprintf("Customer %d (updated)", c.rng.IntN(1000)), c.customer())
	case r < 98 && len(c.placed) > 0:
		id := c.placed[c.rng.IntN(len(c.placed))]
		return c.exec(ctx, "DELETE FROM order_items WHERE order_id = $1 AND product_id = (SELECT min(product_id) FROM order_items WHERE order_id = $1)", id)
	default:
		// Production has this error too: a coupon that was already
		// redeemed. It fails the same way on every run.
		return c.exec(ctx, "INSERT INTO coupons (code, customer_id) VALUES ($1, $2)", fmt.Sprintf("WELCOME%d", 1+c.rng.IntN(coupons)), c.customer())
	}
}

// order places an order in one transaction: the order, its items, the
// stock, the total. Stock rows are locked in product order so two
// orders never deadlock, here or on replay.
func (c *client) order(ctx context.Context) error {
	c.next++
	id := c.next
	items := map[int64]int{}
	for k := 1 + c.rng.IntN(3); k > 0; k-- {
		items[c.product()] = 1 + c.rng.IntN(3)
	}
	pids := make([]int64, 0, len(items))
	for p := range items {
		pids = append(pids, p)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	rollback := c.rng.IntN(20) == 0
	if err := c.exec(ctx, "BEGIN"); err != nil {
		return err
	}
	err := c.exec(ctx, "INSERT INTO orders (id, customer_id, created_at, status) VALUES ($1, $2, $3, 'new')", id, c.customer(), time.Now().UTC())
	for _, p := range pids {
		if err != nil {
			break
		}
		if err = c.exec(ctx, "INSERT INTO order_items (order_id, product_id, qty, price) SELECT $1, id, $3, price FROM products WHERE id = $2", id, p, items[p]); err != nil {
			break
		}
		err = c.exec(ctx, "UPDATE stock SET qty = qty - $2 WHERE product_id = $1", p, items[p])
	}
	if err == nil {
		err = c.exec(ctx, "UPDATE orders SET total = (SELECT sum(qty * price) FROM order_items WHERE order_id = $1) WHERE id = $1", id)
	}
	if err != nil || rollback {
		c.exec(ctx, "ROLLBACK")
		return err
	}
	if err := c.exec(ctx, "COMMIT"); err != nil {
		return err
	}
	c.placed = append(c.placed, id)
	return nil
}
