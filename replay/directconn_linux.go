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
//
// It still reads before it waits, as Go does: Go forgets, when a read
// begins, that the socket became readable before, so a read that waited
// first would miss an answer that had already come.
//
// Waiting, deadlines (the cancel of a statement) and closing stay Go's
// (syscall.RawConn): only the system calls are made differently.
type directConn struct {
	net.Conn
	rc syscall.RawConn
	// What one read or one write is doing, for the functions RawConn
	// calls, which are made once: a closure per call would be three
	// allocations per read and per write, several per statement. The
	// mutexes keep it right if reads (or writes) ever run at once; pgconn
	// makes one at a time.
	rmu, wmu        sync.Mutex
	rd, wr          rawIO
	readFn, writeFn func(fd uintptr) bool
}

// rawIO is one read or write: its buffer and what the system call said.
type rawIO struct {
	b     []byte
	n     int
	errno syscall.Errno
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
	c.rd = rawIO{b: b}
	err := c.rc.Read(c.readFn)
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
// socket is readable and call again.
func (c *directConn) readSocket(fd uintptr) bool {
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

func (c *directConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
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

// opError is the error net.Conn would have returned.
func (c *directConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}
