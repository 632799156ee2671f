package parse

import (
	"encoding/binary"
	"fmt"
)

// Sync is what commit-order synchronisation (replay --sync) needs of a
// statement: the statements of other sessions that production had
// finished, or had sent, before this one began, so that on the target the
// statement waits for them and sessions take their locks in production's
// order. Each list names only statements the session had not already
// waited for with an earlier statement.
type Sync struct {
	// AfterCommit is for --sync commit: the end of the transaction that
	// production saw finish last before this statement began, in another
	// session (its COMMIT, END, ROLLBACK, a failed statement, or an
	// autocommit statement that wrote). Transactions that only read are
	// not counted.
	AfterCommit []Ref
	// AfterObjects is for --sync objects: for each relation this
	// statement touches, the end of the last transaction that touched it
	// and finished before this statement began, in another session.
	AfterObjects []Ref
	// AfterLocks, for both modes, are the statements of the sessions that
	// held a lock this one waited for in production (log_lock_waits): the
	// statement each holder had run, or was running, when the wait began.
	AfterLocks []Ref
}

// Ref names a statement of another session that one waits for.
type Ref struct {
	// Session and Index are the statement (Event.Session.ID, Event.Index).
	Session uint64
	Index   int
	// From is the first statement of its transaction: when that
	// transaction fails on the target at or after From, it holds nothing
	// any more and the waiter goes on.
	From int
	// GapUS is how long before the waiting statement it began in
	// production (µs): replay bounds the wait by a multiple of it.
	GapUS int64
	// Sent: wait until it has been sent, not until it has finished (a
	// holder that was itself still running when the wait began).
	Sent bool
}

func (r Ref) String() string {
	how := "finished"
	if r.Sent {
		how = "sent"
	}
	return fmt.Sprintf("session %d statement %d (%s)", r.Session, r.Index, how)
}

// empty reports whether s names nothing to wait for.
func (s *Sync) empty() bool {
	return s == nil || len(s.AfterCommit)+len(s.AfterObjects)+len(s.AfterLocks) == 0
}

// maxRefs bounds a list: a frame can not make the reader allocate much.
const maxRefs = 64

func appendRefs(b []byte, refs []Ref) []byte {
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, r := range refs {
		b = binary.AppendUvarint(b, r.Session)
		b = binary.AppendUvarint(b, uint64(r.Index))
		b = binary.AppendUvarint(b, uint64(r.Index-r.From))
		b = binary.AppendUvarint(b, uint64(max(r.GapUS, 0)))
		var f byte
		if r.Sent {
			f = 1
		}
		b = append(b, f)
	}
	return b
}

// appendSync writes a statement frame's sync lists (flag stSync).
func appendSync(b []byte, s *Sync) []byte {
	b = appendRefs(b, s.AfterCommit)
	b = appendRefs(b, s.AfterObjects)
	return appendRefs(b, s.AfterLocks)
}

// refs reads a list of refs; with keep false it reads past them and
// allocates nothing.
func (d *dec) refs(keep bool) []Ref {
	n := d.uv()
	if n == 0 || d.bad {
		return nil
	}
	if n > maxRefs || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	var refs []Ref
	if keep {
		refs = make([]Ref, n)
	}
	var r Ref
	for i := range n {
		r.Session = d.uv()
		idx, back := d.uv(), d.uv()
		if idx > 1<<40 || back > idx {
			d.bad = true
			return nil
		}
		r.Index, r.From = int(idx), int(idx-back)
		gap := d.uv()
		if gap > 1<<62 {
			d.bad = true
			return nil
		}
		r.GapUS = int64(gap)
		r.Sent = d.byte1()&1 != 0
		if keep {
			refs[i] = r
		}
	}
	return refs
}

// readSync reads what appendSync wrote; with keep false it reads past it
// and returns nil.
func (d *dec) readSync(keep bool) *Sync {
	s := &Sync{AfterCommit: d.refs(keep), AfterObjects: d.refs(keep), AfterLocks: d.refs(keep)}
	if d.bad || s.empty() {
		return nil
	}
	return s
}
