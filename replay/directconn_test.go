//go:build linux

package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
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
// reset connection is an error naming the operation: on the read that
// sends a kept write, that write's.
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
		if _, err = d.Write([]byte("x")); err != nil {
			t.Fatalf("a small write returned %v: it should be kept for the read", err)
		}
		_, err = d.Read(make([]byte, 10))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("a write to a reset connection, sent by the read after it, returned %v, want a write error", err)
	}

	d2, peer2 := pair(t)
	peer2.Close()
	if _, err := d2.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a closed connection returned %v, want io.EOF", err)
	}
}

// TestDirectConnRoundTrips: statement and answer, many times over: each
// small write is kept, sent by the read after it, which waits for the
// answer without reading first. A write larger than keepMax goes at once;
// what is kept when the connection closes is sent before it closes.
func TestDirectConnRoundTrips(t *testing.T) {
	d, peer := pair(t)
	go io.Copy(peer, peer) // echo
	buf := make([]byte, 64)
	for i := range 1000 {
		msg := []byte(fmt.Sprintf("statement %d", i))
		if _, err := d.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(d, buf[:len(msg)]); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		if !bytes.Equal(buf[:len(msg)], msg) {
			t.Fatalf("round trip %d: read %q, want %q", i, buf[:len(msg)], msg)
		}
	}

	d2, peer2 := pair(t)
	big := bytes.Repeat([]byte("b"), keepMax+1)
	if _, err := d2.Write(big); err != nil {
		t.Fatal(err)
	}
	peer2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer2, make([]byte, len(big))); err != nil {
		t.Fatalf("a write larger than keepMax did not go at once: %v", err)
	}
	if _, err := d2.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	d2.Close()
	got, err := io.ReadAll(peer2)
	if err != nil || string(got) != "bye" {
		t.Fatalf("after close the peer read %q, %v; want the kept write, then the end", got, err)
	}
}

// TestDirectConnReadsWhileWriting: a read while a large write waits for
// the socket (pgconn's background reader) must not wait for the write,
// or neither end could go on: the peer echoes, and stops reading while
// its own writes are blocked.
func TestDirectConnReadsWhileWriting(t *testing.T) {
	d, peer := pair(t)
	go io.Copy(peer, peer)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	errc := make(chan error, 1)
	go func() {
		_, err := d.Write(data)
		errc <- err
	}()
	d.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(data))
	if _, err := io.ReadFull(d, got); err != nil {
		t.Fatalf("reading while writing: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the echo differs from what was written")
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

// TestDirectConnWriteDuringRead: a small write made while a read already
// waits (pgconn's background reader, started when a write was slow) goes
// at once; kept for a read, it would wait for an answer to a statement
// the server never got.
func TestDirectConnWriteDuringRead(t *testing.T) {
	d, peer := pair(t)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 16)
		n, _ := d.Read(b)
		got <- b[:n]
	}()
	waitFor(t, "the read to begin", func() bool {
		d.km.Lock()
		defer d.km.Unlock()
		return d.reading
	})
	if _, err := d.Write([]byte("select 1")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 8)
	if _, err := io.ReadFull(peer, b); err != nil {
		t.Fatalf("a write made while a read waited did not reach the peer: %v", err)
	}
	if _, err := peer.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	if r := <-got; string(r) != "1" {
		t.Fatalf("the waiting read returned %q, want the answer", r)
	}
}

// TestDirectConnDeadlineKeepsWrite: a read that ends at its deadline
// before it could send what was kept puts it back: the next read sends
// it, then what was kept after it, in order.
func TestDirectConnDeadlineKeepsWrite(t *testing.T) {
	d, peer := pair(t)
	d.Write([]byte("first "))
	d.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := d.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline returned %v, want a timeout", err)
	}
	d.Write([]byte("second"))
	d.SetReadDeadline(time.Time{})
	go func() {
		b := make([]byte, 12)
		io.ReadFull(peer, b)
		peer.Write(b)
	}()
	b := make([]byte, 12)
	if _, err := io.ReadFull(d, b); err != nil || string(b) != "first second" {
		t.Fatalf("after the deadline the peer got %q (%v), want both writes in order", b, err)
	}
}

// TestDirectConnFullSocket: what was kept meets a full socket when the
// read sends it. The rest goes from its own goroutine while the read
// waits, and a write made meanwhile goes after it; the peer reads them
// all in order.
func TestDirectConnFullSocket(t *testing.T) {
	d, peer := pair(t)
	var filled int
	d.rc.Write(func(fd uintptr) bool {
		chunk := make([]byte, 4096)
		for {
			n, err := syscall.Write(int(fd), chunk)
			if err != nil {
				return true
			}
			filled += n
		}
	})
	if filled == 0 {
		t.Fatal("could not fill the socket")
	}
	if _, err := d.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, err := d.Read(b)
		answer <- fmt.Sprint(string(b[:n]), err)
	}()
	waitFor(t, "the read to take the kept write", func() bool {
		d.km.Lock()
		defer d.km.Unlock()
		return d.reading && d.busy
	})
	wrote := make(chan error, 1)
	go func() {
		_, err := d.Write([]byte("after"))
		wrote <- err
	}()
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, filled+len("keptafter"))
	if _, err := io.ReadFull(peer, b); err != nil {
		t.Fatalf("the peer read %v", err)
	}
	if tail := string(b[filled:]); tail != "keptafter" {
		t.Fatalf("after the filler the peer read %q, want %q", tail, "keptafter")
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("ok"))
	if a := <-answer; a != "ok<nil>" {
		t.Fatalf("the read returned %s, want ok", a)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
