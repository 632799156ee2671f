//go:build linux

package replay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection, the first made
// direct.
func pair(t *testing.T) (*directConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	d, ok := direct(c).(*directConn)
	if !ok {
		t.Fatal("a TCP connection was not made direct")
	}
	t.Cleanup(func() { d.Close(); peer.Close() })
	return d, peer
}

// TestDirectConnMovesBytes writes more than the socket buffers hold both
// ways, so writes meet a full socket (EAGAIN) and reads an empty one, and
// checks every byte arrives in order.
func TestDirectConnMovesBytes(t *testing.T) {
	d, peer := pair(t)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		w    io.Writer
		r    io.Reader
	}{{"direct writes", d, peer}, {"direct reads", peer, d}} {
		t.Run(tc.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				n, err := tc.w.Write(data)
				if err == nil && n != len(data) {
					err = io.ErrShortWrite
				}
				errc <- err
			}()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(tc.r, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the bytes read differ from the bytes written")
			}
		})
	}
}

// TestDirectConnDeadline: a read deadline (how a statement's cancel
// unblocks pgconn) ends a waiting read with a timeout, and once cleared
// the connection works again.
func TestDirectConnDeadline(t *testing.T) {
	d, peer := pair(t)
	d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := d.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline returned %v, want a timeout", err)
	}
	d.SetReadDeadline(time.Time{})
	if _, err := peer.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	n, err := d.Read(b)
	if err != nil || string(b[:n]) != "ok" {
		t.Fatalf("read after the deadline was cleared: %q, %v", b[:n], err)
	}
}

// TestDirectConnPeerGone: the other end closing is io.EOF on read; a
// reset connection is an error naming the operation, on write.
func TestDirectConnPeerGone(t *testing.T) {
	d, peer := pair(t)
	peer.(*net.TCPConn).SetLinger(0) // close with a reset
	peer.Close()
	if _, err := d.Read(make([]byte, 10)); err != nil && !errors.Is(err, io.EOF) {
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("read from a reset connection: %v", err)
		}
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = d.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("writes to a reset connection returned %v, want a write error", err)
	}

	d2, peer2 := pair(t)
	peer2.Close()
	if _, err := d2.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a closed connection returned %v, want io.EOF", err)
	}
}

// TestDirectConnClosed: a read waiting when the connection is closed
// returns net.ErrClosed, as net.Conn's does.
func TestDirectConnClosed(t *testing.T) {
	d, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	d.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection returned %v, want net.ErrClosed", err)
	}
}
