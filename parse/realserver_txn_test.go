package parse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// txnWork sends a pipelined batch (one Sync for three statements), an
// explicit transaction of extended statements, two single statements, an
// error at Parse and one at Bind.
func txnWork(ctx context.Context, t *testing.T, dsn string) {
	c := connect(ctx, t, dsn)
	defer c.Close(ctx)
	simple(ctx, t, c, "CREATE TABLE t (id int PRIMARY KEY)")
	b := &pgconn.Batch{}
	for _, v := range []string{"1", "2", "3"} {
		b.ExecParams("INSERT INTO t VALUES ($1)", [][]byte{[]byte(v)}, nil, nil, nil)
	}
	if _, err := c.ExecBatch(ctx, b).ReadAll(); err != nil {
		t.Fatal(err)
	}
	simple(ctx, t, c, "BEGIN")
	for _, v := range []string{"4", "5"} {
		if _, err := c.ExecParams(ctx, "INSERT INTO t VALUES ($1)", [][]byte{[]byte(v)}, nil, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	simple(ctx, t, c, "COMMIT")
	for _, v := range []string{"6", "7"} {
		if _, err := c.ExecParams(ctx, "INSERT INTO t VALUES ($1)", [][]byte{[]byte(v)}, nil, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Prepare(ctx, "", "SELEC $1", nil); err == nil {
		t.Fatal("a syntax error prepared")
	}
	if _, err := c.ExecParams(ctx, "SELECT $1::int / $2::int", [][]byte{[]byte("1"), []byte("0")}, nil, nil, nil).Close(); err == nil {
		t.Fatal("1/0 at bind did not fail")
	}
}

func TestRealServerTransactions(t *testing.T) {
	styles := []struct {
		name string
		// parse, bind are the steps the log shows (stderr has no %i here).
		parse, bind parse.Step
		settings    []string
	}{
		{"csvlog", parse.StepParse, parse.StepBind, []string{"log_destination = 'csvlog'", "log_statement = 'all'", "log_parameter_max_length_on_error = -1"}},
		{"stderr %v %x", parse.StepUnknown, parse.StepUnknown, []string{"log_destination = 'stderr'", "log_statement = 'all'", "log_parameter_max_length_on_error = -1",
			"log_line_prefix = '%m [%p] %q%u@%d %c %e %v %x '"}},
		{"jsonlog durations", parse.StepParse, parse.StepBind, []string{"log_destination = 'jsonlog'", "log_min_duration_statement = 0", "log_parameter_max_length_on_error = -1"}},
	}
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			files := capture(t, st.settings, txnWork)
			// No --format: the README's prefix must be detected.
			stmts, errs, sum := transactions(t, files)
			var inserts []*parse.Event
			for _, ev := range stmts {
				if ev.Protocol == parse.Unnamed {
					inserts = append(inserts, ev)
				}
			}
			if len(inserts) != 7 {
				t.Fatalf("%d extended inserts, want 7", len(inserts))
			}
			want := []bool{false, true, true, false, false, false, false}
			for i, ev := range inserts {
				if ev.Pipelined != want[i] {
					t.Errorf("insert %d (%s): pipelined %v, want %v", i, ev.Params[0].Value, ev.Pipelined, want[i])
				}
				if cont := i+1 < len(want) && want[i+1]; ev.Continued != cont {
					t.Errorf("insert %d (%s): continued %v, want %v", i, ev.Params[0].Value, ev.Continued, cont)
				}
				if ev.VXID.IsZero() {
					t.Errorf("insert %d: no vxid", i)
				}
				if ev.Fingerprint == 0 || ev.Fingerprint != inserts[0].Fingerprint {
					t.Errorf("insert %d: fingerprint %v, want that of the others (%v)", i, ev.Fingerprint, inserts[0].Fingerprint)
				}
			}
			if inserts[0].VXID != inserts[2].VXID || inserts[3].VXID != inserts[4].VXID || inserts[5].VXID == inserts[6].VXID {
				t.Errorf("vxids %v", []parse.VXID{inserts[0].VXID, inserts[2].VXID, inserts[3].VXID, inserts[4].VXID, inserts[5].VXID, inserts[6].VXID})
			}
			if sum.Pipelined != 2 || sum.GroupingUnknown != 0 {
				t.Errorf("summary: pipelined %d, grouping unknown %d; want 2, 0", sum.Pipelined, sum.GroupingUnknown)
			}
			if len(errs) != 2 {
				t.Fatalf("%d error events, want 2: %+v", len(errs), errs)
			}
			if e := errs[0]; e.Text != "SELEC $1" || e.Step != st.parse || e.Err.SQLState != "42601" {
				t.Errorf("parse error: %q step %v %s", e.Text, e.Step, e.Err.SQLState)
			}
			e := errs[1]
			if e.Text != "SELECT $1::int / $2::int" || e.Step != st.bind || e.Err.SQLState != "22012" {
				t.Errorf("bind error: %q step %v %s", e.Text, e.Step, e.Err.SQLState)
			}
			if len(e.Params) != 2 || e.Params[0].Value != "1" || e.Params[1].Value != "0" {
				t.Errorf("bind error params %+v, want 1, 0", e.Params)
			}
			if e.Index != 1 || errs[0].Index != 0 {
				t.Errorf("error indexes %d, %d", errs[0].Index, e.Index)
			}
		})
	}
}

// transactions parses files and returns the statements and error events
// of the session that has any.
func transactions(t *testing.T, files []string) (stmts, errs []*parse.Event, sum *parse.Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := parse.Run(context.Background(), files, &buf, parse.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := parse.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Header().ID == "" {
		t.Error("the workload has no id")
	}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return stmts, errs, sum
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case parse.Statement:
			stmts = append(stmts, ev)
		case parse.Error:
			if ev.Session != nil {
				errs = append(errs, ev)
			}
		}
	}
}
