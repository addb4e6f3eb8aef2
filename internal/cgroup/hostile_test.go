//go:build unix

package cgroup

// Hostile and broken snapshots, as `tune -root` and Detect(Options{Root})
// meet them: each must end with an error naming the file, or a result,
// at once and in bounded memory. A guard fails a test still running after
// 10 s (a read that blocks would otherwise hang the run); the durations
// go test -v prints are what the README quotes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// finish runs f and returns its result, failing the test if f has not
// returned after 10 s. It guards against a hang; it asserts no timing.
func finish[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("still running after 10 s: something blocks or does not end")
		panic("unreachable")
	}
}

// detected is what Detect gets from a root: discovery, then one Read.
type detected struct {
	layout *Layout
	err    error // from Discover
	lim    Limits
	files  []string
}

func detectRoot(root string) detected {
	l, err := Discover(root)
	if err != nil {
		return detected{err: err}
	}
	rd := l.Open()
	defer rd.Close()
	return detected{layout: l, lim: rd.Read(), files: rd.Files()}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err names every one of subs.
func wantErr(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, subs)
		return
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not contain %q", what, err, s)
		}
	}
}

func TestHostileFIFO(t *testing.T) {
	tests := []struct {
		snapshot, file string
		// which part fails; "discover" when Discover itself does
		part string
	}{
		{"v2-child-tighter", "sys/fs/cgroup/batch.slice/job43.scope/memory.max", "memory"},
		{"v2-child-tighter", "proc/self/cgroup", "discover"},
		{"v2-child-tighter", "proc/self/mountinfo", "discover"},
		{"v1-parent-tighter", "sys/fs/cgroup/cpu,cpuacct/batch/job42/cpu.cfs_period_us", "cpu"},
		{"k8s-v1", "sys/fs/cgroup/memory/memory.stat", "memory"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			root := copyFixture(t, tt.snapshot)
			fifo := filepath.Join(root, tt.file)
			mkfifo(t, fifo)
			d := finish(t, func() detected { return detectRoot(root) })
			switch tt.part {
			case "discover":
				wantErr(t, "Discover", d.err, fifo, "not a regular file but a named pipe (FIFO)")
			case "memory":
				wantErr(t, "memory", d.lim.Memory.Err, fifo, "named pipe")
				if d.lim.CPU.Err != nil || d.lim.CPU.Value == 0 {
					t.Errorf("cpu %+v: want it read", d.lim.CPU)
				}
			case "cpu":
				wantErr(t, "cpu", d.lim.CPU.Err, fifo, "named pipe")
				if d.lim.Memory.Err != nil || d.lim.Memory.Value == 0 {
					t.Errorf("memory %+v: want it read", d.lim.Memory)
				}
			}
		})
	}
}

// TestHostileLiveFiles: the live root opens by path, without os.Root, and
// must refuse a named pipe and a device too; the real /proc and cgroup
// files are regular files and open.
func TestHostileLiveFiles(t *testing.T) {
	live, err := openFS("/")
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	mkfifo(t, fifo)
	for _, p := range []string{fifo, "/dev/zero", "/dev/null", t.TempDir()} {
		err := finish(t, func() error {
			_, err := live.readAll(p, maxProcFile)
			return err
		})
		wantErr(t, p, err, p, "not a regular file but")
	}
	for _, p := range []string{"/proc/self/cgroup", "/proc/self/mountinfo"} {
		b, err := live.readAll(p, maxProcFile)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v; want it read", p, len(b), err)
		}
	}
	l, err := Discover("/")
	if err != nil {
		t.Fatal(err)
	}
	rd := l.Open()
	defer rd.Close()
	if lim := rd.Read(); lim.Memory.Err != nil || lim.CPU.Err != nil || len(rd.Files()) == 0 {
		t.Errorf("live Read: %+v, files %q", lim, rd.Files())
	}
}

