package parse

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// Reader decodes a workload file in one streaming pass.
type Reader struct {
	br      *bufio.Reader
	zr      *zstd.Decoder
	header  Header
	trailer *Summary
	clock   int64
	slots   []string
	slotB   int
	sess    map[uint64]*sessionCursor
	buf     []byte
	frames  int64
	keep    func(*Session) bool
	pending []Event
	// noSync: statements' sync lists are read past, not kept (SkipSync).
	noSync bool
	// fps fingerprints the statements of a version-1 file, which has none.
	fps fingerprint.Cache
}

type sessionCursor struct {
	s      *Session
	next   int // the next statement's index
	errors int // the next Error event's index
	skip   bool
}

// NewReader reads the preamble and header of a workload file.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var pre [9]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("not a pgrehearse workload file (too short); make one with: pgrehearse parse LOG -o FILE")
		}
		return nil, err
	}
	if string(pre[:7]) != magic {
		return nil, fmt.Errorf("not a pgrehearse workload file (bad magic); make one with: pgrehearse parse LOG -o FILE")
	}
	if pre[7] == 0 || pre[7] > FormatVersion {
		return nil, fmt.Errorf("workload format version %d is newer than this pgrehearse reads (%d): upgrade pgrehearse", pre[7], FormatVersion)
	}
	rd := &Reader{sess: make(map[uint64]*sessionCursor)}
	switch pre[8] {
	case compressNone:
		rd.br = br
	case compressZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return nil, err
		}
		rd.zr = zr
		rd.br = bufio.NewReaderSize(zr, 256<<10)
	default:
		return nil, fmt.Errorf("workload file uses unknown compression %d", pre[8])
	}
	kind, payload, err := rd.readFrame()
	if err != nil {
		return nil, rd.wrapErr(err)
	}
	if kind != frameHeader {
		return nil, fmt.Errorf("workload file: first frame is %q, want header", kind)
	}
	if err := json.Unmarshal(payload, &rd.header); err != nil {
		return nil, fmt.Errorf("workload file: bad header: %w", err)
	}
	if rd.header.TextSlots <= 0 || rd.header.TextSlots > 1<<24 || rd.header.TextBytes <= 0 || rd.header.TextBytes > 1<<30 {
		return nil, fmt.Errorf("workload file: header declares an implausible text table (%d slots, %d bytes)", rd.header.TextSlots, rd.header.TextBytes)
	}
	rd.clock = rd.header.Start
	return rd, nil
}

// IsWorkload reports whether head, the first bytes of a file, starts a
// workload file.
func IsWorkload(head []byte) bool { return bytes.HasPrefix(head, []byte(magic)) }

// Events returns the file's events in order. Each pair is an event and a
// nil error, or, last, nil and the error that ended the file early
// (ErrTruncated, a corrupt file); a whole file ends after its trailer,
// which Trailer then returns.
func (r *Reader) Events() iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Header returns the file's header.
func (r *Reader) Header() *Header { return &r.header }

// Trailer returns the summary from the trailer, or nil until Next has
// returned io.EOF.
func (r *Reader) Trailer() *Summary { return r.trailer }

// SetSessionFilter makes Next skip every event of a session for which keep
// returns false (a shard, a database). Statement indexes stay those of the
// whole file. Skipped frames are not decoded past their session id.
func (r *Reader) SetSessionFilter(keep func(*Session) bool) { r.keep = keep }

// SkipSync makes the reader read past the statements' sync lists
// (Event.Sync stays nil): a replay without --sync needs none of them, and
// on a busy workload of autocommit writes they outweigh the statements.
func (r *Reader) SkipSync() { r.noSync = true }

// Close releases the decompressor.
func (r *Reader) Close() {
	if r.zr != nil {
		r.zr.Close()
	}
}

func (r *Reader) wrapErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	if r.zr != nil {
		return fmt.Errorf("%w (%v): parse the log again", ErrCorrupt, err)
	}
	return err
}

// ErrCorrupt is wrapped by a Reader's errors about a damaged file: frames
// that do not decode, or a compressed stream that does not.
var ErrCorrupt = errors.New("workload file is corrupt")

func (r *Reader) readFrame() (byte, []byte, error) {
	kind, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := r.frameLen()
	if err != nil {
		return 0, nil, err
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: frame %d claims %d bytes", ErrCorrupt, r.frames, n)
	}
	// Grow the buffer as the bytes arrive rather than trusting the
	// declared length: a corrupt length must not allocate a gigabyte.
	b := r.buf[:0]
	for uint64(len(b)) < n {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		chunk := min(uint64(cap(b)-len(b)), n-uint64(len(b)))
		m, err := io.ReadFull(r.br, b[len(b):len(b)+int(chunk)])
		b = b[:len(b)+m]
		if err != nil {
			return 0, nil, err
		}
	}
	r.buf = b
	r.frames++
	return kind, b, nil
}

