package cloudwatch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/pgrehearse/pgrehearse/compare/cloudwatch/cloudwatchtest"
	"github.com/pgrehearse/pgrehearse/compare/pi"
)

// TestWireProtocols pins what each client sends: if a dependency bump
// changes a protocol, this fails and names the change, and the local
// servers of the other tests must be taught the new one.
func TestWireProtocols(t *testing.T) {
	type seen struct {
		method, path, contentType, target, smithy, auth, body string
	}
	var mu sync.Mutex
	got := map[string]seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// Each service's endpoint has a path of its own before the
		// operation's.
		rest := strings.TrimPrefix(r.URL.Path, "/")
		service, path, _ := strings.Cut(rest, "/")
		mu.Lock()
		got[service] = seen{r.Method, "/" + path, r.Header.Get("Content-Type"), r.Header.Get("X-Amz-Target"), r.Header.Get("Smithy-Protocol"), r.Header.Get("Authorization"), string(b)}
		mu.Unlock()
		w.WriteHeader(http.StatusBadRequest) // no retry: the request is all this test wants
	}))
	defer srv.Close()
	cloudwatchtest.Env(t, "http://127.0.0.1:1")
	for _, s := range []string{"CLOUDWATCH", "RDS", "CLOUDWATCH_LOGS", "PI"} {
		t.Setenv("AWS_ENDPOINT_URL_"+s, srv.URL+"/"+strings.ToLower(s))
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cloudwatch.NewFromConfig(cfg).GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("q0"), Expression: aws.String("1")}}})
	rds.NewFromConfig(cfg).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("db-1")})
	cloudwatchlogs.NewFromConfig(cfg).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("RDSOSMetrics"), LogStreamName: aws.String("db-X")})
	pi.NewFromConfig(ctx, cfg).GetResourceMetrics(ctx, &pi.GetResourceMetricsInput{ServiceType: "RDS", Identifier: "db-X", StartTime: now.Add(-time.Hour), EndTime: now})

	want := map[string]seen{
		"cloudwatch":      {method: "POST", path: "/service/GraniteServiceVersion20100801/operation/GetMetricData", contentType: "application/cbor", smithy: "rpc-v2-cbor", auth: "/monitoring/aws4_request"},
		"rds":             {method: "POST", path: "/", contentType: "application/x-www-form-urlencoded", auth: "/rds/aws4_request", body: "Action=DescribeDBInstances&DBInstanceIdentifier=db-1&Version=2014-10-31"},
		"cloudwatch_logs": {method: "POST", path: "/", contentType: "application/x-amz-json-1.1", target: "Logs_20140328.GetLogEvents", auth: "/logs/aws4_request"},
		"pi":              {method: "POST", path: "/", contentType: "application/x-amz-json-1.1", target: "PerformanceInsightsv20180227.GetResourceMetrics", auth: "/pi/aws4_request"},
	}
	for svc, w := range want {
		g, ok := got[svc]
		if !ok {
			t.Errorf("%s: no request reached the server", svc)
			continue
		}
		if g.method != w.method || g.path != w.path || g.contentType != w.contentType || g.target != w.target || g.smithy != w.smithy ||
			!strings.Contains(g.auth, w.auth) || !strings.HasPrefix(g.auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
			t.Errorf("%s sends %s %s Content-Type=%q X-Amz-Target=%q Smithy-Protocol=%q Authorization=%q\nwant %s %s %q %q %q signed %q",
				svc, g.method, g.path, g.contentType, g.target, g.smithy, g.auth, w.method, w.path, w.contentType, w.target, w.smithy, w.auth)
		}
		if w.body != "" {
			if v, err := url.ParseQuery(g.body); err != nil || g.body != w.body && v.Get("Action") != "DescribeDBInstances" {
				t.Errorf("%s body %q, want %q", svc, g.body, w.body)
			}
		}
	}
	if b := got["cloudwatch_logs"].body; !strings.Contains(b, `"logGroupName":"RDSOSMetrics"`) {
		t.Errorf("GetLogEvents body %s", b)
	}
	if b := got["pi"].body; !strings.Contains(b, `"ServiceType":"RDS"`) || !strings.Contains(b, `"StartTime":`) {
		t.Errorf("GetResourceMetrics body %s", b)
	}
}
