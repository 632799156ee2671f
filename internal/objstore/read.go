package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Stat returns an object's size; a missing object (or bucket) is an error
// that wraps fs.ErrNotExist.
func Stat(ctx context.Context, url string) (int64, error) {
	loc, err := Parse(url)
	if err != nil {
		return 0, err
	}
	c, err := Client(ctx)
	if err != nil {
		return 0, err
	}
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &loc.Bucket, Key: &loc.Key})
	if err != nil {
		return 0, describe("look up", loc, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open reads an object from its start. The reader survives a dropped
// connection (a replay reads its workload for hours, and servers close
// idle ones): it asks again from where it stopped, for the same version
// of the object (If-Match on its ETag), so a workload replaced meanwhile
// is an error rather than a splice of two files.
func Open(ctx context.Context, url string) (io.ReadCloser, error) {
	loc, err := Parse(url)
	if err != nil {
		return nil, err
	}
	c, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	r := &reader{ctx: ctx, c: c, loc: loc}
	if err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// reader is an object read sequentially, reopened at its offset after a
// failed read.
type reader struct {
	ctx  context.Context
	c    *s3.Client
	loc  Location
	etag string
	size int64
	off  int64
	body io.ReadCloser
	// fails counts reads failed in a row.
	fails int
}

// maxFails is how many failed reads in a row end the read.
const maxFails = 5

func (r *reader) get() error {
	in := &s3.GetObjectInput{Bucket: &r.loc.Bucket, Key: &r.loc.Key}
	if r.etag != "" {
		in.IfMatch = &r.etag
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
	}
	out, err := r.c.GetObject(r.ctx, in)
	if err != nil {
		return describe("read", r.loc, err)
	}
	if r.etag == "" {
		r.etag, r.size = aws.ToString(out.ETag), aws.ToInt64(out.ContentLength)
	}
	r.body = out.Body
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.size && r.etag != "" && r.body == nil {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.get(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || (errors.Is(err, io.EOF) && r.off >= r.size) {
			r.fails = 0
			return n, err
		}
		// Cut short: ask again from here.
		r.body.Close()
		r.body = nil
		if r.fails++; r.fails > maxFails || r.ctx.Err() != nil {
			return n, fmt.Errorf("read %s at byte %d of %d: %w", r.loc, r.off, r.size, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *reader) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// describe words an S3 error for the user: a missing object or bucket
// wraps fs.ErrNotExist, a refused one says which permission is missing.
func describe(what string, loc Location, err error) error {
	var nsk *types.NoSuchKey
	var nsb *types.NoSuchBucket
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf), status == http.StatusNotFound:
		return fmt.Errorf("%s does not exist (%w)", loc, fs.ErrNotExist)
	case errors.As(err, &nsb):
		return fmt.Errorf("%s: bucket %s does not exist (%w)", loc, loc.Bucket, fs.ErrNotExist)
	case status == http.StatusForbidden:
		return fmt.Errorf("%s %s: access denied: the identity in use needs s3:GetObject to read, s3:PutObject and s3:AbortMultipartUpload to write (%w)", what, loc, err)
	case status == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: the object was replaced while it was read: read it again (%w)", what, loc, err)
	}
	return fmt.Errorf("%s %s: %w", what, loc, err)
}
