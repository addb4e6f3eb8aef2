//go:build unix

package cgroup

import (
	"io/fs"
	"os"
	"syscall"
)

// handle is an open limit or proc file: a raw descriptor, so that a re-read
// is one pread(2) with no allocation. A file opened on the live root is
// opened with a raw system call (none of the poller set-up os.File does);
// one opened through an os.Root (a snapshot) keeps its *os.File in f, which
// owns the descriptor.
type handle struct {
	fd int
	f  *os.File
}

// oNonblock makes opening a named pipe return at once instead of waiting
// for a writer; it changes nothing for a regular file.
const oNonblock = syscall.O_NONBLOCK

// openLive opens path on the live root: non-blocking, and only if it is a
// regular file (cgroupfs and /proc files are, in stat terms).
func openLive(path string) (handle, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return handle{fd: -1}, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return handle{fd: -1}, &fs.PathError{Op: "fstat", Path: path, Err: err}
		}
		if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFREG {
			syscall.Close(fd)
			return handle{fd: -1}, &fs.PathError{Op: "open", Path: path, Err: notRegular(unixType(uint32(st.Mode)))}
		}
		return handle{fd: fd}, nil
	}
}

// unixType turns the type bits of a stat(2) mode into an fs.FileMode type.
func unixType(mode uint32) fs.FileMode {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// handleOf takes over f, a file opened through an os.Root, if it is a
// regular file; otherwise it closes f.
func handleOf(f *os.File, path string) (handle, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return handle{fd: -1}, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return handle{fd: -1}, &fs.PathError{Op: "open", Path: path, Err: notRegular(st.Mode().Type())}
	}
	return handle{fd: int(f.Fd()), f: f}, nil
}

// readAt0 reads the file from offset 0 into buf with one pread; cgroup
// files are produced whole by the kernel on each read from offset 0.
func (h handle) readAt0(buf []byte) (int, error) {
	for {
		n, err := syscall.Pread(h.fd, buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// read reads from the current offset, as read(2) does.
func (h handle) read(buf []byte) (int, error) {
	for {
		n, err := syscall.Read(h.fd, buf)
		if err == syscall.EINTR {
			continue
		}
		return n, err
	}
}

func (h handle) close() {
	switch {
	case h.f != nil:
		h.f.Close()
	case h.fd >= 0:
		syscall.Close(h.fd)
	}
}
