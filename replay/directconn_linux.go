package replay

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directConn is a session's connection to the target with cheaper reads
// and writes. A replayed statement costs one write and one read, and on a
// light load each of them used to cost the process more than the
// statement's own work:
//
//   - Go makes every read and write of a socket a system call that might
//     block, so it tells the scheduler on the way in and out, and wakes
//     the runtime's monitor thread when it was asleep: on a light load it
//     always is, so each statement woke it twice and it slept again.
//     The socket is non-blocking, so a read or write returns at once:
//     made directly, nothing else wakes.
//   - Go reads before it waits: it forgets, when a read begins, that the
//     socket became readable before, so a read that waited first would
//     miss an answer that had already come. Right after a statement is
//     sent its answer has not come, so that first read was a system call
//     for nothing, on every statement. A small write is therefore kept
//     and sent by the next read, once that read has begun: then no answer
//     can have come before, and the read waits first.
//
// A kept write must never wait for a read that has already begun: that
// read would wait for the answer to a statement that was never sent.
// pgconn reads while it writes when a write is slow (its background
// reader, against both ends' buffers filling), so a write made while a
// read is under way goes at once, after whatever that read took to send.
//
// Waiting, deadlines (the cancel of a statement) and closing stay Go's
// (syscall.RawConn): only the system calls are made differently.
type directConn struct {
	net.Conn
	rc syscall.RawConn
	// What one read or one write is doing, for the functions RawConn
	// calls, which are made once: a closure per call would be three
	// allocations per read and per write, several per statement. rmu and
	// wmu keep it right if reads (or writes) ever run at once; pgconn
	// makes one of each at a time.
	rmu, wmu        sync.Mutex
	rd, wr          rawIO
	readFn, writeFn func(fd uintptr) bool

	// km guards reading, kept, busy and perr: whether a read is under
	// way, the small writes kept for the next read to send, and whether a
	// read took them (pend) and has not sent them all yet.
	km      sync.Mutex
	reading bool
	kept    []byte
	busy    bool
	// pmu is held while busy, so a write made then can wait for the
	// pending write to go before it goes.
	pmu    sync.Mutex
	pend   rawIO
	pendFn func(fd uintptr) bool
	// sending is the rest of a pending write that did not all go at once,
	// sent by its own goroutine (so the read can read meanwhile); perr is
	// its failure, for the next write to return.
	sending sync.WaitGroup
	perr    error
}

// keepMax is the most Write keeps for the next read to send. A statement
// (Bind, Describe, Execute, Sync) is a few hundred bytes; a larger write,
// a pipeline of many, is made at once.
const keepMax = 8 << 10

// rawIO is one read or write: its buffer and what the system call said.
type rawIO struct {
	b     []byte
	n     int
	errno syscall.Errno
	// Reads: send the pending write first; sent: that was tried and did
	// not all go.
	send, sent bool
}

// direct wraps c when its socket allows it (TCP and Unix sockets).
func direct(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	d := &directConn{Conn: c, rc: rc}
	d.readFn, d.writeFn, d.pendFn = d.readSocket, d.writeSocket, d.writePending
	return d
}

