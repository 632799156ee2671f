package parse

import (
	"reflect"
	"testing"
)

func TestRowKey(t *testing.T) {
	params := []Param{{Value: "7"}, {Value: "it's"}, {Null: true}}
	for _, tc := range []struct {
		text string
		want string // keyValue with params; "" for no key
	}{
		{"UPDATE pgbench_accounts SET abalance = abalance + -3 WHERE aid = 51234;", "aid=51234"},
		{"UPDATE sbtest1 SET c=$2 WHERE id=$1", "id=7"},
		{"SELECT c FROM sbtest1 WHERE id=$1", "id=7"},
		{"select a, b from t where $1 = id and \"Name\" = 'x''y' for update", "id=7,name=x'y"},
		{"DELETE FROM sbtest1 WHERE id=$1 RETURNING *", "id=7"},
		{"INSERT INTO sbtest1 (id, k, c, pad) VALUES ($1, $2, $3, $4)", "id=7"},
		{"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 5, 10, CURRENT_TIMESTAMP)", "tid=3"},
		{"UPDATE t SET a = 1 WHERE id = $3", ""}, // NULL: no row
		{"UPDATE t SET a = 1 WHERE id = $9", ""}, // no such parameter
		// The whole table.
		{"SELECT c FROM sbtest1 WHERE id BETWEEN $1 AND $2", ""},
		{"SELECT * FROM t WHERE id = 1 OR id = 2", ""},
		{"SELECT * FROM t WHERE id IN (1, 2)", ""},
		{"SELECT * FROM t WHERE id > 5", ""},
		{"SELECT * FROM t", ""},
		{"INSERT INTO t (id) VALUES (1), (2)", ""},
		{"INSERT INTO t SELECT * FROM u", ""},
		{"INSERT INTO t (id) VALUES (nextval('s'))", ""},
		{"UPDATE t SET a = 1 WHERE id = (SELECT max(id) FROM t)", ""},
		{"DELETE FROM t WHERE CURRENT OF c", ""},
		{"UPDATE t SET a = 'unterminated WHERE id = 1", ""},
		{"UPDATE t SET a = 1 WHERE \"\"=0", ""}, // a zero-length name is no column
		{"INSERT INTO t (\"\") VALUES (1)", ""},
	} {
		got := keyValue(rowKey(tc.text), params)
		if got != tc.want {
			t.Errorf("key of %q = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		text   string
		rels   []string
		writes bool
	}{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 5", []string{"pgbench_accounts"}, false},
		{"UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1", []string{"pgbench_branches"}, true},
		{"select * from a join public.B on a.x = B.y for update", []string{"a", "b"}, true},
		{"SELECT * FROM accounts WHERE id = 1 FOR SHARE", []string{"accounts"}, true},
		{"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", []string{"t"}, true},
		{"TRUNCATE TABLE ONLY \"Hist\"", []string{"hist"}, true},
		{"COPY copy_target (id) FROM STDIN", []string{"copy_target"}, true},
		{"LOCK TABLE s.foo IN EXCLUSIVE MODE", []string{"foo"}, true},
		{"BEGIN", nil, false},
		{"SELECT 1", nil, false},
		{"DO $$BEGIN PERFORM 1; END$$", nil, true},
	} {
		c := classify(tc.text)
		if !reflect.DeepEqual(c.rels, tc.rels) || c.writes != tc.writes {
			t.Errorf("classify(%q) = %v writes %v, want %v writes %v", tc.text, c.rels, c.writes, tc.rels, tc.writes)
		}
	}
}

// FuzzRowKey: the key reader and the classifier never panic, and a key
// names columns.
func FuzzRowKey(f *testing.F) {
	for _, s := range []string{"UPDATE t SET a = $1 WHERE id = $2 AND b = 'x'", "INSERT INTO t (id) VALUES ($1)",
		"SELECT * FROM t WHERE (id = 1", "DELETE FROM \"t\" WHERE \"id\" = $0", "COPY t FROM STDIN; LOCK u"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, p := range rowKey(text) {
			if p.col == "" || p.param < 0 {
				t.Errorf("rowKey(%q) has part %+v", text, p)
			}
		}
		for _, r := range classify(text).rels {
			if r == "" {
				t.Errorf("classify(%q) names an empty relation", text)
			}
		}
	})
}