// frameLen reads a frame's length. binary.ReadUvarint would do, but its
// overflow error cannot be told from the stream's own: a length that
// does not decode is damage (ErrCorrupt), not a failed read.
func (r *Reader) frameLen() (uint64, error) {
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		c, err := r.br.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		buf[i] = c
		if c < 0x80 {
			if v, n := binary.Uvarint(buf[:i+1]); n > 0 {
				return v, nil
			}
			break
		}
	}
	return 0, fmt.Errorf("%w: frame %d's length does not decode", ErrCorrupt, r.frames)
}

// dec walks a frame payload; a short or bad payload sets bad and yields zeros.
type dec struct {
	b   []byte
	bad bool
}

func (d *dec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) sv() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte1() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.bad = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes(d.uv())) }

func (r *Reader) slot(d *dec) string {
	id := d.uv()
	if id == 0 {
		return ""
	}
	if id > uint64(len(r.slots)) || id > math.MaxInt32 {
		d.bad = true
		return ""
	}
	return r.slots[id-1]
}

func (r *Reader) readError(d *dec) *StmtError {
	e := &StmtError{Inferred: d.byte1() == 1}
	e.Severity = d.str()
	e.SQLState = d.str()
	e.Message = r.slot(d)
	return e
}

// Next returns the next event, io.EOF after the trailer, or an error:
// ErrTruncated when the file ends without a trailer.
func (r *Reader) Next() (*Event, error) {
	for {
		if r.trailer != nil {
			return nil, io.EOF
		}
		kind, payload, err := r.readFrame()
		if err != nil {
			return nil, r.wrapErr(err)
		}
		ev, err := r.decode(kind, payload)
		if err != nil {
			return nil, fmt.Errorf("workload frame %d (%q): %w", r.frames, kind, err)
		}
		if ev != nil {
			return ev, nil
		}
	}
}

