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
//     and made by the next read, once that read has begun: then no answer
//     can have come before, and the read waits first.
//
// Waiting, deadlines (the cancel of a statement) and closing stay Go's
// (syscall.RawConn): only the system calls are made differently.
type directConn struct {
	net.Conn
	rc syscall.RawConn
	// What one read or one write is doing, for the functions RawConn
	// calls, which are made once: a closure per call would be three
	// allocations per read and per write, several per statement. The
	// mutexes keep it right when a read and a write run at once (pgconn's
	// background reader, while a large write waits) or reads (or writes)
	// ever do; pgconn makes one at a time.
	rmu, wmu        sync.Mutex
	rd, wr          rawIO
	readFn, writeFn func(fd uintptr) bool
	// kept is what Write has kept for the next read to send (wmu).
	kept []byte
}

// keepMax is the most Write keeps for the next read to send. A statement
// (Bind, Describe, Execute, Sync) is a few hundred bytes; a larger write,
// a pipeline of many, is made at once, so pgconn's guard against both
// ends writing at once still covers it.
const keepMax = 8 << 10

// rawIO is one read or write: its buffer and what the system call said.
type rawIO struct {
	b     []byte
	n     int
	errno syscall.Errno
	// send (reads): send kept first; sent: that was tried.
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
	d.readFn, d.writeFn = d.readSocket, d.writeSocket
	return d
}

func (c *directConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// A write under way (a large one, with pgconn's background reader
	// reading meanwhile) sends what was kept itself.
	send := c.wmu.TryLock()
	if send && len(c.kept) == 0 {
		c.wmu.Unlock()
		send = false
	}
	c.rd = rawIO{b: b, send: send}
	err := c.rc.Read(c.readFn)
	if c.rd.send {
		// Not tried: the read ended first (a deadline, a close).
		c.wmu.Unlock()
	} else if c.rd.sent {
		// The kept write could not all be made without waiting, or
		// failed: finish it, then read.
		err = c.sendKept()
		c.wmu.Unlock()
		if err == nil {
			c.rd = rawIO{b: b}
			err = c.rc.Read(c.readFn)
		}
	}
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

// readSocket reads once into c.rd.b; false asks RawConn to wait until the
// socket is readable and call again. Asked to (holding wmu), it first
// sends what was kept: when all of it goes, it lets wmu go and waits
// without reading, since the answer can not have come yet; when not, it
// leaves the rest to Read.
func (c *directConn) readSocket(fd uintptr) bool {
	if c.rd.send {
		c.rd.send = false
		c.wr = rawIO{b: c.kept}
		if c.writeSocket(fd) && c.wr.errno == 0 {
			c.kept, c.wr.b = c.kept[:0], nil
			c.wmu.Unlock()
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

// sendKept finishes sending what was kept, as much as the first try left
// (c.wr), waiting for the socket as a write does. It holds wmu.
func (c *directConn) sendKept() error {
	defer func() { c.kept, c.wr.b = c.kept[:0], nil }()
	if c.wr.errno == 0 && c.wr.n < len(c.kept) {
		if err := c.rc.Write(c.writeFn); err != nil {
			return err
		}
	}
	if c.wr.errno != 0 {
		return c.opError("write", c.wr.errno)
	}
	return nil
}

// Write keeps a small write for the next read to send, and makes a large
// one, after what was kept, at once.
func (c *directConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.kept)+len(b) <= keepMax {
		c.kept = append(c.kept, b...)
		return len(b), nil
	}
	if len(c.kept) > 0 {
		c.wr = rawIO{b: c.kept}
		if err := c.sendKept(); err != nil {
			return 0, err
		}
	}
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

// writeSocket writes what is left of c.wr.b; false asks RawConn to wait
// until the socket is writable and call again.
func (c *directConn) writeSocket(fd uintptr) bool {
	b := c.wr.b
	for c.wr.n < len(b) {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[c.wr.n])), uintptr(len(b)-c.wr.n))
		switch e {
		case 0:
			c.wr.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.wr.errno = e
			return true
		}
	}
	return true
}

// Close sends what was kept (pgconn's Terminate, a TLS close alert) if the
// socket takes it at once, then closes.
func (c *directConn) Close() error {
	c.wmu.Lock()
	if len(c.kept) > 0 {
		c.wr = rawIO{b: c.kept}
		c.rc.Write(func(fd uintptr) bool { c.writeSocket(fd); return true })
		c.kept, c.wr.b = c.kept[:0], nil
	}
	c.wmu.Unlock()
	return c.Conn.Close()
}

// opError is the error net.Conn would have returned.
func (c *directConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}
