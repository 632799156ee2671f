package prometheus

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// fakeProm answers query_range like Prometheus: a matrix with one point
// per step, valued from the query's length, refusing more than maxPoints
// per series as the real server does.
type fakeProm struct {
	token     string
	maxPoints int
	// gaps answers every third point NaN and every fifth +Inf, as
	// Prometheus does where an expression has no value.
	gaps  bool
	mu    sync.Mutex
	exprs []string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	r.ParseForm()
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	q := r.Form.Get("query")
	f.mu.Lock()
	f.exprs = append(f.exprs, q)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(q, "syntax error") {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		return
	}
	if int((end-start)/step)+1 > f.maxPoints {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`))
		return
	}
	var values [][2]any
	for i, t := 0, start; t <= end+1e-9; i, t = i+1, t+step {
		v := strconv.Itoa(len(q))
		switch {
		case f.gaps && i%3 == 1:
			v = "NaN"
		case f.gaps && i%5 == 2:
			v = "+Inf"
		}
		values = append(values, [2]any{t, v})
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix",
		"result": []any{map[string]any{"metric": map[string]string{"instance": "db:9100"}, "values": values}}}})
}

func TestFetch(t *testing.T) {
	f := &fakeProm{token: "s3cret", maxPoints: 11000}
	srv := httptest.NewServer(f)
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	sp, err := metrics.ParseSpec("prometheus:" + srv.URL + ",instance=db:9100,pg-instance=db:9187,bearer-token-file=" + tok + ",step=1s")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sp)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// Five hours at 1 s steps: 18,001 points a series, over the limit,
	// so every query is split in two.
	set, err := s.Fetch(context.Background(), metrics.Window{Start: start, End: start.Add(5 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 12 {
		t.Errorf("%d calls, want 2 per metric for 6 metrics", s.Calls)
	}
	for _, m := range []string{metrics.CPU, metrics.ReadIOPS, metrics.WriteIOPS, metrics.ReplicaLag, metrics.Commits, metrics.Connections} {
		sr := set.Get(m)
		if sr == nil || len(sr.Points) != 18001 {
			t.Fatalf("%s: %+v points", m, sr)
		}
		for i := 1; i < len(sr.Points); i++ {
			if sr.Points[i].T.Sub(sr.Points[i-1].T) != time.Second {
				t.Fatalf("%s: gap or overlap at %v", m, sr.Points[i].T)
			}
		}
	}
	for _, e := range f.exprs {
		if strings.Contains(e, "node_") && !strings.Contains(e, `instance="db:9100"`) || strings.Contains(e, "pg_") && !strings.Contains(e, `instance="db:9187"`) {
			t.Errorf("query with the wrong instance: %s", e)
		}
	}
	if strings.Contains(s.String(), "s3cret") {
		t.Errorf("String shows the token: %s", s)
	}
}

func TestErrors(t *testing.T) {
	f := &fakeProm{token: "right", maxPoints: 11000}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := &Source{URL: srv.URL, NodeInstance: "db", Step: 15 * time.Second, MaxPoints: 11000, BearerToken: "wrong"}
	w := metrics.Window{Start: time.Unix(1_800_000_000, 0), End: time.Unix(1_800_003_600, 0)}
	if _, err := s.Fetch(context.Background(), w); err == nil || !strings.Contains(err.Error(), "bearer-token-file") {
		t.Errorf("wrong token: %v", err)
	}
	s.BearerToken, s.URL = "right", "http://127.0.0.1:1"
	if _, err := s.Fetch(context.Background(), w); err == nil || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := New(metrics.Spec{Kind: "prometheus", Arg: srv.URL, Options: map[string]string{}}); err == nil {
		t.Errorf("New without instance accepted")
	}
}

// TestNaNFromPrometheus: NaN and +Inf values from Prometheus reach the
// series, and aligning leaves them out: the statistics are numbers.
func TestNaNFromPrometheus(t *testing.T) {
	f := &fakeProm{maxPoints: 11000, gaps: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	sp, err := metrics.ParseSpec("prometheus:" + srv.URL + ",instance=db:9100,step=1s")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sp)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	w := metrics.Window{Start: start, End: start.Add(time.Minute)}
	set, err := s.Fetch(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	sr := set.Get(metrics.CPU)
	if sr == nil {
		t.Fatal("no cpu series")
	}
	a := metrics.AlignWindow(sr, w, time.Second, 1, 0)
	st := metrics.Summarize(a.Points())
	if st.N == 0 || st.N >= len(sr.Points) || st.Mean != st.Max || st.Mean <= 0 {
		t.Errorf("stats %+v of %d points", st, len(sr.Points))
	}
	if !strings.Contains(strings.Join(a.Caveats, " "), "NaN or ±Inf") {
		t.Errorf("caveats %q", a.Caveats)
	}
}
