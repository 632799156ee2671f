// Package cloudwatchtest is a local CloudWatch for tests: an HTTP server
// that speaks what the pinned aws-sdk-go-v2 CloudWatch client sends for
// GetMetricData (Smithy RPC v2 CBOR) and serves generated datapoints, so
// the real SDK client is tested end to end without AWS.
package cloudwatchtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Server speaks what the pinned SDK sends for GetMetricData:
// Smithy RPC v2 CBOR. It serves generated datapoints for any metric it is
// asked, so tests can check values, units, paging and dimensions.
type Server struct {
	t testing.TB
	// PageSize caps datapoints per response; the rest comes with a
	// NextToken.
	PageSize int
	// fail, when set, answers with this error type and message instead.
	FailType, FailMsg string
	// Throttle answers the first n Requests with a throttling error.
	Throttle int
	// Empty names metrics with no data (an unknown identifier).
	Empty func(name string, dims map[string]string) bool
	// Gap names periods a metric has no datapoint for (DB load is only
	// published while there is load).
	Gap func(name string, t time.Time) bool

	// RDS, PI and Logs are the other services a cloudwatch: source asks;
	// Start serves defaults when they are nil: every instance known,
	// with Enhanced Monitoring and Performance Insights off.
	RDS  *RDS
	PI   *PI
	Logs *Logs

	mu sync.Mutex
	// Requests counts every request, retried attempts included; Calls
	// the calls answered (see calls); Queries holds each answered call's
	// queries once.
	Requests int
	Queries  []Query
	calls    calls
}

// Calls is how many GetMetricData calls were answered, however many
// attempts each took.
func (f *Server) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls.count()
}

type Query struct {
	ID, Name, Stat string
	Dims           map[string]string
	Period         int64
}

// Value is the generated datapoint of a metric at time t.
func Value(name string, t time.Time) float64 {
	return float64(len(name)) + float64(t.Unix()%3600)/60
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Requests++
	// The protocol the SDK speaks: if a dependency bump changes it, these
	// fail loudly rather than the source silently breaking.
	if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData" ||
		r.Header.Get("Content-Type") != "application/cbor" || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		f.t.Errorf("the CloudWatch client no longer sends Smithy RPC v2 CBOR GetMetricData: %s %s Content-Type=%q Smithy-Protocol=%q",
			r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Smithy-Protocol"))
		http.Error(w, "unexpected protocol", http.StatusBadRequest)
		return
	}
	signedFor(f.t, r, "monitoring")
	again := f.calls.again(f.t, r)
	if f.Throttle > 0 {
		f.Throttle--
		f.error(w, "ThrottlingException", "Rate exceeded")
		return
	}
	if f.FailType != "" {
		f.error(w, f.FailType, f.FailMsg)
		return
	}
	body, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(body)
	if err != nil {
		f.t.Errorf("request is not CBOR: %v", err)
		return
	}
	in := v.(cbor.Map)
	start, err1 := cbor.AsTime(in["StartTime"])
	end, err2 := cbor.AsTime(in["EndTime"])
	if err1 != nil || err2 != nil {
		f.t.Errorf("StartTime/EndTime: %v %v", err1, err2)
		return
	}
	if s, _ := in["ScanBy"].(cbor.String); s != "TimestampAscending" {
		f.t.Errorf("ScanBy %q", s)
	}
	skip := 0
	if tok, ok := in["NextToken"].(cbor.String); ok {
		skip, _ = strconv.Atoi(string(tok))
	}
	var results cbor.List
	emitted, seen := 0, 0
	more := false
	for _, qv := range in["MetricDataQueries"].(cbor.List) {
		q := qv.(cbor.Map)
		ms := q["MetricStat"].(cbor.Map)
		m := ms["Metric"].(cbor.Map)
		fq := Query{ID: string(q["Id"].(cbor.String)), Name: string(m["MetricName"].(cbor.String)), Stat: string(ms["Stat"].(cbor.String)), Dims: map[string]string{}}
		fq.Period, _ = cbor.AsInt64(ms["Period"])
		for _, dv := range m["Dimensions"].(cbor.List) {
			d := dv.(cbor.Map)
			fq.Dims[string(d["Name"].(cbor.String))] = string(d["Value"].(cbor.String))
		}
		if skip == 0 && !again {
			f.Queries = append(f.Queries, fq)
		}
		var ts, vals cbor.List
		if f.Empty == nil || !f.Empty(fq.Name, fq.Dims) {
			for t := start; t.Before(end); t = t.Add(time.Duration(fq.Period) * time.Second) {
				seen++
				if seen <= skip {
					continue
				}
				if f.Gap != nil && f.Gap(fq.Name, t) {
					continue
				}
				if f.PageSize > 0 && emitted >= f.PageSize {
					more = true
					break
				}
				emitted++
				ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.Unix()))})
				vals = append(vals, cbor.Float64(Value(fq.Name, t)))
			}
		}
		results = append(results, cbor.Map{"Id": q["Id"], "Label": cbor.String(fq.Name), "Timestamps": ts, "Values": vals, "StatusCode": cbor.String(status(more))})
	}
	out := cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}
	if more {
		out["NextToken"] = cbor.String(strconv.Itoa(skip + emitted))
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Write(cbor.Encode(out))
	f.calls.answer(r)
}

func status(more bool) string {
	if more {
		return "PartialData"
	}
	return "Complete"
}

func (f *Server) error(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + typ), "message": cbor.String(msg)}))
}

// Start serves f, and the other services beside it, and points the
// default AWS config at them.
func (f *Server) Start(t testing.TB) {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	Env(t, srv.URL)
	if f.RDS == nil {
		f.RDS = &RDS{}
	}
	if f.PI == nil {
		f.PI = &PI{}
	}
	if f.Logs == nil {
		f.Logs = &Logs{}
	}
	t.Setenv("AWS_ENDPOINT_URL_RDS", serve(t, f.RDS.start(t)))
	t.Setenv("AWS_ENDPOINT_URL_PI", serve(t, f.PI.start(t)))
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", serve(t, f.Logs.start(t)))
}

func serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// signedFor checks that a request is SigV4-signed for service, as the
// SDK signs it.
func signedFor(t testing.TB, r *http.Request, service string) {
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(a, "/"+service+"/aws4_request") {
		t.Errorf("request to %s not signed for %q: Authorization %q", r.URL, service, a)
	}
}

// Env sets the environment so config.LoadDefaultConfig talks to url with
// static test credentials and nothing from the machine.
func Env(t testing.TB, url string) {
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
}
