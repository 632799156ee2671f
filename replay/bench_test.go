package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

type nopExec struct{}
type nopConn struct{}

func (nopExec) Open(context.Context, *parse.Session) (Conn, error) { return nopConn{}, nil }
func (nopConn) Run(context.Context, []*parse.Event, []Outcome)     {}
func (nopConn) Close(context.Context) error                        { return nil }
func (nopConn) Alive() bool                                        { return true }

// BenchmarkSchedule measures the scheduler alone: 200,000 statements of 50
// sessions replayed at a speed that makes every one due at once, through
// an executor that does nothing. One op is a whole replay of those
// 200,000 statements, so ns/op is per replay, not per statement; the
// statements/s metric states the rate.
func BenchmarkSchedule(b *testing.B) {
	const sessions, perSession = 50, 4000
	var log strings.Builder
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for s := 0; s < sessions; s++ {
		fmt.Fprintf(&log, "%s|u|d|%x.%x|LOG:  connection authorized: user=u database=d\n", t0.Format("2006-01-02 15:04:05.000 UTC"), 1, s)
	}
	for i := 0; i < perSession; i++ {
		ts := t0.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000 UTC")
		for s := 0; s < sessions; s++ {
			fmt.Fprintf(&log, "%s|u|d|%x.%x|LOG:  statement: SELECT %d\n", ts, 1, s, i%10)
		}
	}
	var w bytes.Buffer
	if _, err := parse.Run(context.Background(), []string{"-"}, &w, parse.Options{Stdin: strings.NewReader(log.String())}); err != nil {
		b.Fatal(err)
	}
	data := w.Bytes()
	b.ResetTimer()
	b.ReportAllocs()
	total := 0
	for i := 0; i < b.N; i++ {
		r, err := parse.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		st, err := Run(context.Background(), r, nopExec{}, Options{Speed: 1e9}, func(*Result) {})
		if err != nil {
			b.Fatal(err)
		}
		total += st.Statements
		r.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "statements/s")
}
