package replay

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// TestMeasureClock reads a server on this machine, whose clock is ours:
// the server read its clock inside the round trip, so the offset from the
// round trip's midpoint is within half of it.
func TestMeasureClock(t *testing.T) {
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// A session time zone far from UTC must not matter.
	if _, err := c.Exec(ctx, "SET TimeZone = 'Pacific/Kiritimati'").ReadAll(); err != nil {
		t.Fatal(err)
	}
	clk, err := MeasureClock(ctx, c, 7)
	if err != nil {
		t.Fatal(err)
	}
	if clk.Samples != 7 || clk.RTTUS <= 0 {
		t.Fatalf("clock %+v", clk)
	}
	if half := clk.RTTUS/2 + 1; clk.OffsetUS < -half || clk.OffsetUS > half {
		t.Fatalf("offset %d µs against a server on this machine, more than half the round trip %d µs", clk.OffsetUS, clk.RTTUS)
	}
}
