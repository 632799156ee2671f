package calibrate

import (
	"fmt"
	"math"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// workloadProfile is the workload's statements per second of its time.
type workloadProfile struct {
	// start is the first second (Unix µs, whole seconds), counts the
	// statements of each second from it.
	start  int64
	counts []int64
	total  int64
	// peak is the trailer's peak statements per second.
	peak int64
	// sessions are the workload's sessions and when each was open.
	sessions []span
}

// span is a session and its first and last event (Unix µs).
type span struct {
	s           parse.Session
	first, last int64
}

// openAt lists the sessions open at us: connected before it, not yet
// gone.
func (p *workloadProfile) openAt(us int64) []*parse.Session {
	var out []*parse.Session
	for i := range p.sessions {
		if sp := &p.sessions[i]; sp.first < us && sp.last >= us {
			out = append(out, &sp.s)
		}
	}
	return out
}

// profile reads the workload once and counts its statements per second.
func profile(open func() (*parse.Reader, func(), error)) (*workloadProfile, error) {
	r, closeR, err := open()
	if err != nil {
		return nil, err
	}
	defer closeR()
	p := &workloadProfile{start: -1}
	index := map[uint64]int{}
	for ev, err := range r.Events() {
		if err != nil {
			return nil, fmt.Errorf("calibrate: read the workload: %w", err)
		}
		if ev.Session != nil {
			i, ok := index[ev.Session.ID]
			if !ok {
				i = len(p.sessions)
				index[ev.Session.ID] = i
				p.sessions = append(p.sessions, span{s: *ev.Session, first: ev.Time})
			}
			p.sessions[i].last = max(p.sessions[i].last, ev.Time)
		}
		if ev.Kind != parse.Statement {
			continue
		}
		sec := ev.Time - ev.Time%1_000_000
		if p.start < 0 {
			p.start = sec
		}
		if sec < p.start {
			// A statement the log wrote out of order, before the first
			// one: count it with the first second.
			sec = p.start
		}
		i := int((sec - p.start) / 1_000_000)
		for len(p.counts) <= i {
			p.counts = append(p.counts, 0)
		}
		p.counts[i]++
		p.total++
	}
	if tr := r.Trailer(); tr != nil {
		p.peak = tr.PeakStatementsPerSecond
	}
	if p.peak == 0 {
		for _, c := range p.counts {
			p.peak = max(p.peak, c)
		}
	}
	return p, nil
}

// busiest returns the stretch of n whole seconds with the most
// statements (the whole workload when it is shorter), earliest first
// among equals.
func (p *workloadProfile) busiest(n int) (time.Time, time.Time) {
	n = max(1, min(n, len(p.counts)))
	var sum, best int64 = 0, math.MinInt64
	at := 0
	for i, c := range p.counts {
		sum += c
		if i >= n {
			sum -= p.counts[i-n]
		}
		if i >= n-1 && sum > best {
			best, at = sum, i-n+1
		}
	}
	begin := p.start + int64(at)*1_000_000
	// End is inclusive in replay.Options: the last µs of the stretch.
	return time.UnixMicro(begin), time.UnixMicro(begin + int64(n)*1_000_000 - 1)
}
