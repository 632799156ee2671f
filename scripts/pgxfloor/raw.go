package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"unsafe"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sys/unix"
)

// rawExec takes c's socket from pgconn and runs statements on it with
// nothing between the program and the kernel but Go's network poller:
// the statement's messages encoded into one reused buffer, sent with one
// write system call, the answer read with read system calls made
// directly (syscall.RawConn), waiting in the poller when the socket is
// empty. It is the floor of any Go client, pgx or not: what remains is
// the Go runtime and the kernel.
func rawExec(c *pgconn.PgConn) (execer, error) {
	hc, err := c.Hijack()
	if err != nil {
		return nil, fmt.Errorf("take the connection from pgconn: %w", err)
	}
	sc, ok := hc.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("the connection is not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []byte
	in := make([]byte, 64<<10)
	var ioErr error
	var n, have int
	// One function for every read, made once: a closure per read would
	// allocate.
	readFn := func(fd uintptr) bool {
		n, ioErr = rawIO(syscall.SYS_READ, int(fd), in[have:])
		return ioErr != unix.EAGAIN
	}
	writeFn := func(fd uintptr) bool {
		var w int
		w, ioErr = rawIO(syscall.SYS_WRITE, int(fd), out)
		if ioErr == nil && w < len(out) {
			out = out[w:] // the rest when the socket has room again
			return false
		}
		return ioErr != unix.EAGAIN
	}
	return func(j int, params [][]byte) error {
		out = out[:0]
		out, _ = (&pgproto3.Bind{PreparedStatement: names[j], Parameters: params}).Encode(out)
		out, _ = (&pgproto3.Execute{}).Encode(out)
		out, _ = (&pgproto3.Sync{}).Encode(out)
		if err := rc.Write(writeFn); err != nil || ioErr != nil {
			return errors.Join(err, ioErr)
		}
		// Read until ReadyForQuery; an answer is far smaller than in, but
		// a message may still be split across reads.
		have = 0
		for {
			if err := rc.Read(readFn); err != nil || ioErr != nil {
				return errors.Join(err, ioErr)
			}
			if n == 0 {
				return errors.New("the server closed the connection")
			}
			have += n
			done, bad := scan(in[:have])
			if bad != nil {
				return bad
			}
			if done {
				return nil
			}
			if have == len(in) {
				return errors.New("answer larger than the buffer")
			}
		}
	}, nil
}

// rawIO is read(2) or write(2) without telling the scheduler: the socket
// is non-blocking, so it returns at once.
func rawIO(call uintptr, fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(call, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// scan walks whole messages in b: done at ReadyForQuery, an error at an
// ErrorResponse.
func scan(b []byte) (done bool, err error) {
	for len(b) >= 5 {
		l := int(binary.BigEndian.Uint32(b[1:5])) + 1
		if len(b) < l {
			return false, nil
		}
		switch b[0] {
		case 'E':
			return false, errors.New("the server answered with an error")
		case 'Z':
			return true, nil
		}
		b = b[l:]
	}
	return false, nil
}

// rawIOConn is a socket whose reads and writes are made directly, as
// rawExec's are, under pgconn: with it the floor is pgconn's own code on
// the bare floor, without Go's cost of a blocking system call.
type rawIOConn struct {
	net.Conn
	rc      syscall.RawConn
	b       []byte
	n       int
	err     error
	rfn, wf func(fd uintptr) bool
}

func newRawIOConn(c net.Conn) (net.Conn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &rawIOConn{Conn: c, rc: rc}
	r.rfn = func(fd uintptr) bool {
		r.n, r.err = rawIO(syscall.SYS_READ, int(fd), r.b)
		return r.err != unix.EAGAIN
	}
	r.wf = func(fd uintptr) bool {
		var w int
		w, r.err = rawIO(syscall.SYS_WRITE, int(fd), r.b)
		if r.err == nil && w < len(r.b) {
			r.n += w
			r.b = r.b[w:]
			return false
		}
		r.n += w
		return r.err != unix.EAGAIN
	}
	return r, nil
}

func (r *rawIOConn) Read(b []byte) (int, error) {
	r.b = b
	if err := r.rc.Read(r.rfn); err != nil {
		return 0, err
	}
	if r.err == nil && r.n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return r.n, r.err
}

func (r *rawIOConn) Write(b []byte) (int, error) {
	r.b, r.n = b, 0
	if err := r.rc.Write(r.wf); err != nil {
		return r.n, err
	}
	return r.n, r.err
}
