package replay

import (
	"io"
	"net"
	"os"
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
	return &directConn{Conn: c, rc: rc}
}

func (c *directConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			n, errno = int(r), e
			return true
		}
	})
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

func (c *directConn) Write(b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, err
	}
	if errno != 0 {
		return n, c.opError("write", errno)
	}
	return n, nil
}

// opError is the error net.Conn would have returned.
func (c *directConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}
