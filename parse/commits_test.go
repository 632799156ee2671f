package parse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
)

// syncLog builds a stderr log of durations (log_min_duration_statement =
// 0, log_lock_waits) with the prefix "%m|%p|%u|%d|%c|": each entry is
// (milliseconds, session letter, message, detail). A session's pid is 100
// plus its letter's place in the alphabet.
func syncLog(t *testing.T, entries []logLine) []*parse.Event {
	t.Helper()
	var b strings.Builder
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, e := range entries {
		ts := t0.Add(time.Duration(e.ms * float64(time.Millisecond))).Format("2006-01-02 15:04:05.000")
		pid := 100 + int(e.s-'a')
		pre := fmt.Sprintf("%s UTC|%d|app|db|6b0f5e7b.%x|", ts, pid, pid)
		fmt.Fprintf(&b, "%s%s\n", pre, e.msg)
		if e.detail != "" {
			// The server continues a multi-line DETAIL with a tab.
			fmt.Fprintf(&b, "%sDETAIL:  %s\n", pre, strings.ReplaceAll(e.detail, "\n", "\n\t"))
		}
		if e.stmt != "" {
			fmt.Fprintf(&b, "%sSTATEMENT:  %s\n", pre, e.stmt)
		}
	}
	var out bytes.Buffer
	opt := parse.Options{Stdin: strings.NewReader(b.String()), Uncompressed: true, Format: parse.FormatStderr, Prefix: "%m|%p|%u|%d|%c|"}
	if sum, err := parse.Run(context.Background(), []string{"-"}, &out, opt); err != nil || sum.Skipped["malformed"] > 0 {
		t.Fatalf("parse: %v; skipped %v", err, sum.Skipped)
	}
	r, err := parse.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var evs []*parse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == parse.Statement {
			evs = append(evs, ev)
		}
	}
}

type logLine struct {
	ms                float64
	s                 byte
	msg, detail, stmt string
}

// stmt is a statement entry of a log of durations, logged when it ends.
func stmt(endMS, durMS float64, s byte, text string) logLine {
	return logLine{ms: endMS, s: s, msg: fmt.Sprintf("LOG:  duration: %.3f ms  statement: %s", durMS, text)}
}

// connected and disconnect are a session's first and last entries.
func connected(ms float64, s byte) logLine {
	return logLine{ms: ms, s: s, msg: "LOG:  connection authorized: user=app database=db"}
}

func disconnect(ms float64, s byte) logLine {
	return logLine{ms: ms, s: s, msg: fmt.Sprintf("LOG:  disconnection: session time: 0:00:%06.3f", ms/1000)}
}

// find returns the statement of session (by letter order of first
// appearance, from 1) with text.
func find(t *testing.T, evs []*parse.Event, session uint64, text string) *parse.Event {
	t.Helper()
	for _, ev := range evs {
		if ev.Session.ID == session && ev.Text == text {
			return ev
		}
	}
	t.Fatalf("no statement %q in session %d", text, session)
	return nil
}

func refs(ev *parse.Event, list string) []parse.Ref {
	if ev.Sync == nil {
		return nil
	}
	switch list {
	case "commit":
		return ev.Sync.AfterCommit
	case "objects":
		return ev.Sync.AfterObjects
	}
	return ev.Sync.AfterLocks
}

