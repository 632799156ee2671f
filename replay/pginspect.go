package replay

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// waitsQuery reads what backends wait for and who blocks them.
const waitsQuery = `SELECT a.pid, coalesce(a.state, ''), coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''),
  coalesce((SELECT string_agg(concat_ws(chr(31), b.pid, coalesce(b.state, ''), coalesce(b.usename, ''), coalesce(b.application_name, '')), chr(30))
    FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))), '')
FROM pg_stat_activity a WHERE a.pid = ANY ($1::int[])`

// Waits asks the target what the backends pids are doing, on a monitoring
// connection of its own (application_name pgrehearse-monitor).
func (x *PGExecutor) Waits(ctx context.Context, pids []uint32) ([]Wait, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.monitor == nil || x.monitor.IsClosed() {
		cfg := x.Config.Copy()
		cfg.RuntimeParams = map[string]string{"application_name": "pgrehearse-monitor"}
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to the target to look at waits: %w", err)
		}
		x.monitor = c
	}
	list := make([]string, len(pids))
	for i, p := range pids {
		list[i] = strconv.FormatUint(uint64(p), 10)
	}
	res := x.monitor.ExecParams(ctx, waitsQuery, [][]byte{[]byte("{" + strings.Join(list, ",") + "}")}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, fmt.Errorf("look at waits on the target: %w", res.Err)
	}
	var out []Wait
	for _, row := range res.Rows {
		pid, _ := strconv.ParseUint(string(row[0]), 10, 32)
		w := Wait{PID: uint32(pid), State: string(row[1]), Type: string(row[2]), Event: string(row[3])}
		// One blocker per record (\x1e), fields split by \x1f.
		for _, line := range strings.Split(string(row[4]), "\x1e") {
			f := strings.SplitN(line, "\x1f", 4)
			if len(f) < 4 {
				continue
			}
			bp, _ := strconv.ParseUint(f[0], 10, 32)
			w.BlockedBy = append(w.BlockedBy, Blocker{PID: uint32(bp), State: f[1], User: f[2], Application: f[3]})
		}
		out = append(out, w)
	}
	return out, nil
}
