//go:build unix

package cgroup

// Tests that need the reader in another process: inside a real cgroup
// (the test process itself must stay where it is), or as an unprivileged
// user (root ignores file permissions). The child is this test binary,
// started with childEnv set; TestMain then runs the child's part instead
// of the tests.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// childEnv selects the child's part: "reader" (Discover("/"), then one
// Read for each line on stdin) or "detect" (Discover the root in
// childRootEnv and Read once).
const (
	childEnv     = "GOTUNE_CGROUP_TEST_CHILD"
	childRootEnv = "GOTUNE_CGROUP_TEST_ROOT"
)

// childLimit is one Limit as the child prints it.
type childLimit struct {
	Value float64 `json:"value"`
	Src   string  `json:"src"`
	Mount string  `json:"mount"`
	Level int     `json:"level"`
	Err   string  `json:"err"`
}

// childRead is one line the child prints.
type childRead struct {
	Memory childLimit `json:"memory"`
	CPU    childLimit `json:"cpu"`
	Files  []string   `json:"files"`
	Err    string     `json:"err"` // from Discover
}

func toChild[T int64 | float64](l Limit[T]) childLimit {
	c := childLimit{Value: float64(l.Value), Src: l.Src, Mount: l.Mount, Level: l.Level}
	if l.Err != nil {
		c.Err = l.Err.Error()
	}
	return c
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	if os.Getenv(oomChildEnv) == "1" {
		os.Exit(oomChild())
	}
	os.Exit(m.Run())
}

func runChild(mode string) int {
	out := json.NewEncoder(os.Stdout)
	root := "/"
	if mode == "detect" {
		root = os.Getenv(childRootEnv)
	}
	l, err := Discover(root)
	if err != nil {
		out.Encode(childRead{Err: err.Error()})
		return 0
	}
	rd := l.Open()
	defer rd.Close()
	read := func() {
		lim := rd.Read()
		out.Encode(childRead{Memory: toChild(lim.Memory), CPU: toChild(lim.CPU), Files: rd.Files()})
	}
	if mode == "detect" {
		read()
		return 0
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		read()
	}
	return 0
}

// TestKernelV1FollowsChangesAtOnce: on this host's v1 hierarchy, mounted
// whole (root "/", release_agent at the top), a reader in a real group
// gives a raised, a lowered and a removed limit on its first Read after
// the change, naming the group's own file, whichever Read of memory.stat's
// ten the change falls on.
func TestKernelV1FollowsChangesAtOnce(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 256<<20)
	g.SetCPU(t, 150000, 100000)
	cmd := g.Command(os.Args[0], "-test.run=^$")
	cmd.Env = cgrouptest.ChildEnv(childEnv + "=reader")
	stdin, stdout := cgrouptest.StartPiped(t, cmd)
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	lines := cgrouptest.JSONLines[childRead](t, "the reader child", stdout, 1)
	read := func() childRead {
		t.Helper()
		if _, err := io.WriteString(stdin, "read\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case r, ok := <-lines:
			if !ok {
				t.Fatal("the reader child ended")
			}
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no answer from the reader child after 10 s")
		}
		panic("unreachable")
	}

	// What the ancestors allow, read here without the code under test:
	// every directory from the group's parent up to the hierarchy's root.
	ancestorMem := func() (int64, string, int) {
		best, src, level := int64(0), "", 0
		dir := filepath.Dir(g.Memory)
		for l := 1; ; l++ {
			if _, err := os.Stat(filepath.Join(dir, "release_agent")); err == nil {
				return best, src, level // the real root holds no limit
			}
			b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if v < 1<<62 && (best == 0 || v < best) {
				best, src, level = v, filepath.Join(dir, "memory.limit_in_bytes"), l
			}
			dir = filepath.Dir(dir)
		}
	}
	upMem, upSrc, upLevel := ancestorMem()
	ownMem := filepath.Join(g.Memory, "memory.limit_in_bytes")
	ownCPU := filepath.Join(g.CPU, "cpu.cfs_quota_us")
	expect := func(own int64) (int64, string, int) {
		switch {
		case own > 0 && (upMem == 0 || own <= upMem):
			return own, ownMem, 0
		case upMem > 0:
			return upMem, upSrc, upLevel
		}
		return 0, "", 0
	}
	if r := read(); r.Memory.Value != 256<<20 || r.Memory.Src != ownMem {
		t.Fatalf("first Read: %+v", r.Memory)
	}
	// 10 rounds of 3 changes: each change falls on another Read of ten.
	steps := []struct {
		mem   int64 // -1: removed
		quota int64
	}{{512 << 20, 200000}, {-1, -1}, {256 << 20, 50000}}
	for round := range 10 {
		for _, s := range steps {
			g.SetMemory(t, s.mem)
			g.SetCPU(t, s.quota, 100000)
			r := read()
			value, src, level := expect(s.mem)
			if r.Memory.Err != "" || int64(r.Memory.Value) != value || r.Memory.Src != src || r.Memory.Level != level {
				t.Errorf("round %d, memory set to %d: the next Read gives %+v; want %d from %q (level %d)", round, s.mem, r.Memory, value, src, level)
			}
			if s.quota > 0 && (r.CPU.Value != float64(s.quota)/100000 || r.CPU.Src != ownCPU) || s.quota < 0 && r.CPU.Value != 0 {
				t.Errorf("round %d, quota set to %d: the next Read gives %+v", round, s.quota, r.CPU)
			}
		}
	}
}

