package replay

import (
	"context"
	"errors"
)

// markInterrupted marks a result the end of the replay cut short, which is
// not an error of the target: a statement still running when the grace
// period after Ctrl-C ran out (cancelled with 57014, or its connection
// closed), or one left without a connection because the replay was
// ending. compare counts such statements apart, never as new errors.
func markInterrupted(ctx, execCtx context.Context, res *Result) {
	if res.Err == nil || res.Skipped {
		return
	}
	switch {
	case execCtx.Err() != nil && (res.SQLState == "57014" || res.SQLState == ""):
		res.Interrupted = true
	case ctx.Err() != nil && errors.Is(res.Err, errNoConnection) && res.SQLState == "":
		res.Interrupted = true
	}
}
