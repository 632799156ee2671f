// Package cloudwatch is the metric source for RDS instances and Aurora
// clusters: it pulls CPU, IOPS, replica lag and what else CloudWatch has
// for a window with GetMetricData, all metrics of a cluster in one
// request (paged), at the finest period the window's age still allows.
//
// Credentials, profiles, SSO, AWS_REGION and AWS_ENDPOINT_URL_CLOUDWATCH
// work as in the AWS CLI, through config.LoadDefaultConfig.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	smithy "github.com/aws/smithy-go"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// API is the part of the CloudWatch client the source uses.
type API interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opt ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Source fetches one RDS instance's or Aurora cluster's metrics.
type Source struct {
	// Instance is an RDS instance identifier; Replicas its read replicas,
	// whose ReplicaLag is the lag. Cluster is an Aurora cluster
	// identifier instead: the writer's metrics and the cluster volume.
	Instance string
	Replicas []string
	Cluster  string
	Region   string
	Profile  string
	// Client is made from the default config when nil.
	Client API
	// Now is the clock that decides the window's age; time.Now when nil.
	Now func() time.Time
	// Calls counts GetMetricData requests made.
	Calls int
}

// New makes a source from a cloudwatch: spec.
func New(ctx context.Context, sp metrics.Spec) (*Source, error) {
	s := &Source{Instance: sp.Options["instance"], Cluster: sp.Options["cluster"], Region: sp.Options["region"], Profile: sp.Options["profile"]}
	if r := sp.Options["replicas"]; r != "" {
		s.Replicas = strings.Split(r, ";")
	}
	for k := range sp.Options {
		switch k {
		case "instance", "cluster", "region", "profile", "replicas":
		default:
			return nil, fmt.Errorf("cloudwatch: unknown option %q (use instance=, cluster=, replicas=, region=, profile=)", k)
		}
	}
	if (s.Instance == "") == (s.Cluster == "") {
		return nil, fmt.Errorf("cloudwatch: name exactly one of instance=ID (RDS) or cluster=ID (Aurora)")
	}
	if s.Cluster != "" && len(s.Replicas) > 0 {
		return nil, fmt.Errorf("cloudwatch: replicas= is for RDS instances; an Aurora cluster's lag is AuroraReplicaLagMaximum on its writer")
	}
	var opts []func(*config.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if s.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.Profile))
	}
	opts = append(opts, config.WithRetryMaxAttempts(8))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("cloudwatch: no AWS region: add region= to the spec or set AWS_REGION")
	}
	s.Region = cfg.Region
	s.Client = cloudwatch.NewFromConfig(cfg)
	return s, nil
}

// String describes the source.
func (s *Source) String() string {
	if s.Cluster != "" {
		return "cloudwatch:cluster=" + s.Cluster
	}
	return "cloudwatch:instance=" + s.Instance
}

// query is one metric to fetch and how to turn it into a series.
type query struct {
	metric    string
	namespace string
	name      string
	stat      string
	dims      []types.Dimension
	period    int32
	scale     float64 // multiply values by this (seconds → ms, per-period sum → per second)
	caveats   []string
	// combine, when set, names the series this query merges into with
	// max per timestamp (several replicas' lag).
	combine bool
}

func dim(name, value string) types.Dimension {
	return types.Dimension{Name: aws.String(name), Value: aws.String(value)}
}

// Period is the finest period CloudWatch still keeps for data as old as
// the window's start: 60 s up to 15 days, 300 s up to 63 days, 3600 s
// beyond.
func Period(start, now time.Time) int32 {
	switch age := now.Sub(start); {
	case age <= 15*24*time.Hour:
		return 60
	case age <= 63*24*time.Hour:
		return 300
	default:
		return 3600
	}
}

