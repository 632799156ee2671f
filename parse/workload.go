package parse

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// The workload file format. docs/workload-format.md is its specification;
// keep the two in step and bump FormatVersion on any incompatible change.
const (
	// FormatVersion is the version of the workload format this package
	// writes and the newest it reads.
	FormatVersion = 1

	magic = "PGRWKLD"

	compressNone = 0
	compressZstd = 1

	frameHeader  = 'H'
	frameText    = 'T'
	frameClear   = 'C'
	frameSession = 'S'
	frameStmt    = 'Q'
	frameUpdate  = 'U'
	frameError   = 'E'
	frameEnd     = 'X'
	frameTrailer = 'Z'

	// maxFrame bounds a frame's declared length so a corrupt length can
	// not make the reader allocate gigabytes.
	maxFrame = 1 << 30
)

// Text slots keep repeated texts (a named statement executed a million
// times, user and database names) out of every frame. Both sides bound the
// table by slots and bytes; when the writer would exceed either it clears
// the table and starts over, so memory stays flat however long the log.
const (
	defaultTextSlots = 1 << 16
	defaultTextBytes = 16 << 20
)

// Protocol says how a statement reached the server.
type Protocol uint8

// The protocols a statement can have been sent with.
const (
	// Simple is a simple-protocol Query message ("statement: ...").
	Simple Protocol = iota
	// Unnamed is an extended-protocol execute of the unnamed prepared
	// statement ("execute <unnamed>: ...").
	Unnamed
	// Named is an execute of a named prepared statement ("execute S_1:
	// ..."): prepared once per session, executed many times.
	Named
)

func (p Protocol) String() string {
	switch p {
	case Simple:
		return "simple"
	case Unnamed:
		return "extended"
	case Named:
		return "prepared"
	}
	return "unknown"
}

// Header is the first frame of a workload file: what produced it.
type Header struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Producer string `json:"producer"`
	// Sources are the logs the workload was parsed from, in merge order.
	Sources []Source `json:"sources"`
	// Start is the time all frame times are relative to, in Unix
	// microseconds: the start of the capture window as far as the parser
	// knew it when it wrote the header. The trailer has the exact window.
	Start int64 `json:"start_us"`
	// TimePrecisionUS is the coarsest timestamp resolution of the sources
	// (1000 for %m, 1000000 for %t).
	TimePrecisionUS int64 `json:"time_precision_us"`
	// ReorderWindowMS is how far, in log time, frames may come out of time
	// order across sessions; within one session they never do. A reader that
	// schedules by time should read at least this far ahead.
	ReorderWindowMS int64 `json:"reorder_window_ms"`
	// TextSlots and TextBytes bound the text table (see frame T).
	TextSlots int `json:"text_slots"`
	TextBytes int `json:"text_bytes"`
	// Filters records the filters applied while parsing.
	Filters []string `json:"filters,omitempty"`
	// SystemIdentifier is the baseline cluster's system_identifier when
	// it was recorded (parse --baseline).
	SystemIdentifier string `json:"system_identifier,omitempty"`
}

// Source describes one input log.
type Source struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	Prefix      string `json:"log_line_prefix,omitempty"`
	Compression string `json:"compression,omitempty"`
	Bytes       int64  `json:"bytes"`
}

// Param is one bound parameter value, in the text form the log shows.
type Param struct {
	Value string
	Null  bool
}

// EventKind tells which fields of an Event are set.
type EventKind uint8

// The kinds of events a workload holds.
const (
	// SessionStart opens a session: connect at Time as Session.User to
	// Session.Database.
	SessionStart EventKind = iota + 1
	// Statement is one statement to run in Session.
	Statement
	// Update adds what the log said about an already written statement
	// (Session, Index) after the writer had flushed it: its duration or its
	// error. Replay applies it if the statement is still running
	// (a production cancel), compare folds it in.
	Update
	// Error is an error the log attributes to no replayable statement (a
	// syntax error, a failed Bind, a FATAL that ended a session).
	Error
	// SessionEnd closes the session at Time.
	SessionEnd
)

// Session is what the workload knows of one original client session.
type Session struct {
	// ID numbers sessions from 1 in the order the file opens them.
	ID uint64
	// Key is the log's own session identifier (%c, or pid and start).
	Key         string
	PID         int64
	User        string
	Database    string
	Application string
	Client      string
	// Connected is false for a session that started before the log did:
	// its start is its first entry, not a connect line.
	Connected bool
}

// SkipReason marks a statement that is in the workload but must not be
// replayed as it stands. 0 means replayable.
type SkipReason uint8

