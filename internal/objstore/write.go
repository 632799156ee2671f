package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// MinPartSize is S3's smallest part of a multipart upload but the last.
const MinPartSize = 5 << 20

// maxParts is S3's limit of parts in one upload.
const maxParts = 10000

// partSize is the size of part n (0-based): the minimum, so that as little
// as possible waits in memory, doubled every 1,000 parts so that 10,000
// parts hold far more than any results file (the first 1,000 hold 5 GiB).
func partSize(n int) int { return MinPartSize << (n / 1000) }

// queued is how many full parts may wait for the uploader before Write
// waits: a slow network holds the writer back rather than fill memory.
const queued = 2

// Writer streams an object to S3. Bytes go up in multipart parts as soon
// as a part is full, on a goroutine of its own, so Write does not wait for
// the network; Close sends the rest and completes the upload, and only then
// does the object appear (whole) at its key. An object that never filled
// a part is sent with one PutObject on Close.
//
// Every request runs without the caller's cancellation: the replay's
// context ends on SIGTERM, and that is exactly when the results must still
// be completed.
type Writer struct {
	ctx context.Context
	c   *s3.Client
	loc Location

	buf   []byte
	sent  int // parts handed to the uploader
	parts chan []byte
	g     errgroup.Group

	mu       sync.Mutex
	uploadID string
	done     []types.CompletedPart
	err      error
	closed   bool
}

// Create starts writing url; nothing exists at the key until Close.
func Create(ctx context.Context, url string) (*Writer, error) {
	loc, err := Parse(url)
	if err != nil {
		return nil, err
	}
	c, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	w := &Writer{ctx: context.WithoutCancel(ctx), c: c, loc: loc, parts: make(chan []byte, queued)}
	w.g.Go(w.upload)
	return w, nil
}

// Write keeps p for the next part and hands every full part to the
// uploader. It returns the first upload error, so a stream that can no
// longer be written says so at its next write.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	if w.closed {
		return 0, fmt.Errorf("write %s: already closed", w.loc)
	}
	w.buf = append(w.buf, p...)
	for len(w.buf) >= partSize(w.sent) {
		if w.sent >= maxParts-1 {
			return 0, fmt.Errorf("write %s: more than %d parts: the object is too large for one upload", w.loc, maxParts)
		}
		n := partSize(w.sent)
		part := make([]byte, n)
		copy(part, w.buf[:n])
		w.buf = append(w.buf[:0], w.buf[n:]...)
		w.sent++
		w.parts <- part
	}
	return len(p), nil
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// upload sends the parts in order, starting the multipart upload with the
// first. After an error it drains the queue so that Write never blocks.
func (w *Writer) upload() error {
	for part := range w.parts {
		if w.failed() != nil {
			continue
		}
		if err := w.uploadPart(part); err != nil {
			w.fail(err)
		}
	}
	return nil
}

func (w *Writer) uploadPart(part []byte) error {
	w.mu.Lock()
	id, n := w.uploadID, int32(len(w.done)+1)
	w.mu.Unlock()
	if id == "" {
		out, err := w.c.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{Bucket: &w.loc.Bucket, Key: &w.loc.Key})
		if err != nil {
			return describe("start the upload of", w.loc, err)
		}
		id = aws.ToString(out.UploadId)
		w.mu.Lock()
		w.uploadID = id
		w.mu.Unlock()
	}
	out, err := w.c.UploadPart(w.ctx, &s3.UploadPartInput{Bucket: &w.loc.Bucket, Key: &w.loc.Key, UploadId: &id,
		PartNumber: &n, Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))})
	if err != nil {
		return describe(fmt.Sprintf("upload part %d of", n), w.loc, err)
	}
	w.mu.Lock()
	w.done = append(w.done, types.CompletedPart{PartNumber: &n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32,
		ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	w.mu.Unlock()
	return nil
}

// Close sends what is left and completes the object. After a failed
// completion the uploaded parts are kept (Salvage can still make them an
// object); the error names the upload.
func (w *Writer) Close() error {
	if w.closed {
		return w.failed()
	}
	w.closed = true
	multipart := w.sent > 0
	if multipart && len(w.buf) > 0 {
		w.parts <- w.buf
	}
	close(w.parts)
	w.g.Wait()
	if err := w.failed(); err != nil {
		return err
	}
	if !multipart {
		_, err := w.c.PutObject(w.ctx, &s3.PutObjectInput{Bucket: &w.loc.Bucket, Key: &w.loc.Key,
			Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf)))})
		if err != nil {
			return w.fail(describe("write", w.loc, err))
		}
		return nil
	}
	_, err := w.c.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{Bucket: &w.loc.Bucket, Key: &w.loc.Key,
		UploadId: &w.uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: w.done}})
	if err != nil {
		return w.fail(fmt.Errorf("%w (its %d uploaded parts are kept in upload %s: pgrehearse salvage %s makes them the object)",
			describe("complete", w.loc, err), len(w.done), w.uploadID, w.loc))
	}
	return nil
}

// Abort throws the object away: nothing appears at the key, and the
// parts uploaded so far are deleted.
func (w *Writer) Abort() error {
	if !w.closed {
		w.closed = true
		close(w.parts)
		w.g.Wait()
	}
	w.fail(errors.New("aborted"))
	w.mu.Lock()
	id := w.uploadID
	w.mu.Unlock()
	if id == "" {
		return nil
	}
	_, err := w.c.AbortMultipartUpload(w.ctx, &s3.AbortMultipartUploadInput{Bucket: &w.loc.Bucket, Key: &w.loc.Key, UploadId: &id})
	if err != nil {
		return describe("abort the upload of", w.loc, err)
	}
	return nil
}

// CheckWritable tells whether url can be written, before any work: it
// starts a multipart upload there and aborts it at once, which needs the
// permissions a real write needs (s3:PutObject, s3:AbortMultipartUpload)
// and leaves nothing behind. A replay that waits for --start-at learns of
// a missing bucket now, not hours later.
func CheckWritable(ctx context.Context, url string) error {
	loc, err := Parse(url)
	if err != nil {
		return err
	}
	c, err := Client(ctx)
	if err != nil {
		return err
	}
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &loc.Bucket, Key: &loc.Key})
	if err != nil {
		return describe("write", loc, err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &loc.Bucket, Key: &loc.Key, UploadId: out.UploadId}); err != nil {
		return describe("abort the probe upload of", loc, err)
	}
	return nil
}
