package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fsys opens the files under one root. The live root "/" is read by path
// with raw system calls: the paths are the system's own, and opening stays
// cheap. Any other root is a snapshot, possibly hostile, and is read
// through an os.Root, so that no path leads out of it: not a ".." in a
// mount point, not a symbolic link to a host file (os.Root refuses both
// with "path escapes from parent").
//
// Either way a file is opened non-blocking and refused unless it is a
// regular file, so a named pipe or a device cannot hang or flood a read.
type fsys struct {
	root string   // cleaned
	dir  *os.Root // nil for the live root
}

// openFS opens root ("" is "/").
func openFS(root string) (*fsys, error) {
	if root == "" {
		root = "/"
	}
	root = filepath.Clean(root)
	if root == "/" {
		return &fsys{root: root}, nil
	}
	d, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	return &fsys{root: root, dir: d}, nil
}

func (f *fsys) close() {
	if f.dir != nil {
		f.dir.Close()
	}
}

// errOutside is the error for a path that was built outside the root,
// which Resolve should never produce.
var errOutside = errors.New("outside the snapshot root")

// name is p relative to the snapshot root, as os.Root wants it.
func (f *fsys) name(p string) (string, error) {
	rel, err := filepath.Rel(f.root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", errOutside
	}
	return rel, nil
}

// open opens the regular file at p, a path under the root.
func (f *fsys) open(p string) (handle, error) {
	if f.dir == nil {
		return openLive(p)
	}
	name, err := f.name(p)
	if err != nil {
		return handle{}, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	file, err := f.dir.OpenFile(name, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return handle{}, &fs.PathError{Op: "open", Path: p, Err: cause(err)}
	}
	return handleOf(file, p)
}

// stat reports whether p exists (following symbolic links inside the
// root), as os.Stat does.
func (f *fsys) stat(p string) error {
	if f.dir == nil {
		_, err := os.Stat(p)
		return err
	}
	name, err := f.name(p)
	if err == nil {
		_, err = f.dir.Stat(name)
	}
	if err != nil {
		return &fs.PathError{Op: "stat", Path: p, Err: cause(err)}
	}
	return nil
}

// exists reports whether there is anything at p (a symbolic link counts).
func (f *fsys) exists(p string) bool {
	if f.dir == nil {
		_, err := os.Lstat(p)
		return err == nil
	}
	name, err := f.name(p)
	if err == nil {
		_, err = f.dir.Lstat(name)
	}
	return err == nil
}

// cause strips the *fs.PathError os.Root wraps around its errors, which
// names the path relative to the root; ours names the whole path.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// notRegular is the error for a file that is not a regular file.
type notRegular fs.FileMode

func (m notRegular) Error() string {
	t := fs.FileMode(m).Type()
	var what string
	switch {
	case t&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case t&fs.ModeCharDevice != 0:
		what = "a character device"
	case t&fs.ModeDevice != 0:
		what = "a block device"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	case t&fs.ModeDir != 0:
		what = "a directory"
	default:
		what = "not a regular file (" + t.String() + ")"
		return what
	}
	return "not a regular file but " + what
}

// maxProcFile is the most read from /proc/self/cgroup or
// /proc/self/mountinfo. A host with ten thousand mounts has a mountinfo of
// about 1.5 MB; more than this is not a proc file (a snapshot's link to
// /dev/zero, or a runaway copy).
const maxProcFile = 4 << 20

// tooBig is the error for a file longer than what is read of it.
type tooBig int

func (n tooBig) Error() string {
	size := fmt.Sprintf("%d bytes", int(n))
	if n >= 1<<20 && n%(1<<20) == 0 {
		size = fmt.Sprintf("%d MiB", int(n)>>20)
	}
	return "longer than " + size + ", the most tune reads of it: refused"
}

// readAll reads the whole regular file at p, at most limit bytes: more is
// an error naming the limit. It reads with raw system calls: os.ReadFile
// starts from the size stat reports, 0 for /proc, and os.Open registers
// the descriptor with the poller.
func (f *fsys) readAll(p string, limit int) ([]byte, error) {
	h, err := f.open(p)
	if err != nil {
		return nil, err
	}
	defer h.close()
	buf := make([]byte, 0, min(16<<10, limit+1))
	for {
		n, err := h.read(buf[len(buf):cap(buf)])
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, &fs.PathError{Op: "read", Path: p, Err: tooBig(limit)}
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(grown, buf)
			buf = grown
		}
	}
}
