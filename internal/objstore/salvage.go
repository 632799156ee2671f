package objstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Salvaged says what Salvage made an object of.
type Salvaged struct {
	UploadID string
	Parts    int
	Bytes    int64
}

// Salvage completes the newest unfinished upload of url with the parts it
// holds, so that what a killed writer (SIGKILL, a lost node) had uploaded
// becomes the object. Run it only once that writer is gone: completing
// the upload of a live one ends its stream. A results file salvaged so
// ends without its summary, maybe in the middle of a line, and reads as a
// replay that was killed.
func Salvage(ctx context.Context, url string) (*Salvaged, error) {
	loc, err := Parse(url)
	if err != nil {
		return nil, err
	}
	c, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	var newest *types.MultipartUpload
	p := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: &loc.Bucket, Prefix: &loc.Key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, describe("list the unfinished uploads of", loc, err)
		}
		for i := range page.Uploads {
			u := &page.Uploads[i]
			if aws.ToString(u.Key) != loc.Key {
				continue
			}
			if newest == nil || aws.ToTime(u.Initiated).After(aws.ToTime(newest.Initiated)) {
				newest = u
			}
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("%s: no unfinished upload to salvage (an upload that never filled its first %d MiB part leaves none)", loc, MinPartSize>>20)
	}
	s := &Salvaged{UploadID: aws.ToString(newest.UploadId)}
	var done []types.CompletedPart
	lp := s3.NewListPartsPaginator(c, &s3.ListPartsInput{Bucket: &loc.Bucket, Key: &loc.Key, UploadId: &s.UploadID})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			return nil, describe("list the parts of", loc, err)
		}
		for _, part := range page.Parts {
			done = append(done, types.CompletedPart{PartNumber: part.PartNumber, ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32,
				ChecksumCRC32C: part.ChecksumCRC32C, ChecksumCRC64NVME: part.ChecksumCRC64NVME, ChecksumSHA1: part.ChecksumSHA1, ChecksumSHA256: part.ChecksumSHA256})
			s.Bytes += aws.ToInt64(part.Size)
		}
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("%s: upload %s holds no part yet", loc, s.UploadID)
	}
	s.Parts = len(done)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &loc.Bucket, Key: &loc.Key,
		UploadId: &s.UploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		return nil, describe("complete", loc, err)
	}
	return s, nil
}