func (s *Source) queries(period int32) []query {
	var qs []query
	if s.Cluster != "" {
		w := []types.Dimension{dim("DBClusterIdentifier", s.Cluster), dim("Role", "WRITER")}
		c := []types.Dimension{dim("DBClusterIdentifier", s.Cluster)}
		volPeriod := max(period, 300)
		vol := []string{fmt.Sprintf("Aurora cluster volume I/O, billed per %d s and shown here per second: not like-for-like with RDS ReadIOPS/WriteIOPS", volPeriod)}
		qs = append(qs,
			query{metric: metrics.CPU, name: "CPUUtilization", stat: "Average", dims: w, scale: 1},
			query{metric: metrics.ReadIOPS, name: "VolumeReadIOPs", stat: "Sum", dims: c, period: volPeriod, scale: 1 / float64(volPeriod), caveats: vol},
			query{metric: metrics.WriteIOPS, name: "VolumeWriteIOPs", stat: "Sum", dims: c, period: volPeriod, scale: 1 / float64(volPeriod),
				caveats: append(vol, "Aurora write I/O counts storage log records, not page writes")},
			query{metric: metrics.ReplicaLag, name: "AuroraReplicaLagMaximum", stat: "Maximum", dims: w, scale: 1, caveats: []string{"AuroraReplicaLagMaximum on the writer: the worst Aurora replica, in ms"}},
			query{metric: metrics.Commits, name: "CommitThroughput", stat: "Average", dims: w, scale: 1},
		)
	} else {
		in := []types.Dimension{dim("DBInstanceIdentifier", s.Instance)}
		qs = append(qs,
			query{metric: metrics.CPU, name: "CPUUtilization", stat: "Average", dims: in, scale: 1},
			query{metric: metrics.ReadIOPS, name: "ReadIOPS", stat: "Average", dims: in, scale: 1},
			query{metric: metrics.WriteIOPS, name: "WriteIOPS", stat: "Average", dims: in, scale: 1},
		)
		for _, r := range s.Replicas {
			qs = append(qs, query{metric: metrics.ReplicaLag, name: "ReplicaLag", stat: "Maximum", dims: []types.Dimension{dim("DBInstanceIdentifier", r)},
				scale: 1000, combine: true, caveats: []string{"RDS ReplicaLag of the replicas (seconds, 1 s resolution), worst replica, in ms"}})
		}
	}
	common := qs[0].dims
	qs = append(qs,
		query{metric: metrics.Connections, name: "DatabaseConnections", stat: "Average", dims: common, scale: 1},
		query{metric: metrics.ReadLatency, name: "ReadLatency", stat: "Average", dims: common, scale: 1000},
		query{metric: metrics.WriteLatency, name: "WriteLatency", stat: "Average", dims: common, scale: 1000},
		query{metric: metrics.FreeableMemory, name: "FreeableMemory", stat: "Average", dims: common, scale: 1},
	)
	for i := range qs {
		qs[i].namespace = "AWS/RDS"
		if qs[i].period == 0 {
			qs[i].period = period
		}
	}
	return qs
}

// maxQueries is GetMetricData's limit per request.
const maxQueries = 500

