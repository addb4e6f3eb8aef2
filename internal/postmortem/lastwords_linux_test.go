package postmortem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// fullDisk mounts a small tmpfs in a temporary directory and fills it,
// after makeFirst has made what must exist before (a crash file); it is
// unmounted when the test ends. It needs root.
func fullDisk(t *testing.T, makeFirst func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700"); err != nil {
		cgrouptest.Unavailable(t, "mounting a tmpfs (root is needed): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	makeFirst(dir)
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return dir
		}
	}
}

// TestLastWordsFullDisk: on a full disk a rise to Critical costs one Warn
// line saying that nothing could be written, and no "written" line; the
// next rise, none at all (issue 21, item 10).
func TestLastWordsFullDisk(t *testing.T) {
	var r *Recorder
	dir := fullDisk(t, func(dir string) { r, _ = wireCrash(t, dir) })
	var log logBuffer
	for range 2 {
		r.Critical(criticalMoment(), lastWordsConfig(textLog(&log), TerminationOff))
		r.Now = advance(r.Now, 2*time.Minute)
	}
	out := log.String()
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "level=WARN") ||
		!strings.Contains(out, "no last words could be written") || !strings.Contains(out, "no space left on device") {
		t.Errorf("want one Warn line saying nothing could be written, got:\n%s", out)
	}
	if strings.Contains(out, "written (") || strings.Contains(out, "level=INFO") {
		t.Errorf("a line says last words were written:\n%s", out)
	}
	for _, name := range filesIn(t, dir) {
		if strings.Contains(name, lwInfix) {
			t.Errorf("%s left on the full disk", name)
		}
	}
}
