// Package cgrouptest makes real cgroup groups for tests, beneath the test
// process's own groups (read from /proc/self/cgroup), and always removes
// them: in the v1 memory and cpu hierarchies where they are mounted (this
// hybrid CI host, the VM lane's v1 guest), else in the cgroup v2 hierarchy
// (the lane's v2 guest). It also holds the small helpers the tests of
// child processes share.
//
// New skips the test when groups cannot be made here (not root, no writable
// hierarchy with the memory and cpu controllers), and fails it instead when
// GOTUNE_TEST_REQUIRE_CGROUPS=1, as CI sets. Needs skips a case this host
// cannot make (cgroup v2, more CPUs) and fails it in the lane's guests.
// Build gives the tests the programs they run, built ahead of time in the
// guests, which have no Go toolchain.
package cgrouptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Group is one test group: on cgroup v1 a directory in the memory
// hierarchy and one in the cpu hierarchy, on cgroup v2 one directory in
// the unified hierarchy (Memory and CPU are then the same).
type Group struct {
	// Version is 2 for cgroup v2; 1 (or 0, in a literal) for v1.
	Version int
	Memory  string // directory in the memory hierarchy
	CPU     string // directory in the cpu hierarchy
}

func (g *Group) v2() bool { return g.Version == 2 }

// Dirs lists g's directories: the memory and cpu ones on v1, the one on v2.
func (g *Group) Dirs() []string {
	if g.v2() {
		return []string{g.Memory}
	}
	return []string{g.Memory, g.CPU}
}

var seq atomic.Int64

// Required reports whether GOTUNE_TEST_REQUIRE_CGROUPS=1 asks for tests to
// fail, not skip, when cgroups are not available.
func Required() bool { return os.Getenv("GOTUNE_TEST_REQUIRE_CGROUPS") == "1" }

// Unavailable skips tb, or fails it when Required, with the reason.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("cgroups required (GOTUNE_TEST_REQUIRE_CGROUPS=1) but unavailable: %s", msg)
	}
	tb.Skipf("skipping: real cgroups unavailable: %s (set GOTUNE_TEST_REQUIRE_CGROUPS=1 to fail instead)", msg)
}

// Guest is the VM lane's guest the test runs in, as its init sets
// GOTUNE_TEST_GUEST: "v1" or "v2" (the cgroup version it mounted), or ""
// outside the lane.
func Guest() string { return os.Getenv("GOTUNE_TEST_GUEST") }

// Needs skips tb when ok is false, naming what it needs (what): a case
// this host cannot make, such as cgroup v2 or more than 2 CPUs, which the
// VM lane (.ci/vm) runs. Inside the lane's guest (Guest() != "") it fails
// instead: there the case was expected to run.
func Needs(tb testing.TB, ok bool, what string) {
	tb.Helper()
	switch {
	case ok:
	case Guest() != "":
		tb.Fatalf("the VM lane's %s guest was expected to provide %s", Guest(), what)
	default:
		tb.Skipf("skipping: needs %s, which this host lacks; the VM lane (.ci/vm) runs it", what)
	}
}

// Own returns the calling process's own groups, found through
// /proc/self/cgroup and /proc/self/mountinfo: the v1 memory and cpu groups
// where both hierarchies are mounted (a hybrid host included), else its
// group in a cgroup2 mount. A hierarchy counts only when it is mounted at
// its root.
func Own() (Group, error) {
	paths := map[string]string{} // controller ("" for v2) → group path
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return Group{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return Group{}, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	mounts, err := rootMounts()
	if err != nil {
		return Group{}, err
	}
	mem, okm := mounts["memory"]
	cpu, okc := mounts["cpu"]
	pm, okpm := paths["memory"]
	pc, okpc := paths["cpu"]
	if okm && okc && okpm && okpc {
		return Group{Version: 1, Memory: filepath.Join(mem, pm), CPU: filepath.Join(cpu, pc)}, nil
	}
	if m, ok := mounts[""]; ok && paths[""] != "" {
		dir := filepath.Join(m, paths[""])
		return Group{Version: 2, Memory: dir, CPU: dir}, nil
	}
	return Group{}, errors.New("neither the v1 memory and cpu hierarchies nor cgroup2 are mounted at their root")
}

// rootMounts maps each v1 controller to the mount point of its hierarchy,
// and "" to the first cgroup2 mount point; only mounts of a hierarchy's
// root count.
func rootMounts() (map[string]string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mounts := map[string]string{}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 || fields[3] != "/" {
			continue
		}
		switch after[0] {
		case "cgroup":
			for _, opt := range strings.Split(after[2], ",") {
				mounts[opt] = fields[4]
			}
		case "cgroup2":
			if _, ok := mounts[""]; !ok {
				mounts[""] = fields[4]
			}
		}
	}
	return mounts, nil
}

