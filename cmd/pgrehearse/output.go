package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pgrehearse/pgrehearse/internal/objstore"
)

// Every file pgrehearse writes holds production data (statement texts,
// parameter values, timings), so it is created with mode 0600 whatever
// the umask: the owner reads it, nobody else.
const privateMode fs.FileMode = 0o600

// files names what one command reads and writes, so that before any work
// starts a missing input is a usage error and no output is one of the
// inputs (the same file, also through a hard or symbolic link).
type files struct {
	cmd string
	in  []namedPath
	out []namedPath
}

type namedPath struct{ what, path string }

func (f *files) input(what string, paths ...string) {
	for _, p := range paths {
		if p != "" && p != "-" {
			f.in = append(f.in, namedPath{what, p})
		}
	}
}

func (f *files) output(what string, paths ...string) {
	for _, p := range paths {
		if p != "" && p != "-" {
			f.out = append(f.out, namedPath{what, p})
		}
	}
}

// check returns a usage error naming both files when an output would
// overwrite an input or another output, an input does not exist, or an
// output's directory can not be written.
func (f *files) check() error {
	if err := f.checkObjects(context.Background()); err != nil {
		return err
	}
	ins := make([]os.FileInfo, len(f.in))
	for i, in := range f.in {
		if objstore.IsURL(in.path) {
			continue
		}
		st, err := os.Stat(in.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("%s: %s %s does not exist", f.cmd, in.what, in.path)
			}
			return usagef("%s: %s: %v", f.cmd, in.what, err)
		}
		ins[i] = st
	}
	outs := make([]os.FileInfo, len(f.out))
	for i, out := range f.out {
		if objstore.IsURL(out.path) {
			continue
		}
		st, err := os.Stat(out.path)
		if err == nil {
			outs[i] = st
			for j, in := range f.in {
				if os.SameFile(st, ins[j]) {
					return usagef("%s: %s %s is the %s %s (the same file%s): writing it would destroy the input; write the output elsewhere",
						f.cmd, out.what, out.path, in.what, in.path, linked(out.path, in.path))
				}
			}
		}
		for j := 0; j < i; j++ {
			prev := f.out[j]
			same := absPath(prev.path) == absPath(out.path)
			if outs[i] != nil && outs[j] != nil && os.SameFile(outs[i], outs[j]) {
				same = true
			}
			if same {
				return usagef("%s: %s %s and %s %s are the same file: one would overwrite the other; give them different names",
					f.cmd, prev.what, prev.path, out.what, out.path)
			}
		}
		if st != nil && !st.Mode().IsRegular() {
			continue // a device or a pipe is written in place
		}
		if err := writableDir(out.path); err != nil {
			return usagef("%s: %s %s: %v", f.cmd, out.what, out.path, err)
		}
	}
	return nil
}

func linked(a, b string) string {
	if absPath(a) == absPath(b) {
		return ""
	}
	return ", through a link"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// writableDir checks that a file can be created beside path, the way
// createOutput will: with --start-at a replay may wait hours before it
// writes, and a typo in the directory should not cost that wait.
func writableDir(path string) error {
	dir := filepath.Dir(realPath(path))
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("its directory %s does not exist: create it, or write elsewhere", dir)
	}
	if err != nil {
		return fmt.Errorf("its directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, ".pgrehearse-probe-*")
	if err != nil {
		return fmt.Errorf("can not create files in %s (%w): write elsewhere", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// realPath follows a symbolic link at path, so that the file it points to
// is replaced and the link stays.
func realPath(path string) string {
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		if r, err := filepath.EvalSymlinks(path); err == nil {
			return r
		}
	}
	return path
}

// createOutput opens a finished document (workload, comparison, report)
// for writing: it goes to a private temporary file in the same directory,
// and commit(true) syncs it, renames it into place and syncs the
// directory, so that a crash, a full disk or a failed command leaves the
// previous file whole. commit(false) throws the temporary file away. "-"
// is stdout; a device or a pipe (-o /dev/null, a FIFO) is written
// straight into, since renaming over it would replace it.
func createOutput(path string, stdout io.Writer) (io.Writer, func(keep bool) error, error) {
	if path == "-" {
		return stdout, func(bool) error { return nil }, nil
	}
	if objstore.IsURL(path) {
		return objectOutput(path)
	}
	path = realPath(path)
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("open output %s: %w", path, err)
		}
		return f, func(bool) error {
			if err := f.Close(); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			return nil
		}, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, fmt.Errorf("create output in %s: %w", dir, err)
	}
	done := false
	commit := func(keep bool) error {
		if done {
			return nil
		}
		done = true
		if !keep {
			f.Close()
			return os.Remove(f.Name())
		}
		if err := finishFile(f, path); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w (the previous %s, if any, is untouched)", path, err, filepath.Base(path))
		}
		return nil
	}
	return f, commit, nil
}

// finishFile makes f private, flushes it to disk and renames it to path.
func finishFile(f *os.File, path string) error {
	// CreateTemp already makes the file 0600; the explicit Chmod says so
	// and holds whatever CreateTemp does in the future.
	if err := f.Chmod(privateMode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// lazyFile is a stream written in place (a samples file), created private
// on its first write: a command that fails before it has anything to
// write leaves an existing file of that name untouched.
type lazyFile struct {
	path string
	f    *os.File
	// obj is the stream when path is an s3:// URL: uploaded in parts as
	// it grows, completed by Close.
	obj *objstore.Writer
	err error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.obj == nil && l.err == nil {
		if objstore.IsURL(l.path) {
			l.obj, l.err = objstore.Create(context.Background(), l.path)
		} else {
			l.f, l.err = createPrivate(l.path)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	if l.obj != nil {
		return l.obj.Write(p)
	}
	return l.f.Write(p)
}

// created reports whether the first write created the file.
func (l *lazyFile) created() bool { return l.f != nil || l.obj != nil }

// Close syncs and closes the file, if it was created.
func (l *lazyFile) Close() error {
	if l.obj != nil {
		err := l.obj.Close()
		l.obj, l.err = nil, errors.New("file closed")
		return err
	}
	if l.f == nil {
		return nil
	}
	var err error
	if st, serr := l.f.Stat(); serr == nil && st.Mode().IsRegular() {
		err = l.f.Sync()
	}
	err = errors.Join(err, l.f.Close())
	l.f, l.err = nil, errors.New("file closed")
	return err
}

// createStream opens a stream (a results file) to be written in place as
// it grows, so that a killed replay leaves what it did in a file that
// reads as cut off. The file is created on the first write: a command that
// fails before it leaves an existing file untouched. "-" is stdout.
func createStream(path string, stdout io.Writer) (io.Writer, func() error) {
	if path == "-" {
		return stdout, func() error { return nil }
	}
	l := &lazyFile{path: realPath(path)}
	return l, func() error {
		if err := l.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
}

// createPrivate creates or truncates path with mode 0600, also when the
// file existed with another mode.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, privateMode)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if err := f.Chmod(privateMode); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func openInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(stdin), nil
	}
	if objstore.IsURL(path) {
		return openObject(path)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("%s does not exist", path)
		}
		return nil, err
	}
	return f, nil
}
