//go:build !unix

package cgroup

import (
	"io"
	"os"
)

// handle is an open limit file. Off unix (no cgroups there, but snapshots
// can still be read) it is an *os.File.
type handle struct{ f *os.File }

func openHandle(path string) (handle, error) {
	f, err := os.Open(path)
	return handle{f}, err
}

func (h handle) readAt0(buf []byte) (int, error) {
	n, err := h.f.ReadAt(buf, 0)
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

// readProcFile reads a whole file.
func readProcFile(path string) ([]byte, error) { return os.ReadFile(path) }
