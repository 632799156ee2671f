package parse

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"

	"github.com/klauspost/compress/zstd"
)

// writer encodes frames. It is not safe for concurrent use.
type writer struct {
	out   io.Writer
	bw    *bufio.Writer
	zw    *zstd.Encoder
	buf   []byte
	clock int64

	slots     map[string]uint64
	slotBytes int
	gen       int // bumped each time the text table is cleared
	ids       []uint64
	maxSlots  int
	maxBytes  int
	err       error
}

func newWriter(w io.Writer, h *Header, compress bool) (*writer, error) {
	// A frame needs up to four texts at once.
	h.TextSlots = max(h.TextSlots, 8)
	h.TextBytes = max(h.TextBytes, 1<<16)
	wr := &writer{out: w, slots: make(map[string]uint64), maxSlots: h.TextSlots, maxBytes: h.TextBytes, clock: h.Start}
	c := byte(compressNone)
	if compress {
		c = compressZstd
	}
	var pre [9]byte
	copy(pre[:], magic)
	pre[7] = FormatVersion
	pre[8] = c
	if _, err := w.Write(pre[:]); err != nil {
		return nil, err
	}
	var body io.Writer = w
	if compress {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithWindowSize(4<<20))
		if err != nil {
			return nil, err
		}
		wr.zw = zw
		body = zw
	}
	wr.bw = bufio.NewWriterSize(body, 256<<10)
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	wr.frame(frameHeader, hj)
	return wr, wr.err
}

func (w *writer) frame(kind byte, payload []byte) {
	if w.err != nil {
		return
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, err := w.bw.Write(hdr[:1+n]); err != nil {
		w.err = err
		return
	}
	if _, err := w.bw.Write(payload); err != nil {
		w.err = err
	}
}

// text returns the slot of s, defining it first if needed. Slot 0 is the
// empty string and is never defined.
func (w *writer) text(s string) uint64 {
	if s == "" {
		return 0
	}
	if id, ok := w.slots[s]; ok {
		return id
	}
	if len(w.slots) >= w.maxSlots || w.slotBytes+len(s) > w.maxBytes {
		clear(w.slots)
		w.slotBytes = 0
		w.gen++
		w.frame(frameClear, nil)
	}
	id := uint64(len(w.slots) + 1)
	w.slots[s] = id
	w.slotBytes += len(s)
	b := binary.AppendUvarint(w.buf[:0], id)
	b = append(b, s...)
	w.frame(frameText, b)
	w.buf = b[:0]
	return id
}

// texts returns the slots of all strs, valid together: if defining one of
// them cleared the table, the ones before it are defined again.
func (w *writer) texts(strs ...string) []uint64 {
	for {
		gen := w.gen
		w.ids = w.ids[:0]
		for _, s := range strs {
			w.ids = append(w.ids, w.text(s))
		}
		if gen == w.gen {
			return w.ids
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (w *writer) session(t int64, s *Session) {
	ids := w.texts(s.User, s.Database, s.Application, s.Client)
	u, d, a, c := ids[0], ids[1], ids[2], ids[3]
	b := binary.AppendUvarint(w.buf[:0], s.ID)
	b = binary.AppendVarint(b, t-w.clock)
	w.clock = t
	var flags uint64
	if s.Connected {
		flags |= 1
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, u)
	b = binary.AppendUvarint(b, d)
	b = binary.AppendUvarint(b, a)
	b = binary.AppendUvarint(b, c)
	b = binary.AppendVarint(b, s.PID)
	b = appendString(b, s.Key)
	w.frame(frameSession, b)
	w.buf = b[:0]
}

// Statement frame flag bits, after the two protocol bits.
const (
	stHasDuration = 1 << (2 + iota)
	stHasParams
	stHasError
	stSkip
	// Since version 2:
	stFingerprint
	stVXID
	stXID
	stPipelined
	stContinued
	stSync
)

// Error frame flag bits (version 2).
const (
	erFingerprint = 1 << iota
	erVXID
	erXID
	erParams
	erPipelined
	erContinued
)

func appendParams(b []byte, ps []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		if p.Null {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(p.Value))+1)
		b = append(b, p.Value...)
	}
	return b
}

// appendTx writes the fields every version-2 statement and error frame
// may end with: fingerprint, vxid, xid.
func appendTx(b []byte, ev *Event) []byte {
	if ev.Fingerprint != 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(ev.Fingerprint))
	}
	if !ev.VXID.IsZero() {
		b = binary.AppendUvarint(b, uint64(ev.VXID.Backend))
		b = binary.AppendUvarint(b, uint64(ev.VXID.Local))
	}
	if ev.XID != 0 {
		b = binary.AppendUvarint(b, ev.XID)
	}
	return b
}

