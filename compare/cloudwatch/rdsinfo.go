package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	smithy "github.com/aws/smithy-go"
)

// RDSAPI is the part of the RDS client the source uses to find an
// instance's DbiResourceId (the name Performance Insights and Enhanced
// Monitoring know it by) and whether they are on.
type RDSAPI interface {
	DescribeDBInstances(ctx context.Context, in *rds.DescribeDBInstancesInput, opt ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	DescribeDBClusters(ctx context.Context, in *rds.DescribeDBClustersInput, opt ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
}

// Instance is what RDS says of the instance whose load and OS metrics
// are read: the RDS instance, or the Aurora cluster's writer.
type Instance struct {
	ID         string
	ResourceID string
	Engine     string
	// MonitoringInterval is Enhanced Monitoring's interval, 0 when off.
	MonitoringInterval  time.Duration
	PerformanceInsights bool
}

// lookup finds the instance: for an Aurora cluster, its writer first
// (DescribeDBClusters) unless writer= named it.
func (s *Source) lookup(ctx context.Context) (*Instance, error) {
	id := s.Instance
	if s.Cluster != "" {
		id = s.Writer
	}
	if id == "" {
		s.RDSCalls++
		out, err := s.RDS.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(s.Cluster)})
		if err != nil {
			return nil, s.explainRDS("DescribeDBClusters", err)
		}
		for _, c := range out.DBClusters {
			for _, m := range c.DBClusterMembers {
				if aws.ToBool(m.IsClusterWriter) {
					id = aws.ToString(m.DBInstanceIdentifier)
				}
			}
		}
		if id == "" {
			return nil, fmt.Errorf("rds: cluster %s has no writer instance now: name the one that was writer with writer=ID", s.Cluster)
		}
		s.Writer = id
	}
	s.RDSCalls++
	out, err := s.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return nil, s.explainRDS("DescribeDBInstances", err)
	}
	if len(out.DBInstances) == 0 {
		return nil, fmt.Errorf("rds: DescribeDBInstances knows no instance %s in %s", id, s.Region)
	}
	d := out.DBInstances[0]
	return &Instance{ID: id, ResourceID: aws.ToString(d.DbiResourceId), Engine: aws.ToString(d.Engine),
		MonitoringInterval:  time.Duration(aws.ToInt32(d.MonitoringInterval)) * time.Second,
		PerformanceInsights: aws.ToBool(d.PerformanceInsightsEnabled)}, nil
}

func (s *Source) explainRDS(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation":
			return fmt.Errorf("rds: %s: permission denied: the AWS identity in use needs rds:%s (to find the instance's resource id for Performance Insights and Enhanced Monitoring): %w", s, op, err)
		case strings.HasSuffix(code, "NotFound") || strings.HasSuffix(code, "NotFoundFault"):
			return fmt.Errorf("rds: %s: %s: %s (region %s)", s, op, ae.ErrorMessage(), s.Region)
		}
	}
	return fmt.Errorf("rds: %s: %s: %w", s, op, err)
}