// The reasons a statement is kept but not replayed.
const (
	Replayable SkipReason = iota
	// SkipCopyFromStdin: the COPY data is not in the log.
	SkipCopyFromStdin
	// SkipTruncatedParams: log_parameter_max_length cut a parameter value.
	SkipTruncatedParams
	// SkipFetchContinuation is never written; fetches fold into their
	// execute. Reserved so codes stay stable.
	SkipFetchContinuation
)

var skipNames = [...]string{"", "copy_from_stdin", "truncated_parameters", "fetch_continuation"}

func (r SkipReason) String() string {
	if int(r) < len(skipNames) {
		return skipNames[r]
	}
	return fmt.Sprintf("reason_%d", r)
}

// StmtError is an error the original log reports for a statement.
type StmtError struct {
	Severity string `json:"severity"`
	SQLState string `json:"sqlstate"`
	// Inferred is true when the log carried no SQLSTATE (stderr without
	// %e) and it was derived from the English message.
	Inferred bool   `json:"inferred,omitempty"`
	Message  string `json:"message"`
}

// Event is one decoded workload record. Strings and slices belong to the
// event; a Reader returns a fresh Event each time.
type Event struct {
	Kind EventKind
	// Time is Unix microseconds: connect time, statement start time, or
	// disconnect time.
	Time    int64
	Session *Session
	// Index numbers the statements of a session from 0, in file order.
	Index    int
	Protocol Protocol
	// Name is the prepared statement name for Named.
	Name   string
	Text   string
	Params []Param
	// Duration is the server-side duration from the log in microseconds,
	// -1 when the log had none.
	Duration int64
	Skip     SkipReason
	Err      *StmtError
	// Source and Line locate the entry in the input logs (Source indexes
	// Header.Sources).
	Source int
	Line   int64
}

