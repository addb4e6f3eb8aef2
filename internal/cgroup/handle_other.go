//go:build !unix

package cgroup

import (
	"io"
	"io/fs"
	"os"
)

// handle is an open limit or proc file. Off unix (no cgroups there, but
// snapshots can still be read) it is an *os.File.
type handle struct{ f *os.File }

// oNonblock: there are no named pipes to wait on here.
const oNonblock = 0

func openLive(path string) (handle, error) {
	f, err := os.Open(path)
	if err != nil {
		return handle{}, err
	}
	return handleOf(f, path)
}

// handleOf takes over f if it is a regular file; otherwise it closes f.
func handleOf(f *os.File, path string) (handle, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return handle{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return handle{}, &fs.PathError{Op: "open", Path: path, Err: notRegular(st.Mode().Type())}
	}
	return handle{f}, nil
}

func (h handle) readAt0(buf []byte) (int, error) {
	n, err := h.f.ReadAt(buf, 0)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (h handle) read(buf []byte) (int, error) {
	n, err := h.f.Read(buf)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (h handle) close() {
	if h.f != nil {
		h.f.Close()
	}
}
