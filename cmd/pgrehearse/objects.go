package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/pgrehearse/pgrehearse/internal/objstore"
)

// Paths of the form s3://bucket/key name objects on S3 (or a server
// speaking its protocol): workloads, results, samples, comparisons and
// reports can live there. Streams are read and written straight from and
// to the object; compare, which reads its inputs several times, works on
// private local copies.

// checkObjects is files.check for s3:// paths: inputs must exist (a
// missing one is a usage error, as for a file), outputs must be writable
// (their bucket exists and the identity may write there), and no output
// may be an input or another output.
func (f *files) checkObjects(ctx context.Context) error {
	for _, in := range f.in {
		if !objstore.IsURL(in.path) {
			continue
		}
		if _, err := objstore.Stat(ctx, in.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("%s: %s %s does not exist", f.cmd, in.what, in.path)
			}
			return fmt.Errorf("%s: %s: %w", f.cmd, in.what, err)
		}
	}
	for i, out := range f.out {
		if !objstore.IsURL(out.path) {
			continue
		}
		if _, err := objstore.Parse(out.path); err != nil {
			return usagef("%s: %s: %v", f.cmd, out.what, err)
		}
		if err := objstore.CheckWritable(ctx, out.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("%s: %s %s can not be written: %v", f.cmd, out.what, out.path, err)
			}
			return fmt.Errorf("%s: %s: %w", f.cmd, out.what, err)
		}
		for _, in := range f.in {
			if in.path == out.path {
				return usagef("%s: %s %s is the %s: writing it would destroy the input; write the output elsewhere", f.cmd, out.what, out.path, in.what)
			}
		}
		for _, prev := range f.out[:i] {
			if prev.path == out.path {
				return usagef("%s: %s and %s are both %s: one would overwrite the other; give them different names", f.cmd, prev.what, out.what, out.path)
			}
		}
	}
	return nil
}

// openObject opens an object for reading, a missing one as a usage error.
func openObject(url string) (io.ReadCloser, error) {
	r, err := objstore.Open(context.Background(), url)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError{err}
	}
	return r, err
}

// objectOutput is createOutput for an object: it appears, whole, only on
// commit(true); commit(false) leaves the key as it was.
func objectOutput(url string) (io.Writer, func(keep bool) error, error) {
	w, err := objstore.Create(context.Background(), url)
	if err != nil {
		return nil, nil, fmt.Errorf("create output %s: %w", url, err)
	}
	done := false
	return w, func(keep bool) error {
		if done {
			return nil
		}
		done = true
		if !keep {
			return w.Abort()
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("write %s: %w (the previous %s, if any, is untouched)", url, err, path.Base(url))
		}
		return nil
	}, nil
}

// staging holds the local copies of objects this command read.
var staging struct {
	mu  sync.Mutex
	dir string
	n   int
	got map[string]string
}

// localCopy returns a local file with the object's content (a private
// copy in a temporary directory removed when the command ends), or p
// itself when it is a local path.
func localCopy(ctx context.Context, p string) (string, error) {
	if !objstore.IsURL(p) {
		return p, nil
	}
	staging.mu.Lock()
	defer staging.mu.Unlock()
	if l, ok := staging.got[p]; ok {
		return l, nil
	}
	if staging.dir == "" {
		d, err := os.MkdirTemp("", "pgrehearse-s3-*")
		if err != nil {
			return "", fmt.Errorf("copy %s: %w", p, err)
		}
		staging.dir, staging.got = d, map[string]string{}
	}
	// One directory per object keeps its own name, which messages show.
	staging.n++
	dir := filepath.Join(staging.dir, strconv.Itoa(staging.n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("copy %s: %w", p, err)
	}
	local := filepath.Join(dir, path.Base(p))
	if err := download(ctx, p, local); err != nil {
		return "", err
	}
	staging.got[p] = local
	return local, nil
}

func download(ctx context.Context, url, local string) error {
	r, err := objstore.Open(ctx, url)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageError{err}
		}
		return err
	}
	defer r.Close()
	f, err := createPrivate(local)
	if err != nil {
		return fmt.Errorf("copy %s: %w", url, err)
	}
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("copy %s to %s: %w", url, local, err)
	}
	return nil
}

// removeStaged removes the local copies when the command ends.
func removeStaged() {
	staging.mu.Lock()
	defer staging.mu.Unlock()
	if staging.dir != "" {
		os.RemoveAll(staging.dir)
		staging.dir, staging.got = "", nil
	}
}

// readInput reads a whole (small) input: a file, an object or stdin.
func readInput(p string) ([]byte, error) {
	r, err := openInput(p, os.Stdin)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// localInputs returns compare's workload and results as local files,
// copying those on S3.
func localInputs(ctx context.Context, workload string, results []string) (string, []string, error) {
	w, err := localCopy(ctx, workload)
	if err != nil {
		return "", nil, fmt.Errorf("--workload: %w", err)
	}
	local, err := localCopies(ctx, "--results", results)
	return w, local, err
}

// localCopies is localCopy for each of the paths given to flag.
func localCopies(ctx context.Context, flag string, paths []string) ([]string, error) {
	local := make([]string, len(paths))
	for i, p := range paths {
		var err error
		if local[i], err = localCopy(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
	}
	return local, nil
}