// New makes a fresh group beneath the test process's own groups and removes
// it (and anything made inside it) when the test ends, after the processes
// in it have exited. On cgroup v2 it first enables the memory and cpu
// controllers in the own group's cgroup.subtree_control: by the
// no-internal-processes rule, the test must then run in the root group (as
// in the VM lane's guest), which is exempt.
func New(tb testing.TB) *Group {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "not running as root")
	}
	own, err := Own()
	if err != nil {
		Unavailable(tb, "%v", err)
	}
	if g := Guest(); g != "" && g != fmt.Sprintf("v%d", own.Version) {
		tb.Fatalf("the VM lane's %s guest gave the test cgroup v%d groups (%s)", g, own.Version, own.Memory)
	}
	return own.child(tb, fmt.Sprintf("gotune-test-%d-%d", os.Getpid(), seq.Add(1)))
}

// Child makes a group inside g, removed when the test ends. On cgroup v2
// it enables the memory and cpu controllers in g for it, so g can hold no
// process of its own from then on.
func (g *Group) Child(tb testing.TB, name string) *Group {
	tb.Helper()
	return g.child(tb, name)
}

func (g *Group) child(tb testing.TB, name string) *Group {
	tb.Helper()
	c := &Group{Version: g.Version, Memory: filepath.Join(g.Memory, name), CPU: filepath.Join(g.CPU, name)}
	if g.v2() {
		enableControllers(tb, g.Memory)
	}
	for _, d := range c.Dirs() {
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
				Unavailable(tb, "cannot make %s: %v", d, err)
			}
			tb.Fatalf("making cgroup: %v", err)
		}
		tb.Cleanup(func() { Remove(tb, d) })
	}
	return c
}

// enableControllers enables the memory and cpu controllers in the cgroup
// v2 group dir's cgroup.subtree_control, unless they already are.
func enableControllers(tb testing.TB, dir string) {
	tb.Helper()
	on, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		Unavailable(tb, "%v", err)
	}
	if has := strings.Fields(string(on)); slices.Contains(has, "memory") && slices.Contains(has, "cpu") {
		return
	}
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		Unavailable(tb, "%v", err)
	}
	if has := strings.Fields(string(avail)); !slices.Contains(has, "memory") || !slices.Contains(has, "cpu") {
		Unavailable(tb, "cgroup v2 group %s offers controllers %q, not memory and cpu", dir, strings.TrimSpace(string(avail)))
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644); err != nil {
		// EBUSY: the group holds processes and is not the root (cgroup
		// v2's no-internal-processes rule).
		Unavailable(tb, "enabling memory and cpu in %s/cgroup.subtree_control: %v", dir, err)
	}
}

// Remove kills whatever is left in the group directory dir and removes
// it, polling until the kernel has emptied it (10 s at most; then the test
// fails). New registers it for the groups it makes; a test that makes a
// group in another hierarchy (cpuacct, say) can use it too.
func Remove(tb testing.TB, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		for _, pid := range pids(dir) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
		if time.Now().After(deadline) {
			tb.Errorf("removing test cgroup %s: %v", dir, err)
			return
		}
		time.Sleep(20 * time.Millisecond) // polling for the kernel to empty the group
	}
}

func pids(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Write writes value to the control file name in dir, failing the test on
// error.
func Write(tb testing.TB, dir, name, value string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
		tb.Fatalf("writing %q to %s: %v", value, filepath.Join(dir, name), err)
	}
}

// MemoryFile is the file that holds g's memory limit:
// memory.limit_in_bytes (v1) or memory.max (v2).
func (g *Group) MemoryFile() string {
	if g.v2() {
		return filepath.Join(g.Memory, "memory.max")
	}
	return filepath.Join(g.Memory, "memory.limit_in_bytes")
}

