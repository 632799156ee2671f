package replay

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMonitor(t *testing.T) {
	rw, err := NewResultsWriter(io.Discard, ResultsHeader{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rw.Add(&Result{Session: 1, Scheduled: t0, Started: t0.Add(20 * time.Millisecond), Latency: time.Millisecond})
	rw.Add(&Result{Session: 1, Index: 1, Scheduled: t0, Started: t0, Outcome: Outcome{Err: io.EOF, SQLState: "42P01"}})
	live := &Live{}
	live.OpenSessions.Add(3)
	live.WorkloadUS.Store(90_000_000)
	m := &Monitor{Results: rw, Live: live, Speed: 2, Started: t0.Add(-45 * time.Second)}
	line := m.Line()
	for _, want := range []string{"2 statements", "3 sessions open", "workload 1m30s", "errors 1 (1 new)", "lateness p99 20.0 ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	for _, want := range []string{"pgrehearse_replay_statements_total 2\n", "pgrehearse_replay_sessions_open 3\n", "pgrehearse_replay_new_errors_total 1\n", "# TYPE pgrehearse_replay_errors_total counter"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
