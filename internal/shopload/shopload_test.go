package shopload

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }

// freshDB makes an empty database on the test server for one test.
func freshDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin := pgtest.DSN(t)
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	name := "shop_" + strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	// Later keywords win in a libpq key=value string.
	return admin + " dbname=" + name
}

func count(t *testing.T, dsn, table string) int64 {
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSetupAndRun(t *testing.T) {
	dsn := freshDB(t)
	ctx := context.Background()
	if err := Setup(ctx, dsn, 1); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int64{"customers": customers, "products": products, "stock": products, "orders": orders, "coupons": coupons} {
		if n := count(t, dsn, table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	// The catalogue's names sort otherwise by bytes than by language:
	// what a candidate with another collation shows.
	page := func(coll string) string {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var names string
		if err := c.QueryRow(ctx, `SELECT string_agg(name, ',') FROM (SELECT name FROM products WHERE category = 3 ORDER BY name COLLATE "`+coll+`" LIMIT 10) s`).Scan(&names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	if a, b := page("C"), page("en-US-x-icu"); a == b || !strings.HasPrefix(b, "_sale") {
		t.Errorf("a category's first page: %q under C, %q under ICU en-US", a, b)
	}
	if err := Setup(ctx, dsn, 1); err == nil || !strings.Contains(err.Error(), "already exist") {
		t.Errorf("second Setup: %v", err)
	}
	before := count(t, dsn, "orders")
	st, err := Run(ctx, dsn, Options{Clients: 4, Duration: 3 * time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Transactions < 50 || st.Statements <= st.Transactions {
		t.Errorf("too little load: %s", st)
	}
	// Client 0 reconnects every 40 transactions.
	if st.Connections <= 4 {
		t.Errorf("no connection churn: %s", st)
	}
	// The only error is the deliberate duplicate coupon.
	for code := range st.Errors {
		if code != "23505" {
			t.Errorf("unexpected error %s: %s", code, st)
		}
	}
	if st.Errors["23505"] == 0 {
		t.Errorf("no duplicate-coupon errors: %s", st)
	}
	if after := count(t, dsn, "orders"); after <= before {
		t.Errorf("orders %d -> %d: no order was placed", before, after)
	}
	if st.String() == "" || !strings.Contains(st.String(), "23505") {
		t.Errorf("String() = %q", st.String())
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	dsn := freshDB(t)
	if err := Setup(context.Background(), dsn, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	t0 := time.Now()
	st, err := Run(ctx, dsn, Options{Clients: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Run took %s after cancel", d)
	}
	if st.Transactions == 0 {
		t.Errorf("nothing ran before the cancel: %s", st)
	}
}