// TestHostileDevice: mountinfo linked to /dev/zero (refused as a link out
// of the snapshot), or a character device made inside it (refused as not
// a regular file).
func TestHostileDevice(t *testing.T) {
	root := copyFixture(t, "v2-child-tighter")
	mi := filepath.Join(root, "proc/self/mountinfo")
	if err := os.Remove(mi); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", mi); err != nil {
		t.Fatal(err)
	}
	d := finish(t, func() detected { return detectRoot(root) })
	wantErr(t, "a link to /dev/zero", d.err, mi, "path escapes from parent")

	if os.Geteuid() != 0 {
		t.Skip("making a device needs root")
	}
	os.Remove(mi)
	if err := syscall.Mknod(mi, syscall.S_IFCHR|0o600, 1<<8|5); err != nil { // 1:5, /dev/zero
		t.Fatal(err)
	}
	d = finish(t, func() detected { return detectRoot(root) })
	wantErr(t, "a device", d.err, mi, "not a regular file but a character device")
}

// TestHostileHugeMountinfo: 100 MB of lines that do not parse. Reading
// stops after the cap, with an error naming it.
func TestHostileHugeMountinfo(t *testing.T) {
	root := copyFixture(t, "v2-child-tighter")
	mi := filepath.Join(root, "proc/self/mountinfo")
	f, err := os.Create(mi)
	if err != nil {
		t.Fatal(err)
	}
	line := "this is not a mountinfo line, and there are very many of them\n"
	if _, err := f.WriteString(strings.Repeat(line, (maxProcFile+1<<20)/len(line))); err != nil {
		t.Fatal(err)
	}
	// the rest of the 100 MB as a hole: reads as zero bytes, costs no disk
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d := finish(t, func() detected { return detectRoot(root) })
	wantErr(t, "100 MB mountinfo", d.err, mi, "longer than 4 MiB, the most tune reads of it: refused")
}

// TestHostileManyBadLines: a mountinfo just under the cap, all lines bad
// but the cgroup mount: found, and the warnings stay a few lines.
func TestHostileManyBadLines(t *testing.T) {
	root := copyFixture(t, "v2-child-tighter")
	mi := filepath.Join(root, "proc/self/mountinfo")
	good, err := os.ReadFile(mi)
	if err != nil {
		t.Fatal(err)
	}
	bad := "1 2 0:1 no separator here\n"
	n := (maxProcFile - len(good)) / len(bad)
	writeFile(t, mi, strings.Repeat(bad, n/2)+string(good)+strings.Repeat(bad, n-n/2))
	d := finish(t, func() detected { return detectRoot(root) })
	if d.err != nil || d.lim.Memory.Err != nil || d.lim.Memory.Value != 128<<20 {
		t.Fatalf("Discover: %v; memory %+v", d.err, d.lim.Memory)
	}
	w := d.layout.Warnings
	if len(w) != maxWarnings+1 {
		t.Fatalf("%d warnings, want %d and one that counts the rest", len(w), maxWarnings+1)
	}
	wantErr(t, "last warning", w[maxWarnings], fmt.Sprintf("%d more lines passed over (only the first %d are described)", n-maxWarnings, maxWarnings))
	text, _ := json.Marshal(errorStrings(w))
	if len(text) > 4<<10 {
		t.Errorf("warnings are %d bytes of JSON", len(text))
	}
}

func errorStrings(errs []error) []string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return s
}

// TestHostileManyHierarchies: 5,000 /proc/self/cgroup lines against 5,000
// cgroup mounts (the size that took 34 s when discovery was quadratic).
// The cost is BenchmarkDiscover's; here it must end, and the error and
// warnings stay short.
func TestHostileManyHierarchies(t *testing.T) {
	root := t.TempDir()
	cg, mi := manyHierarchies(5000)
	writeFile(t, filepath.Join(root, "proc/self/cgroup"), cg)
	writeFile(t, filepath.Join(root, "proc/self/mountinfo"), mi)
	d := finish(t, func() detected { return detectRoot(root) })
	if d.err != nil {
		t.Fatal(d.err)
	}
	// memory is on the first line, and its group is in no mount
	wantErr(t, "memory", d.lim.Memory.Err, `memory (cgroup v1): group "/g/0" is outside every mounted subtree`, "and 4997 more")
	if n := len(d.lim.Memory.Err.Error()); n > 1<<10 {
		t.Errorf("the error is %d bytes", n)
	}
	if len(d.layout.Warnings) > maxWarnings+1 {
		t.Errorf("%d warnings", len(d.layout.Warnings))
	}
}

