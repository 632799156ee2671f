// Command mkstall writes a synthetic PostgreSQL stderr log (prefix
// '%m|%u|%d|%c|') of many statements to measure replay's memory when one
// session stalls: session 1 takes an advisory lock a session outside the
// replay holds, then has a large share of the remaining statements queued
// behind it; the other sessions run on. Most statements are COPY ... FROM
// STDIN, which the workload keeps but replay does not send (the data is
// not in the log), so millions of statements pass through the replayer's
// queues in minutes while the lock wait is real; every hundredth is a
// SELECT 1 that is sent.
//
//	go run ./scripts/mkstall -n 50000000 -span 500s | pgrehearse parse -q -o big.pgrw -
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	n := flag.Int("n", 50_000_000, "statements")
	sessions := flag.Int("sessions", 100, "sessions")
	span := flag.Duration("span", 500*time.Second, "how long the log lasts")
	share := flag.Float64("share", 0.5, "the stalled session's share of the statements")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(t time.Time, s int, msg string) {
		fmt.Fprintf(w, "%s|app|app|6b0000%02x.%x|LOG:  %s\n", t.Format("2006-01-02 15:04:05.000")+" UTC", s%256, s, msg)
	}
	for s := 1; s <= *sessions; s++ {
		line(t0, s, "connection authorized: user=app database=app")
	}
	line(t0.Add(500*time.Millisecond), 1, "statement: SELECT pg_advisory_lock(42)")
	step := *span / time.Duration(*n)
	stalled := int(1 / *share)
	for i := 0; i < *n; i++ {
		t := t0.Add(time.Second + time.Duration(i)*step)
		s := 2 + i%(*sessions-1)
		if i%stalled == 0 {
			s = 1
		}
		if i%100 == 0 {
			line(t, s, "statement: SELECT 1")
		} else {
			line(t, s, "statement: COPY t FROM STDIN")
		}
	}
	end := t0.Add(time.Second + *span)
	for s := 1; s <= *sessions; s++ {
		line(end, s, "disconnection: session time: 0:08:21.000 user=app database=app host=127.0.0.1 port=5432")
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "mkstall:", err)
		os.Exit(1)
	}
}
