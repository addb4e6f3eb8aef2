//go:build unix

package tune

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDetectOnBlockingSnapshot: Detect over a snapshot whose limit file is
// a FIFO that never gets data takes no lock the live process needs:
// Current, a scrape and Stop answer at once.
func TestDetectOnBlockingSnapshot(t *testing.T) {
	isolate(t)
	Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh})
	root, app := v2Tree(t, "max\n", "max 100000\n")
	fifo := filepath.Join(app, "memory.max")
	os.Remove(fifo)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer that never writes: an open for reading succeeds, a read
	// waits for ever.
	writer := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			writer <- f
		}
	}()
	t.Cleanup(func() {
		select {
		case f := <-writer:
			f.Close() // ends a read that waits
		default:
			if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close() // lets the writer's open return
				(<-writer).Close()
			}
		}
	})
	go Detect(Options{Root: root, Logger: discardLogger()})
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector())
	within(t, "Current, a scrape and Stop during a stuck Detect", 5*time.Second, func() {
		_ = Current()
		if _, err := reg.Gather(); err != nil {
			t.Errorf("Gather: %v", err)
		}
		Stop()
	})
}