// ErrTruncated is returned by a Reader for a file that ends without its
// trailer: the writer was killed or the file was cut.
var ErrTruncated = errors.New("workload file is truncated (no trailer): it was cut off or the parse was killed; parse the log again")

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
)

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
	if ev.Skip != Replayable {
		b = append(b, byte(ev.Skip))
	}
	if ev.Err != nil {
		b = appendError(b, ev.Err, errMsg)
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

// errorEvent writes an error that belongs to no statement. sid is 0 for
// an error outside any replayed session (a failed login).
func (w *writer) errorEvent(sid uint64, t int64, e *StmtError, stmt string, source int, line int64) {
	ids := w.texts(e.Message, stmt)
	msg, st := ids[0], ids[1]
	b := binary.AppendUvarint(w.buf[:0], sid)
	b = binary.AppendVarint(b, t-w.clock)
	w.clock = t
	b = appendError(b, e, msg)
	b = binary.AppendUvarint(b, st)
	b = binary.AppendUvarint(b, uint64(source))
	b = binary.AppendUvarint(b, uint64(line))
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
}

type sessionCursor struct {
	s    *Session
	next int
	skip bool
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

// Header returns the file's header.
func (r *Reader) Header() *Header { return &r.header }

// Trailer returns the summary from the trailer, or nil until Next has
// returned io.EOF.
func (r *Reader) Trailer() *Summary { return r.trailer }

// SetSessionFilter makes Next skip every event of a session for which keep
// returns false (a shard, a database). Statement indexes stay those of the
// whole file. Skipped frames are not decoded past their session id.
func (r *Reader) SetSessionFilter(keep func(*Session) bool) { r.keep = keep }

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
	if errors.Is(err, errCorrupt) {
		return err
	}
	if r.zr != nil {
		return fmt.Errorf("workload file is corrupt (%v): parse the log again", err)
	}
	return err
}

var errCorrupt = errors.New("workload file is corrupt")

func (r *Reader) readFrame() (byte, []byte, error) {
	kind, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		return 0, nil, err
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: frame %d claims %d bytes", errCorrupt, r.frames, n)
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
	switch kind {
	case frameText:
		id := d.uv()
		if d.bad || id != uint64(len(r.slots))+1 || int(id) > r.header.TextSlots {
			return nil, fmt.Errorf("%w: text slot %d out of sequence", errCorrupt, id)
		}
		r.slotB += len(d.b)
		if r.slotB > r.header.TextBytes {
			return nil, fmt.Errorf("%w: text table exceeds the declared %d bytes", errCorrupt, r.header.TextBytes)
		}
		r.slots = append(r.slots, string(d.b))
		return nil, nil
	case frameClear:
		r.slots = r.slots[:0]
		r.slotB = 0
		return nil, nil
	case frameSession:
		s := &Session{ID: d.uv()}
		t := r.clock + d.sv()
		flags := d.uv()
		s.Connected = flags&1 != 0
		s.User, s.Database, s.Application, s.Client = r.slot(d), r.slot(d), r.slot(d), r.slot(d)
		s.PID = d.sv()
		s.Key = d.str()
		if d.bad {
			break
		}
		r.clock = t
		if _, dup := r.sess[s.ID]; dup || s.ID == 0 {
			return nil, fmt.Errorf("%w: session %d opened twice", errCorrupt, s.ID)
		}
		c := &sessionCursor{s: s}
		c.skip = r.keep != nil && !r.keep(s)
		r.sess[s.ID] = c
		if c.skip {
			return nil, nil
		}
		ev = &Event{Kind: SessionStart, Time: t, Session: s, Duration: -1}
	case frameStmt:
		c, err := r.cursor(d)
		if err != nil {
			return nil, err
		}
		t := r.clock + d.sv()
		if d.bad {
			break
		}
		r.clock = t
		idx := c.next
		c.next++
		if c.skip {
			// Text slots were already defined by T frames: nothing else
			// in this frame changes reader state.
			return nil, nil
		}
		ev = &Event{Kind: Statement, Time: t, Session: c.s, Index: idx, Duration: -1}
		flags := d.uv()
		ev.Protocol = Protocol(flags & 3)
		if ev.Protocol > Named {
			return nil, fmt.Errorf("%w: unknown protocol %d", errCorrupt, ev.Protocol)
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
			n := d.uv()
			if n > uint64(len(d.b)) {
				return nil, fmt.Errorf("%w: %d parameters in a %d-byte frame", errCorrupt, n, len(payload))
			}
			ev.Params = make([]Param, n)
			for i := range ev.Params {
				l := d.uv()
				if l == 0 {
					ev.Params[i].Null = true
					continue
				}
				ev.Params[i].Value = string(d.bytes(l - 1))
			}
		}
		if flags&stSkip != 0 {
			ev.Skip = SkipReason(d.byte1())
		}
		if flags&stHasError != 0 {
			ev.Err = r.readError(d)
		}
	case frameUpdate:
		c, err := r.cursor(d)
		if err != nil {
			return nil, err
		}
		idx := d.uv()
		if d.bad || idx >= uint64(c.next) {
			return nil, fmt.Errorf("%w: update of statement %d that session %d has not had", errCorrupt, idx, c.s.ID)
		}
		if c.skip {
			return nil, nil
		}
		ev = &Event{Kind: Update, Time: r.clock, Session: c.s, Index: int(idx), Duration: -1}
		flags := d.uv()
		if flags&1 != 0 {
			ev.Duration = int64(d.uv())
		}
		if flags&2 != 0 {
			ev.Err = r.readError(d)
		}
	case frameError:
		sid := d.uv()
		t := r.clock + d.sv()
		if d.bad {
			break
		}
		r.clock = t
		ev = &Event{Kind: Error, Time: t, Duration: -1}
		if sid != 0 {
			c, ok := r.sess[sid]
			if !ok {
				return nil, fmt.Errorf("%w: error in unknown session %d", errCorrupt, sid)
			}
			if c.skip {
				return nil, nil
			}
			ev.Session = c.s
		}
		ev.Err = r.readError(d)
		ev.Text = r.slot(d)
		ev.Source = int(d.uv())
		ev.Line = int64(d.uv())
	case frameEnd:
		c, err := r.cursor(d)
		if err != nil {
			return nil, err
		}
		t := r.clock + d.sv()
		if d.bad {
			break
		}
		r.clock = t
		delete(r.sess, c.s.ID)
		if c.skip {
			return nil, nil
		}
		ev = &Event{Kind: SessionEnd, Time: t, Session: c.s, Duration: -1}
	case frameTrailer:
		var s Summary
		if err := json.Unmarshal(payload, &s); err != nil {
			return nil, fmt.Errorf("%w: bad trailer: %v", errCorrupt, err)
		}
		r.trailer = &s
		return nil, nil
	case frameHeader:
		return nil, fmt.Errorf("%w: second header", errCorrupt)
	default:
		// Unknown frames are skipped so a newer minor revision can add
		// frames older readers may ignore; kinds are capital letters, so
		// anything else is damage.
		if kind < 'A' || kind > 'Z' {
			return nil, fmt.Errorf("%w: frame kind %#x", errCorrupt, kind)
		}
		return nil, nil
	}
	if d.bad {
		return nil, fmt.Errorf("%w: frame %q is shorter than its fields", errCorrupt, kind)
	}
	return ev, nil
}

func (r *Reader) cursor(d *dec) (*sessionCursor, error) {
	sid := d.uv()
	c, ok := r.sess[sid]
	if !ok || d.bad {
		return nil, fmt.Errorf("%w: frame for session %d, which is not open", errCorrupt, sid)
	}
	return c, nil
}
