// Package cgrouptest makes real cgroup v1 groups for tests, beneath the test
// process's own groups (read from /proc/self/cgroup), and always removes them;
// it also holds the small helpers the tests of child processes share.
//
// New skips the test when groups cannot be made here (not root, no writable
// v1 memory and cpu hierarchies), and fails it instead when
// GOTUNE_TEST_REQUIRE_CGROUPS=1, as CI sets.
package cgrouptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Group is one group in the v1 memory and cpu hierarchies.
type Group struct {
	Memory string // directory in the memory hierarchy
	CPU    string // directory in the cpu hierarchy
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

// Own returns the directories of the calling process's own v1 memory and
// cpu groups, found through /proc/self/cgroup and /proc/self/mountinfo.
func Own() (Group, error) {
	paths := map[string]string{}
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
	mounts := map[string]string{}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Group{}, err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 || after[0] != "cgroup" || fields[3] != "/" {
			continue
		}
		for _, opt := range strings.Split(after[2], ",") {
			mounts[opt] = fields[4]
		}
	}
	var g Group
	for _, c := range []string{"memory", "cpu"} {
		p, ok := paths[c]
		m, ok2 := mounts[c]
		if !ok || !ok2 {
			return Group{}, fmt.Errorf("no cgroup v1 %s hierarchy mounted at its root", c)
		}
		dir := filepath.Join(m, p)
		if c == "memory" {
			g.Memory = dir
		} else {
			g.CPU = dir
		}
	}
	return g, nil
}

// New makes a fresh group beneath the test process's own groups and removes
// it (and anything made inside it) when the test ends, after the processes
// in it have exited.
func New(tb testing.TB) *Group {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "not running as root")
	}
	own, err := Own()
	if err != nil {
		Unavailable(tb, "%v", err)
	}
	return own.child(tb, fmt.Sprintf("gotune-test-%d-%d", os.Getpid(), seq.Add(1)))
}

// Child makes a group inside g, removed when the test ends.
func (g *Group) Child(tb testing.TB, name string) *Group {
	tb.Helper()
	return g.child(tb, name)
}

func (g *Group) child(tb testing.TB, name string) *Group {
	tb.Helper()
	c := &Group{Memory: filepath.Join(g.Memory, name), CPU: filepath.Join(g.CPU, name)}
	for _, d := range []string{c.Memory, c.CPU} {
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

// SetMemory sets memory.limit_in_bytes; -1 removes the limit.
func (g *Group) SetMemory(tb testing.TB, bytes int64) {
	tb.Helper()
	Write(tb, g.Memory, "memory.limit_in_bytes", strconv.FormatInt(bytes, 10))
}

// SetCPU sets the CFS quota and period in microseconds; quota -1 removes
// the limit.
func (g *Group) SetCPU(tb testing.TB, quota, period int64) {
	tb.Helper()
	Write(tb, g.CPU, "cpu.cfs_period_us", strconv.FormatInt(period, 10))
	Write(tb, g.CPU, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
}

// Command returns a command that runs name with args inside g: a shell
// moves itself into both groups and then execs the program, so the program
// starts already inside them.
func (g *Group) Command(name string, args ...string) *exec.Cmd {
	script := fmt.Sprintf(`echo $$ > %q/cgroup.procs && echo $$ > %q/cgroup.procs && exec "$@"`, g.Memory, g.CPU)
	return exec.Command("/bin/sh", append([]string{"-c", script, "sh", name}, args...)...)
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