// TestHostileEscapes: nothing outside the snapshot is read, whether a
// mount point climbs out with "..", or a file or directory is a symbolic
// link to the host's files.
func TestHostileEscapes(t *testing.T) {
	host, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(host), "\n", 2)[0]
	tests := []struct {
		name string
		do   func(t *testing.T, root string) (what string, check func(d detected) error)
	}{
		{"mount point with ..", func(t *testing.T, root string) (string, func(detected) error) {
			mi := filepath.Join(root, "proc/self/mountinfo")
			b, err := os.ReadFile(mi)
			if err != nil {
				t.Fatal(err)
			}
			depth := strings.Count(filepath.Clean(root), "/")
			up := strings.Repeat("/..", depth)
			writeFile(t, mi, strings.ReplaceAll(string(b), " /sys/fs/cgroup/memory ", " "+up+"/sys/fs/cgroup/memory "))
			return up + "/sys/fs/cgroup/memory", func(d detected) error { return d.lim.Memory.Err }
		}},
		{"limit file linked to /etc/passwd", func(t *testing.T, root string) (string, func(detected) error) {
			p := filepath.Join(root, "sys/fs/cgroup/memory/batch/job42/memory.limit_in_bytes")
			os.Remove(p)
			if err := os.Symlink("/etc/passwd", p); err != nil {
				t.Fatal(err)
			}
			return p, func(d detected) error { return d.lim.Memory.Err }
		}},
		{"relative link out", func(t *testing.T, root string) (string, func(detected) error) {
			p := filepath.Join(root, "sys/fs/cgroup/cpu,cpuacct/batch/job42/cpu.cfs_period_us")
			os.Remove(p)
			if err := os.Symlink(strings.Repeat("../", 20)+"etc/passwd", p); err != nil {
				t.Fatal(err)
			}
			return p, func(d detected) error { return d.lim.CPU.Err }
		}},
		{"group directory linked to the host's cgroup tree", func(t *testing.T, root string) (string, func(detected) error) {
			p := filepath.Join(root, "sys/fs/cgroup/memory/batch")
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/sys/fs/cgroup/memory", p); err != nil {
				t.Fatal(err)
			}
			return p, func(d detected) error { return d.lim.Memory.Err }
		}},
		{"proc file linked to the host's", func(t *testing.T, root string) (string, func(detected) error) {
			p := filepath.Join(root, "proc/self/cgroup")
			os.Remove(p)
			if err := os.Symlink("/proc/self/cgroup", p); err != nil {
				t.Fatal(err)
			}
			return p, func(d detected) error { return d.err }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyFixture(t, "v1-parent-tighter")
			what, errOf := tt.do(t, root)
			d := finish(t, func() detected { return detectRoot(root) })
			err := errOf(d)
			wantErr(t, tt.name, err, what)
			if err != nil && !strings.Contains(err.Error(), "path escapes from parent") && !strings.Contains(err.Error(), `has ".." in it`) {
				t.Errorf("error %q says neither that the path escapes nor that it has ..", err)
			}
			if err != nil && strings.Contains(err.Error(), first) {
				t.Errorf("error %q quotes the host's file", err)
			}
			for _, f := range d.files {
				if !strings.HasPrefix(f, root+"/") {
					t.Errorf("file %s read outside the snapshot", f)
				}
			}
		})
	}

	// a link that stays inside the snapshot is followed
	root := copyFixture(t, "v1-parent-tighter")
	job := filepath.Join(root, "sys/fs/cgroup/memory/batch/job42")
	writeFile(t, filepath.Join(root, "elsewhere/limit"), "104857600\n")
	os.Remove(filepath.Join(job, "memory.limit_in_bytes"))
	if err := os.Symlink("../../../../../../elsewhere/limit", filepath.Join(job, "memory.limit_in_bytes")); err != nil {
		t.Fatal(err)
	}
	if d := detectRoot(root); d.err != nil || d.lim.Memory.Err != nil || d.lim.Memory.Value != 100<<20 {
		t.Errorf("a link inside the snapshot: %v, %+v", d.err, d.lim.Memory)
	}
}
