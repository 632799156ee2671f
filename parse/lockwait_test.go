package parse

import (
	"reflect"
	"testing"
)

func TestParseLockMsg(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want lockMsg
		ok   bool
	}{
		{"process 25550 still waiting for ShareLock on transaction 728 after 1.070 ms",
			lockMsg{PID: 25550, Verb: lockWaiting, Mode: "ShareLock", Object: "transaction 728", XID: 728, AfterUS: 1070}, true},
		{"process 25551 still waiting for ExclusiveLock on tuple (0,1) of relation 16386 of database 16385 after 1.577 ms",
			lockMsg{PID: 25551, Verb: lockWaiting, Mode: "ExclusiveLock", Object: "tuple (0,1) of relation 16386 of database 16385", AfterUS: 1577}, true},
		{"process 25550 acquired ShareLock on transaction 728 after 11.219 ms",
			lockMsg{PID: 25550, Verb: lockAcquired, Mode: "ShareLock", Object: "transaction 728", XID: 728, AfterUS: 11219}, true},
		{"process 3203 detected deadlock while waiting for ShareLock on transaction 940 after 1.056 ms",
			lockMsg{PID: 3203, Verb: lockDeadlock, Mode: "ShareLock", Object: "transaction 940", XID: 940, AfterUS: 1056}, true},
		{"process 12 avoided deadlock for AccessExclusiveLock on relation 16386 of database 5 by rearranging queue order after 1000.050 ms",
			lockMsg{PID: 12, Verb: lockAvoided, Mode: "AccessExclusiveLock", Object: "relation 16386 of database 5", AfterUS: 1000050}, true},
		{"process 9 failed to acquire ShareLock on virtual transaction 3/45 after 5.000 ms",
			lockMsg{PID: 9, Verb: lockFailed, Mode: "ShareLock", Object: "virtual transaction 3/45", AfterUS: 5000}, true},
		// Not lock messages, or cut ones.
		{"process 25550 still waiting for ShareLock on transaction 728", lockMsg{}, false},
		{"process x still waiting for ShareLock on transaction 728 after 1.0 ms", lockMsg{}, false},
		{"process 1 is sad after 1.0 ms", lockMsg{}, false},
		{"process 1 still waiting for on transaction 1 after 1.0 ms", lockMsg{}, false},
		{"statement: SELECT 1", lockMsg{}, false},
		{"process 12345678901 still waiting for ShareLock on transaction 1 after 1.0 ms", lockMsg{}, false},
	} {
		got, ok := parseLockMsg([]byte(tc.msg))
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseLockMsg(%q) = %+v, %v; want %+v, %v", tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLockHolders(t *testing.T) {
	for _, tc := range []struct {
		detail string
		want   []int64
	}{
		{"Process holding the lock: 25549. Wait queue: 25550.", []int64{25549}},
		{"Processes holding the lock: 1, 22, 333. Wait queue: 4.", []int64{1, 22, 333}},
		{"Process holding the lock: 7877. Wait queue: 7876, 7875.", []int64{7877}},
		{"Wait queue: 5.", nil},
		{"", nil},
		{"Process holding the lock: . Wait queue: .", nil},
	} {
		if got := lockHolders([]byte(tc.detail)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("lockHolders(%q) = %v, want %v", tc.detail, got, tc.want)
		}
	}
}

func TestDeadlockWaiters(t *testing.T) {
	detail := "Process 3203 waits for ShareLock on transaction 940; blocked by process 3207.\n" +
		"Process 3207 waits for ShareLock on transaction 941; blocked by process 3203.\n" +
		"Process 3203: UPDATE sbtest1 SET c=$1 WHERE id=$2\nProcess 3207: UPDATE sbtest1 SET c=$1 WHERE id=$2"
	if got := deadlockWaiters([]byte(detail)); !reflect.DeepEqual(got, []int64{3203, 3207}) {
		t.Errorf("deadlockWaiters = %v", got)
	}
	if got := deadlockWaiters([]byte("Process 1: SELECT 1")); got != nil {
		t.Errorf("deadlockWaiters of statements only = %v", got)
	}
}

// FuzzLockMsg: the lock message readers never panic, and what they
// accept is what the message says.
func FuzzLockMsg(f *testing.F) {
	f.Add("process 25550 still waiting for ShareLock on transaction 728 after 1.070 ms", "Process holding the lock: 25549. Wait queue: 25550.")
	f.Add("process 12 avoided deadlock for AccessExclusiveLock on relation 1 of database 5 by rearranging queue order after 1.0 ms", "Processes holding the lock: 1, 2. Wait queue: .")
	f.Add("process 3203 detected deadlock while waiting for ShareLock on transaction 940 after 1.056 ms",
		"Process 3203 waits for ShareLock on transaction 940; blocked by process 3207.\nProcess 3207 waits for ShareLock on transaction 941; blocked by process 3203.")
	f.Fuzz(func(t *testing.T, msg, detail string) {
		if m, ok := parseLockMsg([]byte(msg)); ok {
			if m.PID <= 0 || m.Verb == 0 || m.Mode == "" || m.AfterUS < 0 {
				t.Errorf("parseLockMsg(%q) accepted %+v", msg, m)
			}
		}
		if hs := lockHolders([]byte(detail)); len(hs) > maxHolders {
			t.Errorf("lockHolders kept %d holders", len(hs))
		}
		for _, pid := range deadlockWaiters([]byte(detail)) {
			if pid <= 0 {
				t.Errorf("deadlockWaiters gave pid %d", pid)
			}
		}
	})
}
