//go:build unix

package postmortem

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTerminationLogFIFO: a named pipe at the termination message's path
// is refused at once, not waited on.
func TestTerminationLogFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- writeTermination(fifo, []byte("{}\n"), nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("named pipe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writing the termination message waits on a named pipe")
	}
}
