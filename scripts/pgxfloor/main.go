// Command pgxfloor makes pgbench's TPC-B-like load with pgx's pgconn and
// nothing else, and prints the CPU it took per statement. It is the floor
// under the replayer's CPU: what any Go client built on pgx pays for the
// same statements, at the same rate, over the same connections, with no
// workload to read, no schedule to keep and no results to record.
// scripts/bench-cpu.sh runs it beside pgbench's own client.
//
//	go run ./scripts/pgxfloor -dsn 'host=127.0.0.1 port=5432 user=postgres dbname=postgres' -c 8 -R 150 -T 20s
//
// It prints one line: statements, CPU seconds (user + system, of the
// whole process, from getrusage) and CPU µs per statement.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"
)

// tpcb is pgbench's built-in script, one prepared statement each (-M
// prepared prepares BEGIN and END too).
var tpcb = []string{
	"BEGIN",
	"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
	"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
	"UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
	"UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
	"END",
}

// names are the prepared statements' names, made once: the floor should
// not pay for building them per statement.
var names = func() []string {
	ns := make([]string, len(tpcb))
	for i := range ns {
		ns[i] = "s" + strconv.Itoa(i)
	}
	return ns
}()

func main() {
	dsn := flag.String("dsn", "", "the target")
	clients := flag.Int("c", 8, "connections, one goroutine each")
	rate := flag.Float64("R", 0, "transactions per second in all (Poisson arrivals, as pgbench -R); 0 is unthrottled")
	dur := flag.Duration("T", 20*time.Second, "how long to run")
	scale := flag.Int("s", 1, "pgbench's scale factor")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0 leaves it)")
	rawio := flag.Bool("rawio", false, "pgconn over a socket read and written with system calls made directly, as the replayer's")
	raw := flag.Bool("raw", false, "after connecting, bypass pgconn: write each statement's messages and read the answer with one system call each on the bare socket")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	conns := make([]*pgconn.PgConn, *clients)
	for i := range conns {
		cfg, err := pgconn.ParseConfig(*dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgxfloor:", err)
			os.Exit(1)
		}
		if *rawio {
			dial := cfg.DialFunc
			cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return newRawIOConn(c)
			}
		}
		c, err := pgconn.ConnectConfig(context.Background(), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgxfloor: connect:", err)
			os.Exit(1)
		}
		if !*raw {
			defer c.Close(context.Background())
		}
		for j, q := range tpcb {
			if _, err := c.Prepare(context.Background(), names[j], q, nil); err != nil {
				fmt.Fprintln(os.Stderr, "pgxfloor: prepare:", err)
				os.Exit(1)
			}
		}
		conns[i] = c
	}
	// The run's time starts once every connection is made and prepared.
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	start := cpuNow()
	counts := make([]int, *clients)
	g := new(errgroup.Group)
	for i, c := range conns {
		exec := pgconnExec(c)
		if *raw {
			var err error
			if exec, err = rawExec(c); err != nil {
				fmt.Fprintln(os.Stderr, "pgxfloor:", err)
				os.Exit(1)
			}
		}
		g.Go(func() error { return client(ctx, exec, *rate/float64(*clients), *scale, &counts[i]) })
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "pgxfloor:", err)
		os.Exit(1)
	}
	used := cpuNow() - start
	n := 0
	for _, k := range counts {
		n += k
	}
	fmt.Printf("statements %d cpu_s %.3f us_per_stmt %.1f\n", n, used.Seconds(), float64(used.Microseconds())/float64(max(n, 1)))
}

// execer sends one prepared statement of tpcb and reads its answer.
type execer func(j int, params [][]byte) error

// pgconnExec runs statements through pgconn, as any pgx client does.
func pgconnExec(c *pgconn.PgConn) execer {
	return func(j int, params [][]byte) error {
		rr := c.ExecPrepared(context.Background(), names[j], params, nil, nil)
		for rr.NextRow() {
			_ = rr.Values()
		}
		_, err := rr.Close()
		return err
	}
}

// client runs transactions until ctx ends, each due an exponential gap
// after the last one was due (pgbench -R's schedule), counting the
// statements it sent.
func client(ctx context.Context, exec execer, rate float64, scale int, n *int) error {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	due := time.Now()
	params := make([][]byte, 4)
	// One timer reused for every wait, as a careful client would.
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for ctx.Err() == nil {
		if rate > 0 {
			due = due.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				tm.Reset(d)
				select {
				case <-tm.C:
				case <-ctx.Done():
					return nil
				}
			}
		}
		aid := []byte(strconv.Itoa(1 + rng.IntN(100000*scale)))
		bid := []byte(strconv.Itoa(1 + rng.IntN(scale)))
		tid := []byte(strconv.Itoa(1 + rng.IntN(10*scale)))
		delta := []byte(strconv.Itoa(rng.IntN(10001) - 5000))
		for j := range tpcb {
			var ps [][]byte
			switch j {
			case 1:
				ps = append(params[:0], delta, aid)
			case 2:
				ps = append(params[:0], aid)
			case 3:
				ps = append(params[:0], delta, tid)
			case 4:
				ps = append(params[:0], delta, bid)
			case 5:
				ps = append(params[:0], tid, bid, aid, delta)
			}
			if err := exec(j, ps); err != nil {
				return fmt.Errorf("statement %d: %w", j, err)
			}
			*n++
		}
	}
	return nil
}

// cpuNow is the process's CPU time so far, user and system.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
