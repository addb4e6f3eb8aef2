//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRootHostileSnapshots: `tune -root` over a broken or hostile snapshot
// ends at once with exit status 1 and an error naming the file; the part
// that can be read is still decided, and nothing outside the snapshot is
// read. (internal/cgroup's TestHostile* cover each case in depth.)
func TestRootHostileSnapshots(t *testing.T) {
	bin := buildTune(t)
	copySnapshot := func(t *testing.T, name string) string {
		t.Helper()
		dst := filepath.Join(t.TempDir(), name)
		if err := os.CopyFS(dst, os.DirFS(fixtureDir(t, name))); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	replace := func(t *testing.T, path string, make func(string) error) {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := make(path); err != nil {
			t.Fatal(err)
		}
	}
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o600) }
	link := func(target string) func(string) error {
		return func(p string) error { return os.Symlink(target, p) }
	}
	tests := []struct {
		name     string
		snapshot string
		file     string // replaced by the hostile thing, relative to the snapshot
		make     func(string) error
		err      string // what the one error must say besides the file
		quota    any    // the CPU part, still read; nil when discovery fails
	}{
		{"a FIFO as memory.max", "v2-child-tighter", "sys/fs/cgroup/batch.slice/job43.scope/memory.max", fifo,
			"not a regular file but a named pipe (FIFO)", 0.5},
		{"a FIFO as /proc/self/cgroup", "v2-child-tighter", "proc/self/cgroup", fifo,
			"not a regular file but a named pipe (FIFO)", nil},
		{"mountinfo linked to /dev/zero", "v2-child-tighter", "proc/self/mountinfo", link("/dev/zero"),
			"path escapes from parent", nil},
		{"a limit file linked to /etc/passwd", "v2-child-tighter", "sys/fs/cgroup/batch.slice/job43.scope/memory.max", link("/etc/passwd"),
			"path escapes from parent", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copySnapshot(t, tt.snapshot)
			file := filepath.Join(root, tt.file)
			replace(t, file, tt.make)
			stdout, stderr, code := runTuneBin(t, bin, "-json", "-root", root)
			if code != 1 {
				t.Errorf("exit status %d, want 1; stderr: %s", code, stderr)
			}
			var doc struct {
				CPU    map[string]any `json:"cpu"`
				Cgroup struct {
					Files []string `json:"files"`
				} `json:"cgroup"`
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			if len(doc.Errors) != 1 || !strings.Contains(doc.Errors[0], file) || !strings.Contains(doc.Errors[0], tt.err) {
				t.Errorf("errors %q, want one naming %s and saying %q", doc.Errors, file, tt.err)
			}
			if q := doc.CPU["quota_cores"]; q != tt.quota {
				t.Errorf("cpu.quota_cores = %v, want %v", q, tt.quota)
			}
			for _, f := range doc.Cgroup.Files {
				if !strings.HasPrefix(f, root+"/") {
					t.Errorf("file %s read outside the snapshot", f)
				}
			}
		})
	}
}
