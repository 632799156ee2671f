package pi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	smithy "github.com/aws/smithy-go"
)

// The client speaks the Performance Insights API as the AWS SDKs do
// (AWS JSON 1.1: a POST to / with X-Amz-Target naming the operation,
// signed with SigV4 for the service "pi"), with the credentials, region,
// retries and endpoint settings of an aws.Config. It covers
// GetResourceMetrics only. The SDK's own module for the service is not
// among the modules this project can fetch; its input and output types
// are mirrored here field for field, so the SDK's client can replace
// this one without touching Reader.

// Protocol facts, as the SDK for Performance Insights sends them.
const (
	ContentType  = "application/x-amz-json-1.1"
	TargetPrefix = "PerformanceInsightsv20180227."
	SigningName  = "pi"
	// SDKID names the service in AWS_ENDPOINT_URL_PI and in the shared
	// config's services sections.
	SDKID = "PI"
)

// MetricQuery is one metric to read, optionally grouped by a dimension
// group.
type MetricQuery struct {
	Metric  string            `json:"Metric"`
	GroupBy *DimensionGroup   `json:"GroupBy,omitempty"`
	Filter  map[string]string `json:"Filter,omitempty"`
}

// DimensionGroup groups a metric by one dimension group's dimensions.
type DimensionGroup struct {
	Group      string   `json:"Group"`
	Dimensions []string `json:"Dimensions,omitempty"`
	Limit      int32    `json:"Limit,omitempty"`
}

// GetResourceMetricsInput is the request.
type GetResourceMetricsInput struct {
	ServiceType     string
	Identifier      string
	MetricQueries   []MetricQuery
	StartTime       time.Time
	EndTime         time.Time
	PeriodInSeconds int32
	MaxResults      int32
	NextToken       string
	PeriodAlignment string
}

// DataPoint is one value of a metric.
type DataPoint struct {
	Timestamp time.Time
	Value     *float64
}

// MetricKey names a series: the metric and, when grouped, the
// dimensions' values.
type MetricKey struct {
	Metric     string            `json:"Metric"`
	Dimensions map[string]string `json:"Dimensions"`
}

// MetricKeyDataPoints is one series.
type MetricKeyDataPoints struct {
	Key        MetricKey
	DataPoints []DataPoint
}

// GetResourceMetricsOutput is the answer.
type GetResourceMetricsOutput struct {
	AlignedStartTime, AlignedEndTime time.Time
	Identifier                       string
	MetricList                       []MetricKeyDataPoints
	NextToken                        string
}

// epoch is a timestamp as the JSON protocols send it: seconds since the
// epoch, fractions allowed.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func fromEpoch(f float64) time.Time {
	s, frac := math.Modf(f)
	return time.Unix(int64(s), int64(math.Round(frac*1e9))).UTC()
}

func (in *GetResourceMetricsInput) MarshalJSON() ([]byte, error) {
	type wire struct {
		ServiceType     string        `json:"ServiceType"`
		Identifier      string        `json:"Identifier"`
		MetricQueries   []MetricQuery `json:"MetricQueries"`
		StartTime       float64       `json:"StartTime"`
		EndTime         float64       `json:"EndTime"`
		PeriodInSeconds int32         `json:"PeriodInSeconds,omitempty"`
		MaxResults      int32         `json:"MaxResults,omitempty"`
		NextToken       string        `json:"NextToken,omitempty"`
		PeriodAlignment string        `json:"PeriodAlignment,omitempty"`
	}
	return json.Marshal(wire{in.ServiceType, in.Identifier, in.MetricQueries, epoch(in.StartTime), epoch(in.EndTime),
		in.PeriodInSeconds, in.MaxResults, in.NextToken, in.PeriodAlignment})
}