// TestUnreadableMountFallsBack: each hierarchy of the snapshot
// v1-second-mount-readable is mounted twice; with the first mount's
// groups unreadable, a reader that is not root reads through the second.
// As root (which ignores permissions) the reader runs as nobody in a
// child, this test binary copied where nobody can run it.
func TestUnreadableMountFallsBack(t *testing.T) {
	dir, err := os.MkdirTemp("", "gotune-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "snap")
	if err := os.CopyFS(root, os.DirFS(fixture("v1-second-mount-readable"))); err != nil {
		t.Fatal(err)
	}
	// readable by everyone, whatever the umask; then the first mount's
	// groups below the hierarchy's root closed to everyone but root
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	lock := func(dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if err := os.Chmod(filepath.Join(root, d), 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(filepath.Join(root, d), 0o755) })
		}
	}
	first := []string{"sys/fs/cgroup/memory/system.slice", "sys/fs/cgroup/cpu,cpuacct/system.slice"}
	second := []string{"var/lib/app/cgroup/memory/system.slice", "var/lib/app/cgroup/cpu,cpuacct/system.slice"}

	var bin string
	if os.Geteuid() == 0 {
		bin = filepath.Join(dir, "cgroup.test")
		if err := copyExecutable(os.Args[0], bin); err != nil {
			t.Fatal(err)
		}
	}
	detectAsNobody := func() childRead {
		t.Helper()
		if bin == "" { // not root: this process is unprivileged already
			d := detectRoot(root)
			r := childRead{Memory: toChild(d.lim.Memory), CPU: toChild(d.lim.CPU), Files: d.files}
			if d.err != nil {
				r.Err = d.err.Error()
			}
			return r
		}
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = cgrouptest.ChildEnv(childEnv+"=detect", childRootEnv+"="+root)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = dir
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("the child as nobody: %v\n%s", err, exit.Stderr)
		}
		if err != nil {
			t.Fatal(err)
		}
		var r childRead
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("the child printed %q: %v", out, err)
		}
		return r
	}

	lock(first...)
	r := detectAsNobody()
	app := filepath.Join(root, "var/lib/app/cgroup")
	if r.Err != "" || r.Memory.Err != "" || r.CPU.Err != "" {
		t.Fatalf("as nobody with the first mount closed: %+v", r)
	}
	if r.Memory.Value != 384<<20 || r.Memory.Src != filepath.Join(app, "memory/system.slice/app.service/memory.limit_in_bytes") || r.Memory.Mount != "/var/lib/app/cgroup/memory" {
		t.Errorf("memory %+v, want 384 MiB through /var/lib/app/cgroup/memory", r.Memory)
	}
	if r.CPU.Value != 1.5 || r.CPU.Src != filepath.Join(app, "cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us") || r.CPU.Mount != "/var/lib/app/cgroup/cpu,cpuacct" {
		t.Errorf("cpu %+v, want 1.5 CPUs through /var/lib/app/cgroup/cpu,cpuacct", r.CPU)
	}
	for _, f := range r.Files {
		if strings.HasPrefix(f, filepath.Join(root, "sys")) && strings.Contains(f, "system.slice") {
			t.Errorf("file %s read through the closed mount", f)
		}
	}

	// both mounts closed: the error of the first way, naming its file
	lock(second...)
	r = detectAsNobody()
	want := fmt.Sprintf("open %s: permission denied", filepath.Join(root, first[0], "app.service/memory.limit_in_bytes"))
	if !strings.Contains(r.Memory.Err, want) || r.Memory.Value != 0 {
		t.Errorf("memory %+v, want an error containing %q", r.Memory, want)
	}
}

// copyExecutable copies the file at src to dst, mode 0755.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
