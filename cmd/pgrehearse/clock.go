package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/replay"
)

// clockSamples is how many round trips measure the clock offset: the
// shortest of a few is close to the least the network allows.
const clockSamples = 7

// measureClock reads the target's clock for the results header, so that
// compare can tell whether shards on several machines started together.
// A failure is a warning: the replay does not depend on it.
func measureClock(ctx context.Context, env *environment, cfg *pgconn.Config) *replay.Clock {
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		defer c.Close(ctx)
		var clk *replay.Clock
		if clk, err = replay.MeasureClock(ctx, c, clockSamples); err == nil {
			return clk
		}
	}
	fmt.Fprintf(env.stderr, "pgrehearse: warning: could not read the target's clock (%v); compare will not know this replay's clock offset\n", err)
	return nil
}