func (out *GetResourceMetricsOutput) UnmarshalJSON(b []byte) error {
	var w struct {
		AlignedStartTime, AlignedEndTime float64
		Identifier                       string
		NextToken                        string
		MetricList                       []struct {
			Key        MetricKey
			DataPoints []struct {
				Timestamp float64
				Value     *float64
			}
		}
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out.AlignedStartTime, out.AlignedEndTime = fromEpoch(w.AlignedStartTime), fromEpoch(w.AlignedEndTime)
	out.Identifier, out.NextToken = w.Identifier, w.NextToken
	for _, m := range w.MetricList {
		s := MetricKeyDataPoints{Key: m.Key}
		for _, p := range m.DataPoints {
			s.DataPoints = append(s.DataPoints, DataPoint{Timestamp: fromEpoch(p.Timestamp), Value: p.Value})
		}
		out.MetricList = append(out.MetricList, s)
	}
	return nil
}

// APIError is an error the service answered with.
type APIError struct {
	Code, Message string
	Status        int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api error %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// ErrorCode, ErrorMessage, ErrorFault and HTTPStatusCode make it a
// smithy.APIError the SDK's retryer understands (throttling, 5xx).
func (e *APIError) ErrorCode() string    { return e.Code }
func (e *APIError) ErrorMessage() string { return e.Message }
func (e *APIError) HTTPStatusCode() int  { return e.Status }
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.Status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// Client is a Performance Insights client.
type Client struct {
	cfg      aws.Config
	endpoint string
	retryer  aws.Retryer
	signer   *v4.Signer
	http     aws.HTTPClient
}

// NewFromConfig makes a client from an AWS configuration, routed as the
// SDK routes its clients: AWS_ENDPOINT_URL_PI or a services section of
// the shared config, then AWS_ENDPOINT_URL, then the regional endpoint.
func NewFromConfig(ctx context.Context, cfg aws.Config) *Client {
	c := &Client{cfg: cfg, signer: v4.NewSigner(), http: cfg.HTTPClient}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if cfg.Retryer != nil {
		c.retryer = cfg.Retryer()
	} else {
		c.retryer = retry.NewStandard()
	}
	type serviceEndpoint interface {
		GetServiceBaseEndpoint(ctx context.Context, sdkID string) (string, bool, error)
	}
	for _, src := range cfg.ConfigSources {
		if se, ok := src.(serviceEndpoint); ok {
			if v, found, err := se.GetServiceBaseEndpoint(ctx, SDKID); found && err == nil && v != "" {
				c.endpoint = v
				break
			}
		}
	}
	if c.endpoint == "" && cfg.BaseEndpoint != nil {
		c.endpoint = *cfg.BaseEndpoint
	}
	if c.endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		c.endpoint = "https://pi." + cfg.Region + "." + suffix
	}
	return c
}

// Endpoint is where the client sends requests.
func (c *Client) Endpoint() string { return c.endpoint }

// GetResourceMetrics reads metrics of one data source.
func (c *Client) GetResourceMetrics(ctx context.Context, in *GetResourceMetricsInput) (*GetResourceMetricsOutput, error) {
	out := &GetResourceMetricsOutput{}
	if err := c.call(ctx, "GetResourceMetrics", in, out); err != nil {
		return nil, fmt.Errorf("operation error PI: GetResourceMetrics: %w", err)
	}
	return out, nil
}

// call sends one operation, retrying as the configuration's retryer says.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.send(ctx, op, body, out)
		if err == nil || attempt >= c.retryer.MaxAttempts() || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

func (c *Client) send(ctx context.Context, op string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	if c.cfg.Credentials == nil {
		return fmt.Errorf("no AWS credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("get credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningName, c.cfg.Region, time.Now().UTC()); err != nil {
		return fmt.Errorf("sign the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		json.Unmarshal(raw, &e)
		code := e.Type
		if i := strings.LastIndexAny(code, "#"); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = resp.Header.Get("X-Amzn-ErrorType")
			code, _, _ = strings.Cut(code, ":")
		}
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		return &APIError{Code: code, Message: e.Message + e.Message2, Status: resp.StatusCode}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	return nil
}
