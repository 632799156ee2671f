// Package awsconf loads the AWS configuration every pgrehearse part that
// calls AWS uses (CloudWatch, Performance Insights, CloudWatch Logs and
// RDS for the metric sources; RDS for fetch-logs): the usual credential
// chain (environment, profiles, SSO, instance roles), the region, and
// endpoint overrides such as AWS_ENDPOINT_URL_CLOUDWATCH, with retries
// sized for a rehearsal that should not fail on one throttled call.
package awsconf

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Retries is how many attempts a throttled or failed AWS call gets.
const Retries = 8

// Load returns the configuration for region and profile (either may be
// empty: the environment and the shared config then decide). It fails
// when no region is known, saying how to give one.
func Load(ctx context.Context, region, profile string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRetryMaxAttempts(Retries)}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	return cfg, nil
}

// ErrNoRegion says that neither the caller nor the environment named a
// region.
var ErrNoRegion = errors.New("no AWS region: add region= or set AWS_REGION")
