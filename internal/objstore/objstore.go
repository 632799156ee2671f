// Package objstore lets every pgrehearse file that is read or written
// whole or as a stream (workloads, results, samples, comparisons,
// reports) live on S3 or an S3-compatible server as s3://bucket/key.
// cmd opens such paths through Open and Create; the stages themselves
// (parse, replay, compare) read and write plain streams and know nothing
// of object storage.
//
// It uses the AWS SDK with the usual credential chain (internal/awsconf),
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) for another server, and
// path-style addressing whenever such an endpoint is given, as local
// servers (MinIO, gofakes3) need.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pgrehearse/pgrehearse/internal/awsconf"
)

// Scheme starts every object URL.
const Scheme = "s3://"

// IsURL reports whether path names an object rather than a local file.
func IsURL(path string) bool { return strings.HasPrefix(path, Scheme) }

// Location is a bucket and a key.
type Location struct{ Bucket, Key string }

func (l Location) String() string { return Scheme + l.Bucket + "/" + l.Key }

// Parse splits s3://bucket/key. The key must name an object, not a
// prefix: it may not be empty or end in a slash.
func Parse(url string) (Location, error) {
	if !IsURL(url) {
		return Location{}, fmt.Errorf("%q is not an s3://bucket/key URL", url)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, Scheme), "/")
	if bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return Location{}, fmt.Errorf("%q: want s3://bucket/key, the key naming one object", url)
	}
	return Location{bucket, key}, nil
}

var (
	mu     sync.Mutex
	cached *s3.Client
)

// Client returns the S3 client every call shares, made from the
// environment on first use.
func Client(ctx context.Context) (*s3.Client, error) {
	mu.Lock()
	defer mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	custom := endpointOverride()
	cfg, err := awsconf.Load(ctx, "", "")
	if errors.Is(err, awsconf.ErrNoRegion) && custom {
		// A local S3-compatible server rarely cares about the region, but
		// the signature needs one.
		cfg, err = awsconf.Load(ctx, "us-east-1", "")
	}
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	cached = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = custom
		// S3-compatible servers often send no checksum; the SDK would say
		// so on standard error for every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return cached, nil
}

// endpointOverride reports whether the environment points S3 calls at
// another server than AWS's.
func endpointOverride() bool {
	return os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// ResetClient forgets the shared client, so that the next call reads the
// environment again (tests point it at a server of their own).
func ResetClient() {
	mu.Lock()
	cached = nil
	mu.Unlock()
}
