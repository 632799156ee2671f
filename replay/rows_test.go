package replay

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/parse"
)

func sumOf(rows ...[]string) rowSum {
	var s rowSum
	for _, r := range rows {
		vals := make([][]byte, len(r))
		for i, v := range r {
			if v != "<NULL>" {
				vals[i] = []byte(v)
			}
		}
		s.add(vals)
	}
	return s
}

func TestRowSum(t *testing.T) {
	ab := sumOf([]string{"a", "1"}, []string{"b", "2"})
	ba := sumOf([]string{"b", "2"}, []string{"a", "1"})
	if ab.set != ba.set || ab.seq == ba.seq || ab.rows != 2 {
		t.Errorf("order: set %x/%x (want equal), seq %x/%x (want different)", ab.set, ba.set, ab.seq, ba.seq)
	}
	// Values are delimited: a row's split between columns counts.
	for _, pair := range [][2]rowSum{
		{sumOf([]string{"ab", ""}), sumOf([]string{"a", "b"})},
		{sumOf([]string{""}), sumOf([]string{"<NULL>"})},
		{sumOf([]string{"a"}), sumOf([]string{"a", "<NULL>"})},
		{sumOf([]string{"a"}, []string{"a"}), sumOf([]string{"a"})},
		{sumOf([]string{"a"}, []string{"a"}), sumOf([]string{"b"}, []string{"b"})},
		{sumOf(), sumOf([]string{})},
	} {
		if pair[0].set == pair[1].set {
			t.Errorf("two different results have one checksum %x", pair[0].set)
		}
	}
	// The digest is fixed by the format: the same rows give the same
	// checksum on every machine and in every run, so results of separate
	// replays (shards, --control-after) can be set side by side.
	if got := fmt.Sprintf("%x %x", ab.set, ab.seq); got != "e8f91fe5d07a70ce 124276195dceea32" {
		t.Errorf("digest of a fixed result changed: %s", got)
	}
}

func TestRowSumsSingleResult(t *testing.T) {
	// A simple query of one statement has the digest the statement has
	// through the extended protocol; several statements chain theirs.
	one := sumOf([]string{"x"}, []string{"y"})
	var s rowSums
	s.cur.add([][]byte{[]byte("x")})
	s.cur.add([][]byte{[]byte("y")})
	s.fold()
	if s.set != one.set || s.seq != one.seq {
		t.Errorf("one result: %x %x, want %x %x", s.set, s.seq, one.set, one.seq)
	}
	var two rowSums
	two.fold() // BEGIN: no rows
	two.cur.add([][]byte{[]byte("x")})
	two.cur.add([][]byte{[]byte("y")})
	two.fold()
	if two.set == one.set {
		t.Error("two results digest like one")
	}
}

// BenchmarkRowSum is the replayer's cost of a checksum: ns/op per row of
// five short columns, as an OLTP result has.
func BenchmarkRowSum(b *testing.B) {
	row := [][]byte{[]byte("1042"), []byte("Customer 1042"), []byte("customer1042@example.com"), []byte("2026-01-01 17:22:00+00"), nil}
	var s rowSum
	b.ReportAllocs()
	for b.Loop() {
		s.add(row)
	}
}

// BenchmarkReadResult is the replayer's CPU for one statement's result
// read from a real server, without and with a checksum: a query of 20
// rows of five columns, the size of a page an application shows. The
// server's time is in ns/op too; the difference between the two is the
// checksum's; cpu-µs/op is the replayer's own CPU per statement.
func BenchmarkReadResult(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	const text = "SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', '2026-01-01'::timestamptz + g * interval '1 minute', NULL FROM generate_series(1, 20) g"
	for _, checksums := range []bool{false, true} {
		b.Run(fmt.Sprintf("checksums=%v", checksums), func(b *testing.B) {
			x := &PGExecutor{Config: cfg, Checksums: checksums}
			c, err := x.Open(ctx, &parse.Session{ID: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			ev := &parse.Event{Kind: parse.Statement, Protocol: parse.Unnamed, Text: text, Fingerprint: 1}
			outs := make([]Outcome, 1)
			b.ReportAllocs()
			cpu0 := ProcessCPU()
			for b.Loop() {
				c.Run(ctx, []*parse.Event{ev}, outs)
				if outs[0].Err != nil || outs[0].Rows != 20 || outs[0].Checksummed != checksums {
					b.Fatalf("%+v", outs[0])
				}
			}
			// The replayer's own CPU, which the wall time (with the
			// server's and the round trip) hides.
			b.ReportMetric(float64((ProcessCPU()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}
