package awsconf

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := Load(context.Background(), "", ""); !errors.Is(err, ErrNoRegion) {
		t.Fatalf("no region anywhere: %v, want ErrNoRegion", err)
	}
	cfg, err := Load(context.Background(), "eu-west-1", "")
	if err != nil || cfg.Region != "eu-west-1" || cfg.RetryMaxAttempts != Retries {
		t.Fatalf("region %q retries %d, %v", cfg.Region, cfg.RetryMaxAttempts, err)
	}
	t.Setenv("AWS_REGION", "us-east-2")
	if cfg, err := Load(context.Background(), "", ""); err != nil || cfg.Region != "us-east-2" {
		t.Fatalf("region from the environment: %q, %v", cfg.Region, err)
	}
	if _, err := Load(context.Background(), "", "no-such-profile"); err == nil {
		t.Fatal("a profile that is not in the config files loaded")
	}
}