func (w *writer) statement(sid uint64, t int64, ev *Event) {
	var msg string
	if ev.Err != nil {
		msg = ev.Err.Message
	}
	ids := w.texts(ev.Text, ev.Name, msg)
	text, name, errMsg := ids[0], ids[1], ids[2]
	b := binary.AppendUvarint(w.buf[:0], sid)
	b = binary.AppendVarint(b, t-w.clock)
	w.clock = t
	flags := uint64(ev.Protocol)
	if ev.Duration >= 0 {
		flags |= stHasDuration
	}
	if len(ev.Params) > 0 {
		flags |= stHasParams
	}
	if ev.Err != nil {
		flags |= stHasError
	}
	if ev.Skip != Replayable {
		flags |= stSkip
	}
	if ev.Fingerprint != 0 {
		flags |= stFingerprint
	}
	if !ev.VXID.IsZero() {
		flags |= stVXID
	}
	if ev.XID != 0 {
		flags |= stXID
	}
	if ev.Pipelined {
		flags |= stPipelined
	}
	if ev.Continued {
		flags |= stContinued
	}
	if !ev.Sync.empty() {
		flags |= stSync
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, text)
	if ev.Protocol == Named {
		b = binary.AppendUvarint(b, name)
	}
	b = binary.AppendUvarint(b, uint64(ev.Source))
	b = binary.AppendUvarint(b, uint64(ev.Line))
	if ev.Duration >= 0 {
		b = binary.AppendUvarint(b, uint64(ev.Duration))
	}
	if len(ev.Params) > 0 {
		b = appendParams(b, ev.Params)
	}
	if ev.Skip != Replayable {
		b = append(b, byte(ev.Skip))
	}
	if ev.Err != nil {
		b = appendError(b, ev.Err, errMsg)
	}
	b = appendTx(b, ev)
	if flags&stSync != 0 {
		b = appendSync(b, ev.Sync)
	}
	w.frame(frameStmt, b)
	w.buf = b[:0]
}

func appendError(b []byte, e *StmtError, msg uint64) []byte {
	var f byte
	if e.Inferred {
		f = 1
	}
	b = append(b, f)
	b = appendString(b, e.Severity)
	b = appendString(b, e.SQLState)
	return binary.AppendUvarint(b, msg)
}

// update writes late news about statement index of session sid.
func (w *writer) update(sid uint64, index int, duration int64, e *StmtError) {
	var msg uint64
	if e != nil {
		msg = w.text(e.Message)
	}
	b := binary.AppendUvarint(w.buf[:0], sid)
	b = binary.AppendUvarint(b, uint64(index))
	var flags uint64
	if duration >= 0 {
		flags |= 1
	}
	if e != nil {
		flags |= 2
	}
	b = binary.AppendUvarint(b, flags)
	if duration >= 0 {
		b = binary.AppendUvarint(b, uint64(duration))
	}
	if e != nil {
		b = appendError(b, e, msg)
	}
	w.frame(frameUpdate, b)
	w.buf = b[:0]
}

// errorEvent writes an error that belongs to no statement (ev.Err, with
// the statement it reported in ev.Text). sid is 0 for an error outside any
// replayed session (a failed login).
func (w *writer) errorEvent(sid uint64, t int64, ev *Event) {
	e := ev.Err
	ids := w.texts(e.Message, ev.Text)
	msg, st := ids[0], ids[1]
	b := binary.AppendUvarint(w.buf[:0], sid)
	b = binary.AppendVarint(b, t-w.clock)
	w.clock = t
	b = appendError(b, e, msg)
	b = binary.AppendUvarint(b, st)
	b = binary.AppendUvarint(b, uint64(ev.Source))
	b = binary.AppendUvarint(b, uint64(ev.Line))
	var flags uint64
	if ev.Fingerprint != 0 {
		flags |= erFingerprint
	}
	if !ev.VXID.IsZero() {
		flags |= erVXID
	}
	if ev.XID != 0 {
		flags |= erXID
	}
	if len(ev.Params) > 0 {
		flags |= erParams
	}
	if ev.Pipelined {
		flags |= erPipelined
	}
	if ev.Continued {
		flags |= erContinued
	}
	b = binary.AppendUvarint(b, flags)
	b = append(b, byte(ev.Step))
	b = appendTx(b, ev)
	if len(ev.Params) > 0 {
		b = appendParams(b, ev.Params)
	}
	w.frame(frameError, b)
	w.buf = b[:0]
}

func (w *writer) sessionEnd(sid uint64, t int64) {
	b := binary.AppendUvarint(w.buf[:0], sid)
	b = binary.AppendVarint(b, t-w.clock)
	w.clock = t
	w.frame(frameEnd, b)
	w.buf = b[:0]
}

// close writes the trailer and flushes everything.
func (w *writer) close(s *Summary) error {
	tj, err := json.Marshal(s)
	if err != nil {
		return err
	}
	w.frame(frameTrailer, tj)
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if w.zw != nil {
		return w.zw.Close()
	}
	return nil
}
