// Package cloudwatch is the metric source for RDS instances and Aurora
// clusters: it pulls CPU, IOPS, replica lag, DB load and what else
// CloudWatch has for a window with GetMetricData, all metrics of a
// cluster in at most two requests (paged), at the finest period the
// window's age still allows. Where the instance has them it adds
// Enhanced Monitoring (compare/enhanced: CPU and IOPS every 1–60 s) and
// Performance Insights (compare/pi: load by wait event and statement),
// finding the instance's resource id with DescribeDBInstances.
//
// Credentials, profiles, SSO, AWS_REGION and AWS_ENDPOINT_URL_CLOUDWATCH
// (_RDS, _CLOUDWATCH_LOGS, _PI) work as in the AWS CLI, through
// config.LoadDefaultConfig.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	smithy "github.com/aws/smithy-go"

	"github.com/pgrehearse/pgrehearse/compare/enhanced"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pi"
	"github.com/pgrehearse/pgrehearse/internal/awsconf"
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
	// Writer is the Aurora cluster's writer instance, for Performance
	// Insights and Enhanced Monitoring; found with DescribeDBClusters
	// when empty.
	Writer string
	// Enhanced and PI say whether to read Enhanced Monitoring and
	// Performance Insights: "on", "off", or "auto" (or empty): when
	// DescribeDBInstances says the instance has them.
	Enhanced, PI string
	// Client is made from the default config when nil; so are the
	// others, made by New.
	Client   API
	RDS      RDSAPI
	Logs     enhanced.API
	Insights pi.API
	// Now is the clock that decides the window's age; time.Now when nil.
	Now func() time.Time
	// Calls counts GetMetricData requests made; RDSCalls, LogsCalls and
	// PICalls the other services'.
	Calls, RDSCalls, LogsCalls, PICalls int
}

// New makes a source from a cloudwatch: spec.
func New(ctx context.Context, sp metrics.Spec) (*Source, error) {
	s := &Source{Instance: sp.Options["instance"], Cluster: sp.Options["cluster"], Region: sp.Options["region"], Profile: sp.Options["profile"],
		Writer: sp.Options["writer"], Enhanced: sp.Options["enhanced"], PI: sp.Options["pi"]}
	if r := sp.Options["replicas"]; r != "" {
		s.Replicas = strings.Split(r, ";")
	}
	for k := range sp.Options {
		switch k {
		case "instance", "cluster", "region", "profile", "replicas", "writer":
		case "enhanced", "pi":
			switch sp.Options[k] {
			case "on", "off", "auto":
			default:
				return nil, fmt.Errorf("cloudwatch: %s=%q: use on, off or auto", k, sp.Options[k])
			}
		default:
			return nil, fmt.Errorf("cloudwatch: unknown option %q (use instance=, cluster=, writer=, replicas=, region=, profile=, enhanced=, pi=)", k)
		}
	}
	if s.Writer != "" && s.Cluster == "" {
		return nil, fmt.Errorf("cloudwatch: writer= names an Aurora cluster's writer instance: give cluster= too")
	}
	if (s.Instance == "") == (s.Cluster == "") {
		return nil, fmt.Errorf("cloudwatch: name exactly one of instance=ID (RDS) or cluster=ID (Aurora)")
	}
	if s.Cluster != "" && len(s.Replicas) > 0 {
		return nil, fmt.Errorf("cloudwatch: replicas= is for RDS instances; an Aurora cluster's lag is AuroraReplicaLagMaximum on its writer")
	}
	cfg, err := awsconf.Load(ctx, s.Region, s.Profile)
	if errors.Is(err, awsconf.ErrNoRegion) {
		return nil, fmt.Errorf("cloudwatch: no AWS region: add region= to the spec or set AWS_REGION")
	}
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: %w", err)
	}
	s.Region = cfg.Region
	s.Client = cloudwatch.NewFromConfig(cfg)
	s.RDS = rds.NewFromConfig(cfg)
	s.Logs = cloudwatchlogs.NewFromConfig(cfg)
	s.Insights = pi.NewFromConfig(ctx, cfg)
	return s, nil
}

// String describes the source.
func (s *Source) String() string {
	if s.Cluster != "" {
		return "cloudwatch:cluster=" + s.Cluster
	}
	return "cloudwatch:instance=" + s.Instance
}

// Fetch pulls the window's series: every CloudWatch metric in at most
// two GetMetricData calls (paged), then, where they are on, Enhanced
// Monitoring for CPU and IOPS at its interval and Performance Insights
// for the load by wait event and statement.
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
	var inst *Instance
	if s.Enhanced != "off" || s.PI != "off" {
		var err error
		if inst, err = s.lookup(ctx); err != nil {
			if s.Enhanced == "on" || s.PI == "on" {
				return nil, err
			}
			set.Warnings = append(set.Warnings, fmt.Sprintf("%v; going on without Enhanced Monitoring and Performance Insights", err))
		}
	}
	qs := s.queries(period)
	points, err := s.getMetricData(ctx, w, qs, set)
	if err != nil {
		return nil, err
	}
	// One series per metric: replicas' lag merges into the worst of them.
	byMetric := map[string]int{}
	empty := 0
	for i, q := range qs {
		if q.zeroGaps && (len(points[i]) > 0 || inst != nil && inst.PerformanceInsights) {
			points[i] = zeroFill(points[i], w, time.Duration(q.period)*time.Second)
		}
		if len(points[i]) == 0 {
			empty++
			set.Warnings = append(set.Warnings, fmt.Sprintf("%s: no datapoints for %s %s in %s between %s and %s%s", q.metric, q.name, dims(q.dims), s.Region,
				w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), map[bool]string{true: " (Performance Insights or Database Insights is off, or there was no load at all)"}[q.zeroGaps]))
			continue
		}
		if k, ok := byMetric[q.metric]; ok && q.combine {
			set.Series[k].Points = mergeMax(set.Series[k].Points, points[i])
			set.Series[k].Source += "," + dimValue(q.dims)
			continue
		}
		byMetric[q.metric] = len(set.Series)
		set.Series = append(set.Series, metrics.Series{Metric: q.metric, Unit: metrics.Unit(q.metric), Period: time.Duration(q.period) * time.Second,
			Source: fmt.Sprintf("cloudwatch %s %s %s %s", q.namespace, q.name, q.stat, dims(q.dims)), Caveats: q.caveats, Points: points[i]})
	}
	if empty == len(qs) {
		return nil, fmt.Errorf("cloudwatch: no datapoints at all for %s in region %s between %s and %s: check the identifier, the region, and that the window is right (and not in the future)",
			strings.TrimPrefix(s.String(), "cloudwatch:"), s.Region, w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	if err := s.addEnhanced(ctx, w, set, inst); err != nil {
		return nil, err
	}
	if err := s.addPI(ctx, w, set, inst); err != nil {
		return nil, err
	}
	return set, nil
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