// Fetch pulls the window's series.
func (s *Source) Fetch(ctx context.Context, w metrics.Window) (*metrics.Set, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	period := Period(w.Start, now())
	set := &metrics.Set{Source: s.String(), Window: w}
	if period > 60 {
		set.Warnings = append(set.Warnings, fmt.Sprintf("the window began %s ago: CloudWatch keeps only %d s points for data that old, so short spikes are averaged away",
			now().Sub(w.Start).Round(time.Hour), period))
	}
	qs := s.queries(period)
	points := make([][]metrics.Point, len(qs))
	for lo := 0; lo < len(qs); lo += maxQueries {
		hi := min(lo+maxQueries, len(qs))
		in := &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(w.Start.Truncate(time.Duration(period) * time.Second)),
			EndTime:   aws.Time(w.End),
			ScanBy:    types.ScanByTimestampAscending,
		}
		for i := lo; i < hi; i++ {
			q := qs[i]
			in.MetricDataQueries = append(in.MetricDataQueries, types.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("q%d", i)),
				MetricStat: &types.MetricStat{
					Metric: &types.Metric{Namespace: aws.String(q.namespace), MetricName: aws.String(q.name), Dimensions: q.dims},
					Period: aws.Int32(q.period),
					Stat:   aws.String(q.stat),
				},
				ReturnData: aws.Bool(true),
			})
		}
		for {
			s.Calls++
			out, err := s.Client.GetMetricData(ctx, in)
			if err != nil {
				return nil, s.explain(err)
			}
			for _, r := range out.MetricDataResults {
				var i int
				if _, err := fmt.Sscanf(aws.ToString(r.Id), "q%d", &i); err != nil || i < lo || i >= hi {
					continue
				}
				n := min(len(r.Timestamps), len(r.Values))
				for j := 0; j < n; j++ {
					points[i] = append(points[i], metrics.Point{T: r.Timestamps[j].UTC(), V: r.Values[j] * qs[i].scale})
				}
				if r.StatusCode == types.StatusCodeInternalError || r.StatusCode == types.StatusCodeForbidden {
					set.Warnings = append(set.Warnings, fmt.Sprintf("%s %s: CloudWatch says %s; the series may be incomplete", qs[i].name, dims(qs[i].dims), r.StatusCode))
				}
			}
			for _, m := range out.Messages {
				set.Warnings = append(set.Warnings, "CloudWatch: "+aws.ToString(m.Value))
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	// One series per metric: replicas' lag merges into the worst of them.
	byMetric := map[string]int{}
	empty := 0
	for i, q := range qs {
		if len(points[i]) == 0 {
			empty++
			set.Warnings = append(set.Warnings, fmt.Sprintf("%s: no datapoints for %s %s in %s between %s and %s", q.metric, q.name, dims(q.dims), s.Region,
				w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339)))
			continue
		}
		if k, ok := byMetric[q.metric]; ok && q.combine {
			set.Series[k].Points = mergeMax(set.Series[k].Points, points[i])
			set.Series[k].Source += "," + dimValue(q.dims)
			continue
		}
		byMetric[q.metric] = len(set.Series)
		set.Series = append(set.Series, metrics.Series{Metric: q.metric, Unit: metrics.Units[q.metric], Period: time.Duration(q.period) * time.Second,
			Source: fmt.Sprintf("cloudwatch %s %s %s %s", q.namespace, q.name, q.stat, dims(q.dims)), Caveats: q.caveats, Points: points[i]})
	}
	if empty == len(qs) {
		return nil, fmt.Errorf("cloudwatch: no datapoints at all for %s in region %s between %s and %s: check the identifier, the region, and that the window is right (and not in the future)",
			strings.TrimPrefix(s.String(), "cloudwatch:"), s.Region, w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	return set, nil
}

func dims(ds []types.Dimension) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	return strings.Join(parts, ",")
}

func dimValue(ds []types.Dimension) string {
	if len(ds) == 0 {
		return ""
	}
	return aws.ToString(ds[0].Value)
}

// mergeMax merges two ascending series, keeping the larger value where
// both have a point.
func mergeMax(a, b []metrics.Point) []metrics.Point {
	m := map[int64]float64{}
	for _, p := range append(append([]metrics.Point{}, a...), b...) {
		k := p.T.UnixNano()
		if v, ok := m[k]; !ok || p.V > v {
			m[k] = p.V
		}
	}
	out := make([]metrics.Point, 0, len(m))
	for k, v := range m {
		out = append(out, metrics.Point{T: time.Unix(0, k).UTC(), V: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

// explain turns an AWS error into what to do about it.
func (s *Source) explain(err error) error {
	var ae smithy.APIError
	msg := err.Error()
	switch {
	case errors.As(err, &ae) && (strings.Contains(ae.ErrorCode(), "AccessDenied") || ae.ErrorCode() == "UnauthorizedOperation"):
		return fmt.Errorf("cloudwatch: %s: permission denied: the AWS identity in use needs cloudwatch:GetMetricData (region %s): %w", s, s.Region, err)
	case strings.Contains(msg, "SSO") && (strings.Contains(strings.ToLower(msg), "expired") || strings.Contains(strings.ToLower(msg), "token")):
		p := s.Profile
		if p == "" {
			p = "<your profile>"
		}
		return fmt.Errorf("cloudwatch: the AWS SSO session has expired: run `aws sso login --profile %s` and retry: %w", p, err)
	case errors.As(err, &ae) && (strings.Contains(ae.ErrorCode(), "Throttl") || ae.ErrorCode() == "RequestLimitExceeded"):
		return fmt.Errorf("cloudwatch: %s: still throttled after retries with backoff: try again in a minute: %w", s, err)
	case errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterValue" || errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterValueException":
		return fmt.Errorf("cloudwatch: %s: CloudWatch refused the request: %s", s, ae.ErrorMessage())
	}
	return fmt.Errorf("cloudwatch: %s: GetMetricData: %w", s, err)
}
