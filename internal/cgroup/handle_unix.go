//go:build unix

package cgroup

import (
	"io/fs"
	"slices"
	"syscall"
)

// handle is an open limit file: a raw descriptor, so that a re-read is one
// pread(2) with no allocation and none of the poller set-up os.File does
// at open.
type handle struct{ fd int }

func openHandle(path string) (handle, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return handle{-1}, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return handle{fd}, nil
	}
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

func (h handle) close() {
	if h.fd >= 0 {
		syscall.Close(h.fd)
	}
}

// readProcFile reads a whole /proc file with raw system calls: os.ReadFile
// starts from the size stat reports, 0 for /proc, so the kernel would
// generate the text in many small reads, and os.Open tries to register the
// descriptor with the poller. One generous buffer makes it one or two reads.
func readProcFile(path string) ([]byte, error) {
	h, err := openHandle(path)
	if err != nil {
		return nil, err
	}
	defer h.close()
	buf := make([]byte, 0, 16<<10)
	for {
		n, err := syscall.Read(h.fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
	}
}
