package pi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

func client(t *testing.T, url string) *Client {
	t.Helper()
	cloudwatchtest.Env(t, "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_PI", url)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRetryMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	c := NewFromConfig(context.Background(), cfg)
	if c.Endpoint() != url {
		t.Fatalf("endpoint %q, want AWS_ENDPOINT_URL_PI %q", c.Endpoint(), url)
	}
	return c
}

var window = metrics.Window{Start: time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC), End: time.Date(2026, 11, 22, 12, 10, 30, 0, time.UTC)}

// TestFetch: the real request reaches a server speaking the API's
// protocol; load by wait event and statement comes back, as averages
// over the window with idle periods counted as none, across pages.
func TestFetch(t *testing.T) {
	f := &cloudwatchtest.PI{Load: map[string]cloudwatchtest.PILoad{"db-A": {
		Events: map[string]float64{"CPU": 2, "LWLock:BufferMapping": 1, "IO:DataFileRead": 0.5},
		SQL:    map[string]float64{"SELECT ?": 3, "UPDATE t SET v = ? WHERE id = ?": 0.5},
	}}, Idle: func(ts time.Time) bool { return ts.Second() >= 30 }}
	srv := httptest.NewServer(f.Handler(t))
	defer srv.Close()
	r := &Reader{Client: client(t, srv.URL), ResourceID: "db-A", Instance: "a", Engine: "postgres"}
	w, err := r.Fetch(context.Background(), window)
	if err != nil {
		t.Fatal(err)
	}
	// Half of every minute idle: half the load on average.
	if !near(w.TotalAAS, 1.75) || len(w.Events) != 3 || w.Events[0].Name != "CPU" || !near(w.Events[0].AAS, 1) || w.Events[1].Type != "LWLock" ||
		len(w.SQL) != 2 || w.SQL[0].Name != "SELECT ?" || w.SQL[0].ID == "" || w.Period != time.Second {
		t.Fatalf("waits %+v", w)
	}
	if r.Calls != 1 || f.Requests != 1 {
		t.Errorf("%d calls", r.Calls)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestRetryAndErrors: throttling is retried with the configuration's
// retryer; a refusal names the permission to grant.
func TestRetryAndErrors(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"NotAuthorizedException","Message":"not authorized"}`))
	}))
	defer srv.Close()
	r := &Reader{Client: client(t, srv.URL), ResourceID: "db-A", Instance: "prod-a"}
	_, err := r.Fetch(context.Background(), window)
	if err == nil || !strings.Contains(err.Error(), "needs pi:GetResourceMetrics") || !strings.Contains(err.Error(), "not authorized") || n.Load() != 2 {
		t.Errorf("after %d requests: %v", n.Load(), err)
	}
}

func TestPeriod(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want time.Duration
	}{{37 * time.Second, time.Second}, {10 * time.Minute, time.Second}, {2 * time.Hour, time.Minute}, {3 * 24 * time.Hour, 5 * time.Minute}, {30 * 24 * time.Hour, time.Hour}} {
		if got := Period(metrics.Window{Start: window.Start, End: window.Start.Add(tt.d)}); got != tt.want {
			t.Errorf("Period(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}
