package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/objstore"
	"github.com/pgrehearse/pgrehearse/internal/objstore/s3test"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, bucket, key, err string
	}{
		{"s3://b/k", "b", "k", ""},
		{"s3://b/dir/shard-0.jsonl", "b", "dir/shard-0.jsonl", ""},
		{"s3://b/", "", "", "want s3://bucket/key"},
		{"s3://b", "", "", "want s3://bucket/key"},
		{"s3://b/dir/", "", "", "want s3://bucket/key"},
		{"/tmp/x", "", "", "not an s3://"},
	} {
		loc, err := objstore.Parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q) = %v, want error %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || loc.Bucket != c.bucket || loc.Key != c.key || loc.String() != c.in {
			t.Errorf("Parse(%q) = %+v, %v", c.in, loc, err)
		}
	}
}

// data is n bytes of lines, as a results stream is.
func data(n int) []byte {
	var b bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for b.Len() < n {
		b.WriteString(`{"s":`)
		b.WriteString(strings.Repeat("x", r.IntN(90)))
		b.WriteString("}\n")
	}
	return b.Bytes()[:n]
}

// write streams p in small writes, as the results writer's buffer does.
func write(t *testing.T, w io.Writer, p []byte) {
	t.Helper()
	for len(p) > 0 {
		n := min(len(p), 256<<10)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
}

func readAll(t *testing.T, url string) []byte {
	t.Helper()
	r, err := objstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStreamInParts(t *testing.T) {
	s := s3test.Start(t)
	ctx := context.Background()
	url := s.URLOf("results/shard-0.jsonl")
	want := data(2*objstore.MinPartSize + 123_456)
	w, err := objstore.Create(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, want)
	// Nothing is visible before Close: a reader never sees half an object.
	if _, err := objstore.Stat(ctx, url); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before Close: Stat = %v, want not exist", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, url); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d, equal %v", len(got), len(want), bytes.Equal(got, want))
	}
	parts := s.PartSizes()
	if len(parts) != 3 || parts[0] != objstore.MinPartSize || parts[1] != objstore.MinPartSize || parts[2] != 123_456 {
		t.Fatalf("parts %v, want two of %d and a last of 123456", parts, objstore.MinPartSize)
	}
	if n, err := objstore.Stat(ctx, url); err != nil || n != int64(len(want)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
}

func TestSmallObjectInOnePut(t *testing.T) {
	s := s3test.Start(t)
	url := s.URLOf("comparison.json")
	w, err := objstore.Create(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte(`{"verdict":"GO"}`))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, url); string(got) != `{"verdict":"GO"}` {
		t.Fatalf("got %q", got)
	}
	if p := s.PartSizes(); len(p) != 0 {
		t.Fatalf("a small object went in parts %v", p)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	s := s3test.Start(t)
	ctx := context.Background()
	url := s.URLOf("workload.pgrw")
	w, err := objstore.Create(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, data(objstore.MinPartSize+10))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.Stat(ctx, url); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Abort: %v", err)
	}
	if _, err := objstore.Salvage(ctx, url); err == nil {
		t.Fatal("an aborted upload could be salvaged")
	}
}

// TestKilledWriterSalvaged is a replay killed outright: the writer is
// never closed. Its full parts are on the server, and Salvage makes them
// the object: a prefix of the stream, whole parts only.
func TestKilledWriterSalvaged(t *testing.T) {
	s := s3test.Start(t)
	ctx := context.Background()
	url := s.URLOf("results/shard-1.jsonl")
	all := data(2*objstore.MinPartSize + 4096)
	w, err := objstore.Create(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// A killed process takes its uploader with it; the test stops it once
	// it is done, so that it leaves no goroutine behind.
	defer w.Abort()
	write(t, w, all)
	// Wait for the uploader the way a killed process does not: only so
	// that the test knows both parts arrived.
	for len(s.PartSizes()) < 2 {
		runtimeGosched()
	}
	got, err := objstore.Salvage(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if got.Parts != 2 || got.Bytes != 2*objstore.MinPartSize {
		t.Fatalf("salvaged %+v, want 2 parts of %d", got, objstore.MinPartSize)
	}
	if b := readAll(t, url); !bytes.Equal(b, all[:2*objstore.MinPartSize]) {
		t.Fatalf("salvaged object is not the stream's first %d bytes (got %d)", 2*objstore.MinPartSize, len(b))
	}
	if _, err := objstore.Salvage(ctx, s.URLOf("nothing")); err == nil || !strings.Contains(err.Error(), "no unfinished upload") {
		t.Fatalf("salvage of nothing: %v", err)
	}
}

// TestReadResumes cuts the first two responses short: the reader asks
// again from where it stopped and reads the whole object.
func TestReadResumes(t *testing.T) {
	s := s3test.Start(t)
	url := s.URLOf("workload.pgrw")
	want := data(3 << 20)
	w, _ := objstore.Create(context.Background(), url)
	write(t, w, want)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s.CutAfter = 1 << 20
	s.CutGets.Store(2)
	if got := readAll(t, url); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes of %d after cuts, equal %v", len(got), len(want), bytes.Equal(got, want))
	}
	if s.CutGets.Load() >= 0 {
		t.Fatal("the responses were not cut: the test tests nothing")
	}
}

func TestMissing(t *testing.T) {
	s := s3test.Start(t)
	ctx := context.Background()
	_, err := objstore.Open(ctx, s.URLOf("nope.pgrw"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "s3://rehearsal/nope.pgrw does not exist") {
		t.Fatalf("Open of a missing key: %v", err)
	}
	if _, err := objstore.Stat(ctx, "s3://no-such-bucket/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat in a missing bucket: %v", err)
	}
	if err := objstore.CheckWritable(ctx, "s3://no-such-bucket/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CheckWritable in a missing bucket: %v", err)
	}
	if err := objstore.CheckWritable(ctx, s.URLOf("results/x.jsonl")); err != nil {
		t.Fatalf("CheckWritable: %v", err)
	}
	if _, err := objstore.Salvage(ctx, s.URLOf("results/x.jsonl")); err == nil {
		t.Fatal("the writability probe left an upload behind")
	}
	w, err := objstore.Create(ctx, "s3://no-such-bucket/x")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	if err := w.Close(); err == nil {
		t.Fatal("writing into a missing bucket succeeded")
	}
}
