package parse

import "io"

// readahead runs a slow reader (a decompressor) on its own goroutine.
type readahead struct {
	ch       chan []byte
	free     chan []byte
	done     chan struct{}
	finished chan struct{}
	cur      []byte
	buf      []byte
	err      error
	errc     chan error
}

func newReadahead(r io.Reader) *readahead {
	ra := &readahead{ch: make(chan []byte, 3), free: make(chan []byte, 4), done: make(chan struct{}),
		finished: make(chan struct{}), errc: make(chan error, 1)}
	for i := 0; i < 4; i++ {
		ra.free <- make([]byte, 1<<20)
	}
	go func() {
		defer close(ra.finished)
		defer close(ra.ch)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := 0, error(nil)
			for n < len(b) && err == nil {
				var m int
				m, err = r.Read(b[n:])
				n += m
			}
			if n > 0 {
				select {
				case ra.ch <- b[:n]:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

// Close stops the goroutine and waits for it to end, so that the reader
// under it (a zstd decoder) can be closed safely afterwards. The read in
// progress, at most one buffer, is finished first.
func (ra *readahead) Close() {
	close(ra.done)
	<-ra.finished
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.ch
		if !ok {
			if ra.err == nil {
				select {
				case ra.err = <-ra.errc:
				default:
					ra.err = io.ErrClosedPipe
				}
			}
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}