func (c *directConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rd = rawIO{b: b, send: c.beginRead()}
	err := c.rc.Read(c.readFn)
	switch {
	case c.rd.send:
		// Not tried: the read ended first (a deadline, a close).
		c.putBack()
	case c.rd.sent:
		if err = c.sendRest(); err == nil {
			c.rd = rawIO{b: b}
			err = c.rc.Read(c.readFn)
		}
	}
	c.km.Lock()
	c.reading = false
	c.km.Unlock()
	n, errno := c.rd.n, c.rd.errno
	c.rd.b = nil // the caller's buffer is not kept
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// beginRead marks a read under way and takes what was kept for it to
// send; it says whether there is any. Nothing is kept while an earlier
// pending write is still going (busy), so pmu is free but for a write's
// moment of waiting on it.
func (c *directConn) beginRead() bool {
	c.km.Lock()
	defer c.km.Unlock()
	c.reading = true
	if len(c.kept) == 0 {
		return false
	}
	c.pend.b, c.kept = c.kept, c.pend.b[:0]
	c.busy = true
	c.pmu.Lock()
	return true
}

// pendingSent ends a pending write: sent, failed, or put back.
func (c *directConn) pendingSent(err error) {
	c.km.Lock()
	c.busy = false
	if err != nil {
		c.perr = err
	}
	c.km.Unlock()
	c.pmu.Unlock()
}

// putBack returns a pending write no read sent to the front of what is
// kept. Nothing was kept meanwhile (busy).
func (c *directConn) putBack() {
	c.km.Lock()
	c.kept, c.pend.b = append(c.pend.b, c.kept...), c.kept[:0]
	c.busy = false
	c.km.Unlock()
	c.pmu.Unlock()
}

// sendRest deals with a pending write that did not all go in the read:
// a failure is the read's; the rest goes from a goroutine of its own,
// since this end may have to read before the other end takes more.
func (c *directConn) sendRest() error {
	if e := c.pend.errno; e != 0 {
		c.pend = rawIO{b: c.pend.b[:0]}
		err := c.opError("write", e)
		c.pendingSent(err)
		return err
	}
	c.sending.Add(1)
	go func() {
		defer c.sending.Done()
		err := c.rc.Write(c.pendFn)
		if err == nil && c.pend.errno != 0 {
			err = c.opError("write", c.pend.errno)
		}
		c.pend = rawIO{b: c.pend.b[:0]}
		c.pendingSent(err)
	}()
	return nil
}

// readSocket reads once into c.rd.b; false asks RawConn to wait until the
// socket is readable and call again. Asked to (holding pmu), it first
// sends the pending write: when all of it goes, it lets pmu go and waits
// without reading, since the answer can not have come yet; when not, it
// leaves the rest to Read.
func (c *directConn) readSocket(fd uintptr) bool {
	if c.rd.send {
		c.rd.send = false
		c.pend.n, c.pend.errno = 0, 0
		if c.writePending(fd) && c.pend.errno == 0 {
			c.pend.b = c.pend.b[:0]
			c.pendingSent(nil)
			return false
		}
		c.rd.sent = true
		return true
	}
	b := c.rd.b
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rd.n, c.rd.errno = int(r), e
		return true
	}
}

// Write keeps a small write for the next read to send. It makes a large
// one at once, after what was kept, and so any made while a read is under
// way or a pending write is still going, after that write.
func (c *directConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var earlier []byte
	for {
		c.km.Lock()
		if err := c.perr; err != nil {
			c.km.Unlock()
			return 0, err
		}
		if !c.reading && !c.busy && len(c.kept)+len(b) <= keepMax {
			c.kept = append(c.kept, b...)
			c.km.Unlock()
			return len(b), nil
		}
		if !c.busy {
			if len(c.kept) > 0 {
				earlier, c.kept = c.kept, nil
			}
			c.km.Unlock()
			break
		}
		// Wait for the pending write to go (or be put back), then look
		// again.
		c.km.Unlock()
		c.pmu.Lock()
		c.pmu.Unlock()
	}
	if len(earlier) > 0 {
		if _, err := c.writeNow(earlier); err != nil {
			return 0, err
		}
	}
	return c.writeNow(b)
}

// writeNow writes b, waiting for the socket as net.Conn does (wmu).
func (c *directConn) writeNow(b []byte) (int, error) {
	c.wr = rawIO{b: b}
	err := c.rc.Write(c.writeFn)
	n, errno := c.wr.n, c.wr.errno
	c.wr.b = nil
	if err != nil {
		return n, err
	}
	if errno != 0 {
		return n, c.opError("write", errno)
	}
	return n, nil
}

// writeSocket writes what is left of c.wr; false asks RawConn to wait
// until the socket is writable and call again.
func (c *directConn) writeSocket(fd uintptr) bool { return writeAll(fd, &c.wr) }

// writePending writes what is left of the pending write (pmu).
func (c *directConn) writePending(fd uintptr) bool { return writeAll(fd, &c.pend) }

// writeAll writes what is left of w.b; false: the socket is full.
func writeAll(fd uintptr, w *rawIO) bool {
	for w.n < len(w.b) {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.b[w.n])), uintptr(len(w.b)-w.n))
		switch e {
		case 0:
			w.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.errno = e
			return true
		}
	}
	return true
}

// Close sends what was kept (pgconn's Terminate, a TLS close alert) if
// the socket takes it at once, closes, and waits for a pending write's
// goroutine, which the close ends.
func (c *directConn) Close() error {
	c.km.Lock()
	last := rawIO{b: c.kept}
	c.kept = nil
	c.km.Unlock()
	if len(last.b) > 0 {
		c.rc.Write(func(fd uintptr) bool { writeAll(fd, &last); return true })
	}
	err := c.Conn.Close()
	c.sending.Wait()
	return err
}

// opError is the error net.Conn would have returned.
func (c *directConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}
