package cloudwatchtest

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PI speaks what the Performance Insights API expects for
// GetResourceMetrics: AWS JSON 1.1 (a POST to / with X-Amz-Target
// PerformanceInsightsv20180227.GetResourceMetrics), signed for "pi". It
// serves a constant load per wait event and statement, a datapoint per
// period, pages of MaxResults series.
type PI struct {
	// Load is, by resource id, the average active sessions of each wait
	// event ("IO:XactSync") and each statement; the total is their sum.
	Load map[string]PILoad
	// Idle names periods without a datapoint (no load then).
	Idle func(t time.Time) bool
	// FailType answers every request with this error.
	FailType string

	t        testing.TB
	mu       sync.Mutex
	Requests int
	Periods  []int
}

// PILoad is one instance's load.
type PILoad struct {
	Events map[string]float64 // "Type:Event" or "CPU" → AAS
	SQL    map[string]float64 // statement → AAS
}

func (f *PI) start(t testing.TB) http.Handler { f.t = t; return f }

func (f *PI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Requests++
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
		r.Header.Get("X-Amz-Target") != "PerformanceInsightsv20180227.GetResourceMetrics" {
		f.t.Errorf("the Performance Insights client no longer sends AWS JSON 1.1 GetResourceMetrics: %s %s Content-Type=%q X-Amz-Target=%q",
			r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("X-Amz-Target"))
		http.Error(w, "unexpected protocol", http.StatusBadRequest)
		return
	}
	signedFor(f.t, r, "pi")
	if f.FailType != "" {
		jsonError(w, f.FailType, "User: arn:aws:iam::1:user/x is not authorized to perform: pi:GetResourceMetrics")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct {
		ServiceType, Identifier, NextToken, PeriodAlignment string
		StartTime, EndTime                                  float64
		PeriodInSeconds, MaxResults                         int
		MetricQueries                                       []struct {
			Metric  string
			GroupBy struct {
				Group      string
				Dimensions []string
				Limit      int
			}
		}
	}
	if err := json.Unmarshal(body, &in); err != nil || in.ServiceType != "RDS" || in.PeriodInSeconds <= 0 || in.PeriodAlignment != "START_TIME" {
		f.t.Errorf("GetResourceMetrics request: %v %s", err, body)
		jsonError(w, "InvalidArgumentException", "bad request")
		return
	}
	f.Periods = append(f.Periods, in.PeriodInSeconds)
	load := f.Load[in.Identifier]
	period := time.Duration(in.PeriodInSeconds) * time.Second
	start, end := time.Unix(int64(in.StartTime), 0), time.Unix(int64(math.Ceil(in.EndTime)), 0)
	points := func(v float64) []map[string]any {
		var ps []map[string]any
		for t := start; t.Before(end); t = t.Add(period) {
			if f.Idle != nil && f.Idle(t) {
				continue
			}
			ps = append(ps, map[string]any{"Timestamp": float64(t.Unix()), "Value": v})
		}
		return ps
	}
	total := 0.0
	for _, v := range load.Events {
		total += v
	}
	var list []map[string]any
	for _, q := range in.MetricQueries {
		if q.Metric != "db.load.avg" {
			f.t.Errorf("metric %q", q.Metric)
		}
		if len(load.Events) > 0 {
			list = append(list, map[string]any{"Key": map[string]any{"Metric": q.Metric}, "DataPoints": points(total)})
		}
		group := load.Events
		if q.GroupBy.Group == "db.sql_tokenized" {
			group = load.SQL
		}
		var names []string
		for n := range group {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			return group[names[i]] > group[names[j]] || group[names[i]] == group[names[j]] && names[i] < names[j]
		})
		for _, n := range names[:min(len(names), max(q.GroupBy.Limit, 1))] {
			d := map[string]string{}
			if q.GroupBy.Group == "db.sql_tokenized" {
				d["db.sql_tokenized.statement"], d["db.sql_tokenized.id"] = n, "ID"+strconv.Itoa(len(n))
			} else {
				typ, _, _ := strings.Cut(n, ":")
				d["db.wait_event.name"], d["db.wait_event.type"] = n, typ
			}
			list = append(list, map[string]any{"Key": map[string]any{"Metric": q.Metric, "Dimensions": d}, "DataPoints": points(group[n])})
		}
	}
	from, _ := strconv.Atoi(in.NextToken)
	to := len(list)
	if in.MaxResults > 0 {
		to = min(from+in.MaxResults, len(list))
	}
	out := map[string]any{"Identifier": in.Identifier, "AlignedStartTime": float64(start.Unix()), "AlignedEndTime": float64(end.Unix()), "MetricList": list[min(from, to):to]}
	if to < len(list) {
		out["NextToken"] = strconv.Itoa(to)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	writeJSON(w, out)
}

// jsonError answers as the AWS JSON protocols do.
func jsonError(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	writeJSON(w, map[string]string{"__type": typ, "message": msg})
}

// Handler serves f on its own, for tests of the Performance Insights
// client alone.
func (f *PI) Handler(t testing.TB) http.Handler { return f.start(t) }

// writeJSON writes v as the services do: one JSON value, no trailing
// newline (the SDK reads to the value's end and would drop the
// connection over a byte left unread).
func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
