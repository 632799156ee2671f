package replay

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Clock is how the replayer's clock stood against the target's when the
// replay started. Shards on several machines start at one --start-at
// instant by their own clocks; compare sets their offsets side by side to
// tell whether those clocks, and so the shards' starts, agreed.
type Clock struct {
	// OffsetUS is the target's time minus the replayer's at the same
	// instant (µs): the server's clock_timestamp() against the midpoint of
	// the round trip that read it, from the round trip with the least
	// time, whose midpoint is the surest.
	OffsetUS int64 `json:"offset_us"`
	// RTTUS is that round trip (µs): the offset is good to half of it.
	RTTUS int64 `json:"rtt_us"`
	// Samples is how many round trips were made.
	Samples int `json:"samples"`
}

// MeasureClock reads the target's clock n times on c and keeps the round
// trip with the least time. Both clocks are read in microseconds of Unix
// time, so time zones and the server's DateStyle play no part.
func MeasureClock(ctx context.Context, c *pgconn.PgConn, n int) (*Clock, error) {
	best := &Clock{RTTUS: -1}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		res, err := c.Exec(ctx, "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8").ReadAll()
		t1 := time.Now()
		if err != nil {
			return nil, fmt.Errorf("read the target's clock: %w", err)
		}
		if len(res) != 1 || len(res[0].Rows) != 1 {
			return nil, fmt.Errorf("read the target's clock: no row")
		}
		server, err := strconv.ParseInt(string(res[0].Rows[0][0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read the target's clock: %w", err)
		}
		rtt := t1.Sub(t0)
		if best.RTTUS >= 0 && rtt.Microseconds() >= best.RTTUS {
			continue
		}
		mid := t0.Add(rtt / 2)
		best.OffsetUS = server - mid.UnixMicro()
		best.RTTUS = rtt.Microseconds()
	}
	best.Samples = n
	return best, nil
}
