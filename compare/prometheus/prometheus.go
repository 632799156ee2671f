// Package prometheus is the metric source for clusters monitored by
// Prometheus with node_exporter (CPU, disk IOPS) and postgres_exporter
// (replica lag, commits, connections): it runs range queries over the
// HTTP API, splitting long windows under the server's points-per-series
// limit.
package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// Source queries one Prometheus server about one cluster.
type Source struct {
	URL string
	// NodeInstance and PGInstance are the instance labels of the host's
	// node_exporter and of postgres_exporter.
	NodeInstance, PGInstance string
	Step                     time.Duration
	// BearerToken or User/Password authenticate, if set.
	BearerToken    string
	User, Password string
	Client         *http.Client
	// MaxPoints is the most points one query may return per series;
	// Prometheus refuses more than 11,000.
	MaxPoints int
	// Calls counts HTTP requests made.
	Calls int
}

// New makes a source from a prometheus: spec.
func New(sp metrics.Spec) (*Source, error) {
	s := &Source{URL: strings.TrimSuffix(sp.Arg, "/"), Step: 15 * time.Second, MaxPoints: 11000}
	// instance= is the default the specific labels override, whatever
	// order the options come in.
	if v, ok := sp.Options["instance"]; ok {
		s.NodeInstance, s.PGInstance = v, v
	}
	for k, v := range sp.Options {
		switch k {
		case "instance":
		case "node-instance":
			s.NodeInstance = v
		case "pg-instance":
			s.PGInstance = v
		case "step":
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return nil, fmt.Errorf("prometheus: step=%s: want a duration of 1s or more", v)
			}
			s.Step = d
		case "bearer-token-file":
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("prometheus: bearer-token-file: %w", err)
			}
			s.BearerToken = strings.TrimSpace(string(b))
		case "user":
			s.User = v
		case "password-file":
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("prometheus: password-file: %w", err)
			}
			s.Password = strings.TrimSpace(string(b))
		default:
			return nil, fmt.Errorf("prometheus: unknown option %q (use instance=, node-instance=, pg-instance=, step=, bearer-token-file=, user=, password-file=)", k)
		}
	}
	if s.NodeInstance == "" && s.PGInstance == "" {
		return nil, fmt.Errorf("prometheus: name the cluster's instance label: instance=host:port (or node-instance= and pg-instance=)")
	}
	return s, nil
}

// String describes the source without credentials.
func (s *Source) String() string {
	u, err := url.Parse(s.URL)
	if err == nil {
		u.User = nil
		return "prometheus:" + u.String()
	}
	return "prometheus"
}

type pquery struct {
	metric, expr string
	caveats      []string
}

func (s *Source) queries() []pquery {
	win := fmt.Sprintf("[%ds]", int(max(4*s.Step, time.Minute).Seconds()))
	n := fmt.Sprintf(`instance=%q`, s.NodeInstance)
	p := fmt.Sprintf(`instance=%q`, s.PGInstance)
	var qs []pquery
	if s.NodeInstance != "" {
		qs = append(qs,
			pquery{metrics.CPU, `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",` + n + `}` + win + `)))`, []string{"node_exporter: the whole host's CPU, not only PostgreSQL's"}},
			pquery{metrics.ReadIOPS, `sum(rate(node_disk_reads_completed_total{` + n + `}` + win + `))`, []string{"node_exporter: every disk of the host"}},
			pquery{metrics.WriteIOPS, `sum(rate(node_disk_writes_completed_total{` + n + `}` + win + `))`, []string{"node_exporter: every disk of the host"}},
		)
	}
	if s.PGInstance != "" {
		qs = append(qs,
			pquery{metrics.ReplicaLag, `1000 * max(pg_replication_lag_seconds{` + p + `} or pg_replication_lag{` + p + `})`, []string{"postgres_exporter replication lag (now() - last replayed transaction): grows on an idle primary"}},
			pquery{metrics.Commits, `sum(rate(pg_stat_database_xact_commit{` + p + `}` + win + `))`, nil},
			pquery{metrics.Connections, `sum(pg_stat_database_numbackends{` + p + `})`, nil},
		)
	}
	return qs
}

// Fetch runs every query over w.
func (s *Source) Fetch(ctx context.Context, w metrics.Window) (*metrics.Set, error) {
	set := &metrics.Set{Source: s.String(), Window: w}
	chunk := time.Duration(s.MaxPoints-1) * s.Step
	for _, q := range s.queries() {
		var pts []metrics.Point
		for lo := w.Start; lo.Before(w.End); lo = lo.Add(chunk + s.Step) {
			hi := lo.Add(chunk)
			if hi.After(w.End) {
				hi = w.End
			}
			got, err := s.rangeQuery(ctx, q.expr, lo, hi)
			if err != nil {
				return nil, fmt.Errorf("prometheus %s: %s: %w", s, q.metric, err)
			}
			pts = append(pts, got...)
		}
		if len(pts) == 0 {
			set.Warnings = append(set.Warnings, fmt.Sprintf("%s: no data for %s", q.metric, q.expr))
			continue
		}
		set.Series = append(set.Series, metrics.Series{Metric: q.metric, Unit: metrics.Unit(q.metric), Period: s.Step,
			Source: "prometheus " + q.expr, Caveats: q.caveats, Points: pts})
	}
	if len(set.Series) == 0 {
		return nil, fmt.Errorf("prometheus %s: no data at all for instance %q / %q between %s and %s: check the instance labels (up{instance=...}) and the window",
			s, s.NodeInstance, s.PGInstance, w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	return set, nil
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (s *Source) rangeQuery(ctx context.Context, expr string, start, end time.Time) ([]metrics.Point, error) {
	form := url.Values{"query": {expr}, "start": {ts(start)}, "end": {ts(end)}, "step": {strconv.FormatFloat(s.Step.Seconds(), 'f', -1, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/query_range", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch {
	case s.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+s.BearerToken)
	case s.User != "":
		req.SetBasicAuth(s.User, s.Password)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	s.Calls++
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query_range: %w (is the URL right and the server reachable?)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("query_range: %s: check bearer-token-file= or user=/password-file=", resp.Status)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query_range: %s, and the answer is not the Prometheus API's JSON", resp.Status)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query_range: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("query_range: result type %q, want matrix", r.Data.ResultType)
	}
	var out []metrics.Point
	for _, series := range r.Data.Result {
		for _, v := range series.Values {
			t, ok1 := v[0].(float64)
			sv, ok2 := v[1].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("query_range: malformed value %v", v)
			}
			f, err := strconv.ParseFloat(sv, 64)
			if err != nil {
				continue // not a number at all
			}
			// NaN and ±Inf parse; metrics.AlignWindow leaves them out
			// rather than averaging them in, and says how many.
			out = append(out, metrics.Point{T: time.UnixMilli(int64(t * 1000)).UTC(), V: f})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out, nil
}

func ts(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
