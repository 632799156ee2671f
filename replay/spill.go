package replay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// A spill file holds the backlog of one stalled session: the events the
// reader had for it while one of its statements ran long on the target.
// The reader appends, the session reads from the front; the file is
// private to one replay and removed when the session has read it all.
// The encoding is this package's own and never outlives the process.
type spillFile struct {
	path    string
	w       *os.File
	bw      *bufio.Writer
	r       *os.File
	br      *bufio.Reader
	pending int   // events written and not read back
	bytes   int64 // bytes written
	buf     []byte
	err     error
}

func newSpill(dir string) (*spillFile, error) {
	w, err := os.CreateTemp(dir, "pgrehearse-spill-*")
	if err != nil {
		return nil, fmt.Errorf("spill a stalled session's backlog to disk: %w", err)
	}
	r, err := os.Open(w.Name())
	if err != nil {
		w.Close()
		os.Remove(w.Name())
		return nil, fmt.Errorf("spill a stalled session's backlog to disk: %w", err)
	}
	return &spillFile{path: w.Name(), w: w, bw: bufio.NewWriterSize(w, 64<<10), r: r, br: bufio.NewReaderSize(r, 64<<10)}, nil
}

// write appends ev.
func (f *spillFile) write(ev *parse.Event) error {
	if f.err != nil {
		return f.err
	}
	b := encodeEvent(f.buf[:0], ev)
	f.buf = b
	var n [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(n[:], uint64(len(b)))
	if _, err := f.bw.Write(n[:k]); err != nil {
		f.err = err
		return err
	}
	if _, err := f.bw.Write(b); err != nil {
		f.err = err
		return err
	}
	f.pending++
	f.bytes += int64(k + len(b))
	return nil
}

// read returns the oldest event not read yet.
func (f *spillFile) read(s *parse.Session) (*parse.Event, error) {
	if err := f.bw.Flush(); err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(f.br)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f.br, b); err != nil {
		return nil, err
	}
	f.pending--
	ev, err := decodeEvent(b)
	if err != nil {
		return nil, err
	}
	ev.Session = s
	return ev, nil
}

func (f *spillFile) close() {
	f.w.Close()
	f.r.Close()
	os.Remove(f.path)
}

// Event flags in the spill encoding.
const (
	spParams = 1 << iota
	spErr
	spInferred
	spPipelined
	spContinued
	spSync
)

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeEvent appends everything of ev but its session.
func encodeEvent(b []byte, ev *parse.Event) []byte {
	var flags uint64
	if ev.Params != nil {
		flags |= spParams
	}
	if ev.Err != nil {
		flags |= spErr
		if ev.Err.Inferred {
			flags |= spInferred
		}
	}
	if ev.Pipelined {
		flags |= spPipelined
	}
	if ev.Continued {
		flags |= spContinued
	}
	if ev.Sync != nil {
		flags |= spSync
	}
	b = binary.AppendUvarint(b, flags)
	b = append(b, byte(ev.Kind), byte(ev.Protocol), byte(ev.Skip), byte(ev.Step))
	b = binary.AppendVarint(b, ev.Time)
	b = binary.AppendVarint(b, int64(ev.Index))
	b = binary.AppendVarint(b, ev.Duration)
	b = binary.AppendUvarint(b, uint64(ev.Fingerprint))
	b = binary.AppendUvarint(b, uint64(ev.VXID.Backend))
	b = binary.AppendUvarint(b, uint64(ev.VXID.Local))
	b = binary.AppendUvarint(b, ev.XID)
	b = binary.AppendVarint(b, int64(ev.Source))
	b = binary.AppendVarint(b, ev.Line)
	b = appendStr(b, ev.Name)
	b = appendStr(b, ev.Text)
	if ev.Params != nil {
		b = binary.AppendUvarint(b, uint64(len(ev.Params)))
		for _, p := range ev.Params {
			if p.Null {
				b = append(b, 0)
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(p.Value))+1)
			b = append(b, p.Value...)
		}
	}
	if ev.Err != nil {
		b = appendStr(b, ev.Err.Severity)
		b = appendStr(b, ev.Err.SQLState)
		b = appendStr(b, ev.Err.Message)
	}
	if ev.Sync != nil {
		// A spilled statement keeps what it waits for under --sync.
		for _, refs := range [][]parse.Ref{ev.Sync.AfterCommit, ev.Sync.AfterObjects, ev.Sync.AfterLocks} {
			b = appendSpillRefs(b, refs)
		}
	}
	return b
}

func appendSpillRefs(b []byte, refs []parse.Ref) []byte {
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, r := range refs {
		b = binary.AppendUvarint(b, r.Session)
		b = binary.AppendVarint(b, int64(r.Index))
		b = binary.AppendVarint(b, int64(r.From))
		b = binary.AppendVarint(b, r.GapUS)
		sent := byte(0)
		if r.Sent {
			sent = 1
		}
		b = append(b, sent)
	}
	return b
}

func (d *spillDec) refs() []parse.Ref {
	n := d.uv()
	if n > uint64(len(d.b)) {
		d.bad = true
	}
	if n == 0 || d.bad {
		return nil
	}
	refs := make([]parse.Ref, n)
	for i := range refs {
		refs[i] = parse.Ref{Session: d.uv(), Index: int(d.sv()), From: int(d.sv()), GapUS: d.sv()}
		if len(d.b) == 0 {
			d.bad = true
			return nil
		}
		refs[i].Sent = d.b[0] == 1
		d.b = d.b[1:]
	}
	return refs
}

var errSpill = errors.New("damaged spill file")

type spillDec struct {
	b   []byte
	bad bool
}

func (d *spillDec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spillDec) sv() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spillDec) str() string {
	n := d.uv()
	if uint64(len(d.b)) < n {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func decodeEvent(b []byte) (*parse.Event, error) {
	d := &spillDec{b: b}
	flags := d.uv()
	if len(d.b) < 4 {
		return nil, errSpill
	}
	ev := &parse.Event{Kind: parse.EventKind(d.b[0]), Protocol: parse.Protocol(d.b[1]), Skip: parse.SkipReason(d.b[2]), Step: parse.Step(d.b[3])}
	d.b = d.b[4:]
	ev.Time, ev.Index, ev.Duration = d.sv(), int(d.sv()), d.sv()
	ev.Fingerprint = fingerprint.ID(d.uv())
	ev.VXID = parse.VXID{Backend: uint32(d.uv()), Local: uint32(d.uv())}
	ev.XID = d.uv()
	ev.Source, ev.Line = int(d.sv()), d.sv()
	ev.Name, ev.Text = d.str(), d.str()
	ev.Pipelined = flags&spPipelined != 0
	ev.Continued = flags&spContinued != 0
	if flags&spParams != 0 {
		n := d.uv()
		if n > uint64(len(d.b)) {
			return nil, errSpill
		}
		ev.Params = make([]parse.Param, n)
		for i := range ev.Params {
			l := d.uv()
			if l == 0 {
				ev.Params[i].Null = true
				continue
			}
			if uint64(len(d.b)) < l-1 {
				return nil, errSpill
			}
			ev.Params[i].Value = string(d.b[:l-1])
			d.b = d.b[l-1:]
		}
	}
	if flags&spErr != 0 {
		ev.Err = &parse.StmtError{Severity: d.str(), SQLState: d.str(), Message: d.str(), Inferred: flags&spInferred != 0}
	}
	if flags&spSync != 0 {
		ev.Sync = &parse.Sync{AfterCommit: d.refs(), AfterObjects: d.refs(), AfterLocks: d.refs()}
	}
	if d.bad {
		return nil, errSpill
	}
	return ev, nil
}