// CPUFile is the file that holds g's CPU quota: cpu.cfs_quota_us (v1) or
// cpu.max (v2).
func (g *Group) CPUFile() string {
	if g.v2() {
		return filepath.Join(g.CPU, "cpu.max")
	}
	return filepath.Join(g.CPU, "cpu.cfs_quota_us")
}

// SetMemory sets the memory limit (memory.limit_in_bytes, or memory.max
// on v2); -1 removes it.
func (g *Group) SetMemory(tb testing.TB, bytes int64) {
	tb.Helper()
	Write(tb, filepath.Dir(g.MemoryFile()), filepath.Base(g.MemoryFile()), g.limit(bytes))
}

// SetMemoryHigh sets memory.high, cgroup v2's throttling limit; -1
// removes it. On cgroup v1, which has none, it fails the test.
func (g *Group) SetMemoryHigh(tb testing.TB, bytes int64) {
	tb.Helper()
	if !g.v2() {
		tb.Fatalf("memory.high is cgroup v2 only; %s is on v1", g.Memory)
	}
	Write(tb, g.Memory, "memory.high", g.limit(bytes))
}

// limit is a byte count as the limit files take it: -1 is "max" on v2.
func (g *Group) limit(n int64) string {
	if n < 0 && g.v2() {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// SetCPU sets the CFS quota and period in microseconds (cpu.cfs_quota_us
// and cpu.cfs_period_us, or cpu.max on v2); quota -1 removes the limit.
func (g *Group) SetCPU(tb testing.TB, quota, period int64) {
	tb.Helper()
	p := strconv.FormatInt(period, 10)
	if g.v2() {
		Write(tb, g.CPU, "cpu.max", g.limit(quota)+" "+p)
		return
	}
	Write(tb, g.CPU, "cpu.cfs_period_us", p)
	Write(tb, g.CPU, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
}

// Command returns a command that runs name with args inside g: a shell
// moves itself into the group (both groups, on v1) and then execs the
// program, so the program starts already inside.
func (g *Group) Command(name string, args ...string) *exec.Cmd {
	script := fmt.Sprintf(`echo $$ > %q/cgroup.procs && echo $$ > %q/cgroup.procs && exec "$@"`, g.Memory, g.CPU)
	if g.v2() {
		script = fmt.Sprintf(`echo $$ > %q/cgroup.procs && exec "$@"`, g.Memory)
	}
	return exec.Command("/bin/sh", append([]string{"-c", script, "sh", name}, args...)...)
}

// MoveTo moves the process pid into g (both groups, on v1).
func (g *Group) MoveTo(tb testing.TB, pid int) {
	tb.Helper()
	Write(tb, g.Memory, "cgroup.procs", strconv.Itoa(pid))
	if !g.v2() {
		Write(tb, g.CPU, "cgroup.procs", strconv.Itoa(pid))
	}
}

// JSONLines decodes each line of r, the output of a child program named
// who, as a T and sends it on the returned channel (buffered to hold
// buffer lines), which is closed when r ends. A line that is not JSON fails
// the test, naming who printed it, and ends the reading.
func JSONLines[T any](tb testing.TB, who string, r io.Reader, buffer int) <-chan T {
	lines := make(chan T, buffer)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var l T
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				tb.Errorf("%s printed a line that is not JSON: %v: %s", who, err, sc.Bytes())
				return
			}
			lines <- l
		}
	}()
	return lines
}

// ChildEnv is the test process's environment without the variables that
// steer tune or the Go runtime's memory and CPU settings (GOTUNE*,
// GOMEMLIMIT, GOMAXPROCS, AUTOMEMLIMIT, GOGC), plus extra: a child then sees
// only what its test sets.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GOTUNE") || k == "GOMEMLIMIT" || k == "GOMAXPROCS" || k == "AUTOMEMLIMIT" || k == "GOGC" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// GetOK fetches url and returns the body, failing the test unless the
// server answers 200 OK.
func GetOK(tb testing.TB, url string) []byte {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %v\n%.2000s", url, resp.StatusCode, err, b)
	}
	return b
}

// Buffer is a bytes.Buffer that may be written (a child's output, a log
// handler) while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartPiped starts cmd with its stderr on the test's and pipes to its
// stdin and stdout, for a child the test talks to line by line. The
// child is killed when the test ends, if it is still running.
func StartPiped(tb testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, stdout io.ReadCloser) {
	tb.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill() })
	return stdin, stdout
}
