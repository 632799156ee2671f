package replay

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// Row checksums. With checksums on, the rows a statement returns are
// digested as they stream in (nothing is kept): each row is hashed
// (xxHash64 of its values, each with its length, NULL apart from the
// empty string), and the row hashes are combined twice: added up, which
// does not depend on their order (a multiset), and chained, which does.
// The order-sensitive digest is kept only for statements whose top level
// has ORDER BY; for the others the order rows come in is the plan's, not
// the application's. Both sides of a control replay read results in the
// text format, so the same values give the same digest on both; the
// digest is the same from run to run and machine to machine.

// rowSum digests the rows of one result.
type rowSum struct {
	set, seq uint64
	rows     int64
	buf      []byte
	pooled   *[]byte
}

// rowBufs keeps the buffers rows are hashed from, so that a checksum
// allocates nothing per statement.
var rowBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (s *rowSum) borrow() {
	s.pooled = rowBufs.Get().(*[]byte)
	s.buf = (*s.pooled)[:0]
}

func (s *rowSum) giveBack() {
	if s.pooled != nil && cap(s.buf) <= 1<<20 {
		*s.pooled = s.buf[:0]
		rowBufs.Put(s.pooled)
	}
	s.buf, s.pooled = nil, nil
}

func (s *rowSum) add(values [][]byte) {
	b := s.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(len(values)))
	for _, v := range values {
		if v == nil {
			b = binary.LittleEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	s.buf = b
	h := xxhash.Sum64(b)
	s.set += h
	s.seq = mix(s.seq*0x9e3779b97f4a7c15 + h)
	s.rows++
}

// mix is a 64-bit finaliser (MurmurHash3's fmix64): every input bit
// reaches every output bit, so a chain of them depends on the order of
// its inputs.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// rowSums chains the digests of the results of one statement text: a
// simple query may hold several statements, which answer in their order.
// A text of one statement has that statement's digest, as when it is
// sent through the extended protocol.
type rowSums struct {
	cur      rowSum
	set, seq uint64
	results  int
}

// fold adds the result just read.
func (s *rowSums) fold() {
	if s.results == 0 {
		s.set, s.seq = s.cur.set, s.cur.seq
	} else {
		s.set = mix(s.set*0x9e3779b97f4a7c15 + s.cur.set)
		s.seq = mix(s.seq*0x9e3779b97f4a7c15 + s.cur.seq)
	}
	s.results++
	s.cur = rowSum{buf: s.cur.buf, pooled: s.cur.pooled}
}

// read reads one statement's result: the rows returned or affected from
// its command tag, and with checksums on their digest.
func (p *pgConn) read(rr *pgconn.ResultReader, ev *parse.Event) Outcome {
	tr := p.x.traits.of(ev.Fingerprint, ev.Text)
	if !p.x.Checksums {
		tag, err := rr.Close()
		o := outcome(tag.RowsAffected(), err)
		o.NonDeterministic = tr.volatile
		return o
	}
	var s rowSum
	s.borrow()
	for rr.NextRow() {
		s.add(rr.Values())
	}
	s.giveBack()
	rowset := rr.FieldDescriptions() != nil
	tag, err := rr.Close()
	o := outcome(tag.RowsAffected(), err)
	o.NonDeterministic = tr.volatile
	if rowset && err == nil {
		o.setChecksum(s.set, s.seq, tr.ordered)
	}
	return o
}

func (o *Outcome) setChecksum(set, seq uint64, ordered bool) {
	o.Checksummed, o.Checksum, o.Ordered = true, set, ordered
	if ordered {
		o.OrderedChecksum = seq
	}
}

// simple runs a simple query, which may hold several statements: the rows
// are summed over them, as the command tags count them.
func (p *pgConn) simple(ctx context.Context, ev *parse.Event) Outcome {
	tr := p.x.traits.of(ev.Fingerprint, ev.Text)
	mrr := p.c.Exec(unwatched, ev.Text)
	var rows int64
	var s rowSums
	s.cur.borrow()
	defer s.cur.giveBack()
	rowset := false
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		if p.x.Checksums {
			for rr.NextRow() {
				s.cur.add(rr.Values())
			}
			rowset = rowset || rr.FieldDescriptions() != nil
		}
		tag, _ := rr.Close()
		rows += tag.RowsAffected()
		s.fold()
	}
	err := mrr.Close()
	o := outcome(rows, err)
	o.NonDeterministic = tr.volatile
	if rowset && err == nil {
		o.setChecksum(s.set, s.seq, tr.ordered)
	}
	return o
}