// names lists refs as "session#index" (with "+" for sent).
func names(rs []parse.Ref) string {
	var parts []string
	for _, r := range rs {
		s := fmt.Sprintf("%d#%d", r.Session, r.Index)
		if r.Sent {
			s += "+"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TestSyncRefs checks what parse records for --sync: commit order across
// sessions, objects by table and by row key, ends of failed statements,
// lock waits from log_lock_waits, and deadlocks.
func TestSyncRefs(t *testing.T) {
	var log []logLine
	for _, s := range "abcdefgh" {
		log = append(log, connected(0, byte(s)))
	}
	log = append(log,
		// a (session 1): a transaction on t row 1, committed at 2.05 ms.
		stmt(0.05, 0.05, 'a', "BEGIN"), stmt(1.05, 0.05, 'a', "UPDATE t SET v = 1 WHERE id = 1"), stmt(2.05, 0.05, 'a', "COMMIT"),
		// b (2) writes the same row after that commit; c (3) another table.
		stmt(5.05, 0.05, 'b', "UPDATE t SET v = 2 WHERE id = 1"),
		stmt(6.05, 0.05, 'c', "UPDATE u SET v = 1 WHERE id = 1"),
		// d (4): another row of t, then the whole of t.
		stmt(8.05, 0.05, 'd', "UPDATE t SET v = 3 WHERE id = 2"),
		stmt(9.05, 0.05, 'd', "SELECT count(*) FROM t"),
		// f (6) holds row 3 from 10.05; e (5) waits for it from 11 ms and
		// gets it when f commits at 14.05.
		stmt(10.05, 0.05, 'f', "BEGIN"), stmt(11.05, 1.0, 'f', "UPDATE t SET v = 4 WHERE id = 3"),
		logLine{ms: 13, s: 'e', msg: "LOG:  process 104 still waiting for ShareLock on transaction 900 after 1.000 ms",
			detail: "Process holding the lock: 105. Wait queue: 104.", stmt: "UPDATE t SET v = 5 WHERE id = 3"},
		stmt(14.05, 0.05, 'f', "COMMIT"),
		stmt(14.10, 3.1, 'e', "UPDATE t SET v = 5 WHERE id = 3"),
		// g (7): a failed statement in a block ends its transaction at its
		// error (16.5 ms); h (8) writes that row after it.
		stmt(15.05, 0.05, 'g', "BEGIN"),
		logLine{ms: 16.5, s: 'g', msg: "ERROR:  division by zero", stmt: "UPDATE t SET v = 1 / 0 WHERE id = 4"},
		stmt(17.05, 0.05, 'h', "UPDATE t SET v = 6 WHERE id = 4"),
		stmt(18.05, 0.05, 'g', "ROLLBACK"),
		stmt(19.05, 0.05, 'c', "UPDATE t SET v = 7 WHERE id = 4"),
	)
	for i := 0; i < 8; i++ {
		log = append(log, disconnect(7000, byte('a'+i)))
	}
	evs := syncLog(t, log)
	if testing.Verbose() {
		for _, ev := range evs {
			t.Logf("%d#%d %q %+v", ev.Session.ID, ev.Index, ev.Text, ev.Sync)
		}
	}
	for _, tc := range []struct {
		session uint64
		text    string
		list    string
		want    string
	}{
		// After a's COMMIT (1#2), for both modes.
		{2, "UPDATE t SET v = 2 WHERE id = 1", "commit", "1#2"},
		{2, "UPDATE t SET v = 2 WHERE id = 1", "objects", "1#2"},
		// Another table: every end for commit, none for objects.
		{3, "UPDATE u SET v = 1 WHERE id = 1", "commit", "1#2 2#0"},
		{3, "UPDATE u SET v = 1 WHERE id = 1", "objects", ""},
		// Another row of t: not those of row 1; the whole table: all of t.
		{4, "UPDATE t SET v = 3 WHERE id = 2", "objects", ""},
		{4, "SELECT count(*) FROM t", "objects", "1#2 2#0"},
		// e waited for f's UPDATE, which had finished when the wait began.
		{5, "UPDATE t SET v = 5 WHERE id = 3", "locks", "6#1"},
		// The failed UPDATE of g (7#1) ended g's transaction; the
		// ROLLBACK of the failed block is no end anyone waits for.
		{8, "UPDATE t SET v = 6 WHERE id = 4", "objects", "7#1"},
		// Only the ends that touched row 4 (the others touched other rows).
		{3, "UPDATE t SET v = 7 WHERE id = 4", "objects", "7#1 8#0"},
	} {
		ev := find(t, evs, tc.session, tc.text)
		if got := names(refs(ev, tc.list)); got != tc.want {
			t.Errorf("session %d %q: %s refs %q, want %q", tc.session, tc.text, tc.list, got, tc.want)
		}
	}
	if r := refs(find(t, evs, 8, "UPDATE t SET v = 6 WHERE id = 4"), "objects"); len(r) == 1 && r[0].From != 0 {
		t.Errorf("the failed transaction of g begins at its BEGIN: From %d", r[0].From)
	}
	if r := refs(find(t, evs, 2, "UPDATE t SET v = 2 WHERE id = 1"), "commit"); len(r) != 1 || r[0].GapUS != 3000 {
		t.Errorf("gap to a's COMMIT: %+v, want 3000 µs", r)
	}
}

// TestSyncDeadlock: the process that reports a deadlock waited first;
// the other waited after it, for it, however short its wait.
func TestSyncDeadlock(t *testing.T) {
	log := []logLine{
		connected(0, 'a'), connected(0, 'b'),
		stmt(1.05, 0.05, 'a', "BEGIN"), stmt(1.10, 0.05, 'b', "BEGIN"),
		stmt(2.05, 0.05, 'a', "UPDATE t SET v = 1 WHERE id = 1"),
		stmt(2.10, 0.05, 'b', "UPDATE t SET v = 1 WHERE id = 2"),
		// a waits for b's row 2 from 3 ms; b for a's row 1 from 3.5 ms;
		// a's deadlock_timeout runs out first.
		{ms: 4, s: 'a', msg: "LOG:  process 100 detected deadlock while waiting for ShareLock on transaction 901 after 1.000 ms",
			detail: "Process holding the lock: 101. Wait queue: .", stmt: "UPDATE t SET v = 2 WHERE id = 2"},
		{ms: 4, s: 'a', msg: "ERROR:  deadlock detected",
			detail: "Process 100 waits for ShareLock on transaction 901; blocked by process 101.\nProcess 101 waits for ShareLock on transaction 900; blocked by process 100.",
			stmt:   "UPDATE t SET v = 2 WHERE id = 2"},
		stmt(4.05, 0.55, 'b', "UPDATE t SET v = 2 WHERE id = 1"),
		stmt(5.05, 0.05, 'a', "ROLLBACK"), stmt(5.10, 0.05, 'b', "COMMIT"),
		disconnect(9000, 'a'), disconnect(9000, 'b'),
	}
	evs := syncLog(t, log)
	victim := find(t, evs, 1, "UPDATE t SET v = 2 WHERE id = 2")
	if victim.Err == nil || victim.Err.SQLState != "40P01" {
		t.Fatalf("the victim's statement has error %+v", victim.Err)
	}
	if got := names(refs(victim, "locks")); got != "2#1" {
		t.Errorf("the victim waited for b's UPDATE of row 2: locks %q, want 2#1", got)
	}
	other := find(t, evs, 2, "UPDATE t SET v = 2 WHERE id = 1")
	if got := names(refs(other, "locks")); !strings.Contains(got, fmt.Sprintf("1#%d+", victim.Index)) {
		t.Errorf("b waited after the victim began to: locks %q, want 1#%d+ among them", got, victim.Index)
	}
}