func (r *Reader) decode(kind byte, payload []byte) (*Event, error) {
	d := &dec{b: payload}
	var ev *Event
	var err error
	switch kind {
	case frameText:
		return nil, r.decodeText(d)
	case frameClear:
		r.slots = r.slots[:0]
		r.slotB = 0
		return nil, nil
	case frameSession:
		ev, err = r.decodeSession(d)
	case frameStmt:
		ev, err = r.decodeStatement(d, len(payload))
	case frameUpdate:
		ev, err = r.decodeUpdate(d)
	case frameError:
		ev, err = r.decodeError(d, len(payload))
	case frameEnd:
		ev, err = r.decodeEnd(d)
	case frameTrailer:
		var s Summary
		if err := json.Unmarshal(payload, &s); err != nil {
			return nil, fmt.Errorf("%w: bad trailer: %v", ErrCorrupt, err)
		}
		r.trailer = &s
		return nil, nil
	case frameHeader:
		return nil, fmt.Errorf("%w: second header", ErrCorrupt)
	default:
		// Unknown frames are skipped so a newer minor revision can add
		// frames older readers may ignore; kinds are capital letters, so
		// anything else is damage.
		if kind < 'A' || kind > 'Z' {
			return nil, fmt.Errorf("%w: frame kind %#x", ErrCorrupt, kind)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.bad {
		return nil, fmt.Errorf("%w: frame %q is shorter than its fields", ErrCorrupt, kind)
	}
	return ev, nil
}

func (r *Reader) decodeText(d *dec) error {
	id := d.uv()
	if d.bad || id != uint64(len(r.slots))+1 || int(id) > r.header.TextSlots {
		return fmt.Errorf("%w: text slot %d out of sequence", ErrCorrupt, id)
	}
	r.slotB += len(d.b)
	if r.slotB > r.header.TextBytes {
		return fmt.Errorf("%w: text table exceeds the declared %d bytes", ErrCorrupt, r.header.TextBytes)
	}
	r.slots = append(r.slots, string(d.b))
	return nil
}

func (r *Reader) decodeSession(d *dec) (*Event, error) {
	s := &Session{ID: d.uv()}
	t := r.clock + d.sv()
	flags := d.uv()
	s.Connected = flags&1 != 0
	s.User, s.Database, s.Application, s.Client = r.slot(d), r.slot(d), r.slot(d), r.slot(d)
	s.PID = d.sv()
	s.Key = d.str()
	if d.bad {
		return nil, nil
	}
	r.clock = t
	if _, dup := r.sess[s.ID]; dup || s.ID == 0 {
		return nil, fmt.Errorf("%w: session %d opened twice", ErrCorrupt, s.ID)
	}
	c := &sessionCursor{s: s}
	c.skip = r.keep != nil && !r.keep(s)
	r.sess[s.ID] = c
	if c.skip {
		return nil, nil
	}
	return &Event{Kind: SessionStart, Time: t, Session: s, Duration: -1}, nil
}

func (r *Reader) decodeStatement(d *dec, size int) (*Event, error) {
	c, err := r.cursor(d)
	if err != nil {
		return nil, err
	}
	t := r.clock + d.sv()
	if d.bad {
		return nil, nil
	}
	r.clock = t
	idx := c.next
	c.next++
	if c.skip {
		// Text slots were already defined by T frames: nothing else in
		// this frame changes reader state.
		return nil, nil
	}
	ev := &Event{Kind: Statement, Time: t, Session: c.s, Index: idx, Duration: -1}
	flags := d.uv()
	ev.Protocol = Protocol(flags & 3)
	if ev.Protocol > Named {
		return nil, fmt.Errorf("%w: unknown protocol %d", ErrCorrupt, ev.Protocol)
	}
	ev.Text = r.slot(d)
	if ev.Protocol == Named {
		ev.Name = r.slot(d)
	}
	ev.Source = int(d.uv())
	ev.Line = int64(d.uv())
	if flags&stHasDuration != 0 {
		ev.Duration = int64(d.uv())
	}
	if flags&stHasParams != 0 {
		if ev.Params, err = d.params(size); err != nil {
			return nil, err
		}
	}
	if flags&stSkip != 0 {
		ev.Skip = SkipReason(d.byte1())
	}
	if flags&stHasError != 0 {
		ev.Err = r.readError(d)
	}
	ev.Pipelined = flags&stPipelined != 0
	ev.Continued = flags&stContinued != 0
	r.readTx(d, ev, flags&stFingerprint != 0, flags&stVXID != 0, flags&stXID != 0)
	if flags&stSync != 0 {
		ev.Sync = d.readSync(!r.noSync)
	}
	return ev, nil
}

// readTx reads the optional fingerprint, vxid and xid of a version-2
// frame; a version-1 file has none, and its fingerprints are computed here
// so every reader of a workload sees the same ones.
func (r *Reader) readTx(d *dec, ev *Event, fp, vxid, xid bool) {
	if fp {
		if b := d.bytes(8); b != nil {
			ev.Fingerprint = fingerprint.ID(binary.LittleEndian.Uint64(b))
		}
	}
	if vxid {
		ev.VXID = VXID{Backend: uint32(d.uv()), Local: uint32(d.uv())}
	}
	if xid {
		ev.XID = d.uv()
	}
	if !fp && ev.Text != "" {
		ev.Fingerprint, _ = r.fps.Lookup(ev.Text)
	}
}

func (d *dec) params(size int) ([]Param, error) {
	n := d.uv()
	if n > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: %d parameters in a %d-byte frame", ErrCorrupt, n, size)
	}
	ps := make([]Param, n)
	for i := range ps {
		l := d.uv()
		if l == 0 {
			ps[i].Null = true
			continue
		}
		ps[i].Value = string(d.bytes(l - 1))
	}
	return ps, nil
}

func (r *Reader) decodeUpdate(d *dec) (*Event, error) {
	c, err := r.cursor(d)
	if err != nil {
		return nil, err
	}
	idx := d.uv()
	if d.bad || idx >= uint64(c.next) {
		return nil, fmt.Errorf("%w: update of statement %d that session %d has not had", ErrCorrupt, idx, c.s.ID)
	}
	if c.skip {
		return nil, nil
	}
	ev := &Event{Kind: Update, Time: r.clock, Session: c.s, Index: int(idx), Duration: -1}
	flags := d.uv()
	if flags&1 != 0 {
		ev.Duration = int64(d.uv())
	}
	if flags&2 != 0 {
		ev.Err = r.readError(d)
	}
	return ev, nil
}

func (r *Reader) decodeError(d *dec, size int) (*Event, error) {
	sid := d.uv()
	t := r.clock + d.sv()
	if d.bad {
		return nil, nil
	}
	r.clock = t
	ev := &Event{Kind: Error, Time: t, Duration: -1}
	var c *sessionCursor
	if sid != 0 {
		var ok bool
		if c, ok = r.sess[sid]; !ok {
			return nil, fmt.Errorf("%w: error in unknown session %d", ErrCorrupt, sid)
		}
		ev.Index = c.errors
		c.errors++
	}
	ev.Err = r.readError(d)
	ev.Text = r.slot(d)
	ev.Source = int(d.uv())
	ev.Line = int64(d.uv())
	var flags uint64
	if r.header.Version >= 2 {
		flags = d.uv()
		ev.Step = Step(d.byte1())
	}
	ev.Pipelined = flags&erPipelined != 0
	ev.Continued = flags&erContinued != 0
	r.readTx(d, ev, flags&erFingerprint != 0, flags&erVXID != 0, flags&erXID != 0)
	if flags&erParams != 0 {
		var err error
		if ev.Params, err = d.params(size); err != nil {
			return nil, err
		}
	}
	if c != nil {
		if c.skip {
			return nil, nil
		}
		ev.Session = c.s
	}
	return ev, nil
}

func (r *Reader) decodeEnd(d *dec) (*Event, error) {
	c, err := r.cursor(d)
	if err != nil {
		return nil, err
	}
	t := r.clock + d.sv()
	if d.bad {
		return nil, nil
	}
	r.clock = t
	delete(r.sess, c.s.ID)
	if c.skip {
		return nil, nil
	}
	return &Event{Kind: SessionEnd, Time: t, Session: c.s, Duration: -1}, nil
}

func (r *Reader) cursor(d *dec) (*sessionCursor, error) {
	sid := d.uv()
	c, ok := r.sess[sid]
	if !ok || d.bad {
		return nil, fmt.Errorf("%w: frame for session %d, which is not open", ErrCorrupt, sid)
	}
	return c, nil
}
