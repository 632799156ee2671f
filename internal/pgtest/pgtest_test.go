package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(M(m)) }

func TestSharedServer(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT 40 + 2").Scan(&v); err != nil || v != 42 {
		t.Fatalf("SELECT 40 + 2 = %d, %v", v, err)
	}
	if DSN(t) != DSN(t) {
		t.Fatal("DSN changed between calls")
	}
}
