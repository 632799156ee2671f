// Package s3test runs an in-memory server speaking the S3 protocol
// (gofakes3) for tests, and points objstore's client at it through the
// same environment variables a user sets: AWS_ENDPOINT_URL_S3 and static
// credentials, with no shared config and no instance metadata.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/pgrehearse/pgrehearse/internal/objstore"
)

// Server is a running S3 server with one bucket.
type Server struct {
	URL    string
	Bucket string
	Client *s3.Client

	mu    sync.Mutex
	parts []int64
	// CutGets, when positive, makes that many GET responses stop after
	// CutAfter bytes, as a dropped connection does.
	CutGets  atomic.Int32
	CutAfter int
}

// Start starts a server for the test, with bucket "rehearsal".
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Bucket: "rehearsal"}
	fake := gofakes3.New(s3mem.New())
	srv := httptest.NewServer(s.wrap(fake.Server()))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	objstore.ResetClient()
	t.Cleanup(objstore.ResetClient)
	c, err := objstore.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Client = c
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

// URLOf is the s3:// URL of key in the bucket.
func (s *Server) URLOf(key string) string { return "s3://" + s.Bucket + "/" + key }

// PartSizes lists the sizes of the multipart parts uploaded so far, in
// the order they came.
func (s *Server) PartSizes() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.parts...)
}

func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method == http.MethodPut && q.Get("partNumber") != "" {
			n := r.ContentLength
			if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
				n, _ = strconv.ParseInt(d, 10, 64)
			}
			// Counted once the server has stored it.
			h.ServeHTTP(w, r)
			s.mu.Lock()
			s.parts = append(s.parts, n)
			s.mu.Unlock()
			return
		}
		if r.Method == http.MethodGet && q.Get("uploads") == "" && q.Get("uploadId") == "" && s.CutGets.Add(-1) >= 0 {
			h.ServeHTTP(&cutWriter{ResponseWriter: w, left: s.CutAfter}, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cutWriter ends a response after left bytes by aborting the connection.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.ResponseWriter.Write(p[:c.left])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}
