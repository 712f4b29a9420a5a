// Package inputfile opens the files an operator points Godwit at (zone
// files, GeoIP databases, the routes file, the health state file) so that a
// hostile or careless one cannot hang or flood the reader: a named pipe, a
// device, a directory or a socket is refused at once, without blocking in
// open(2) or read(2); the size is capped before and while reading; and a
// file may be confined to a directory after every symbolic link is resolved.
//
// It owns opening and reading only. Parsing, and the limits' values, belong
// to the callers.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var (
	// ErrNotRegular is wrapped by the error for anything that is not a
	// regular file (FIFO, device, directory, socket).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is wrapped by the error for a file over the size limit.
	ErrTooLarge = errors.New("file too large")
	// ErrOutside is wrapped by the error for a file that, after symbolic
	// links, is not inside Options.Within.
	ErrOutside = errors.New("path resolves outside the allowed directory")
)

// Options says how to open a file.
type Options struct {
	// MaxBytes caps the size (0: no cap). Open refuses a file whose size
	// is over it; ReadFile also stops reading one that grows past it.
	MaxBytes int64
	// NoFollow refuses a path whose last element is a symbolic link.
	NoFollow bool
	// Within, if not "", is a directory the opened file must lie in once
	// every symbolic link (in Within and in the path) is resolved.
	Within string
}

// Open opens path for reading, refusing without blocking anything that is
// not a regular file, a file over opt.MaxBytes and, with opt.Within, a file
// outside that directory. The checks apply to the opened descriptor (fstat,
// and its /proc/self/fd link where there is one), so swapping the path for
// something else between a check and the open changes nothing. The error
// starts with path.
func Open(path string, opt Options) (*os.File, fs.FileInfo, error) {
	var root string
	if opt.Within != "" {
		r, err := realDir(opt.Within)
		if err != nil {
			return nil, nil, err
		}
		root = r
	}
	f, err := openNonblock(path, opt.NoFollow)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, describe(fi.Mode()))
	}
	if root != "" {
		real, err := resolved(f, path)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if !Within(root, real) {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w %s", path, ErrOutside, opt.Within)
		}
	}
	if opt.MaxBytes > 0 && fi.Size() > opt.MaxBytes {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, fi.Size(), opt.MaxBytes)
	}
	return f, fi, nil
}

// ReadFile reads a file opened as Open does, at most opt.MaxBytes of it.
func ReadFile(path string, opt Options) ([]byte, error) {
	f, fi, err := Open(path, opt)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, path, fi.Size(), opt.MaxBytes)
}

// ReadAll reads f to the end, failing once more than max bytes (0: no cap)
// come; size is the expected size, for the first allocation.
func ReadAll(f io.Reader, path string, size, max int64) ([]byte, error) {
	var r io.Reader = f
	if max > 0 {
		r = io.LimitReader(f, max+1)
		size = min(size, max+1)
	}
	buf := make([]byte, 0, max64(size+1, 512))
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if max > 0 && int64(len(buf)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
	}
	return buf, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Within reports whether path is root or lies below it. Both must be
// clean, absolute and free of symbolic links for the answer to mean
// anything.
func Within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// realDir returns dir absolute, with every symbolic link resolved.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// resolved returns the path the open file f really has: the target of
// /proc/self/fd/N where the kernel offers it (it names the file opened, not
// whatever the path names now), else path with its links resolved, checked
// to be the same file as f.
func resolved(f *os.File, path string) (string, error) {
	if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil && filepath.IsAbs(p) {
		return p, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	a, err1 := f.Stat()
	b, err2 := os.Stat(real)
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return "", fmt.Errorf("%s: changed while it was opened", path)
	}
	return real, nil
}

// describe names the kind of a non-regular file.
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
