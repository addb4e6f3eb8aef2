package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// Acct is a group in the cgroup v1 cpuacct hierarchy. Its cpuacct.usage is
// the CPU time, in nanoseconds, of every task that ever ran in it, threads
// that have exited included: exact where /proc/<pid>/stat counts 10 ms
// clock ticks and /proc/<pid>/task/*/schedstat loses the threads that exit.
type Acct struct {
	Dir string
}

// NewAcct makes the cpuacct group name beneath this process's own cpuacct
// group and removes it when the test ends (after killing what is left in
// it). When cpuacct is mounted together with cpu, the group is g's cpu
// group itself, already made. It skips or fails like cgrouptest.New when
// there is no writable cpuacct hierarchy.
func NewAcct(tb testing.TB, g *cgrouptest.Group, name string) *Acct {
	tb.Helper()
	own, err := ownAcct()
	if err != nil {
		cgrouptest.Unavailable(tb, "%v", err)
	}
	cpuOwn, err := cgrouptest.Own()
	if err != nil {
		cgrouptest.Unavailable(tb, "%v", err)
	}
	if own == cpuOwn.CPU { // cpu,cpuacct mounted together
		return &Acct{Dir: g.CPU}
	}
	dir := filepath.Join(own, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
			cgrouptest.Unavailable(tb, "cannot make %s: %v", dir, err)
		}
		tb.Fatalf("making cpuacct group: %v", err)
	}
	tb.Cleanup(func() { cgrouptest.Remove(tb, dir) })
	return &Acct{Dir: dir}
}

// Usage is the group's cpuacct.usage: nanoseconds of CPU so far.
func (a *Acct) Usage() (int64, error) {
	p := filepath.Join(a.Dir, "cpuacct.usage")
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", p, b)
	}
	return n, nil
}

// Command is g.Command with the program also placed in a: a shell moves
// itself into g's memory and cpu groups and into a, then execs the program.
func (a *Acct) Command(g *cgrouptest.Group, name string, args ...string) *exec.Cmd {
	script := fmt.Sprintf(`echo $$ > %q/cgroup.procs && echo $$ > %q/cgroup.procs && echo $$ > %q/cgroup.procs && exec "$@"`,
		g.Memory, g.CPU, a.Dir)
	return exec.Command("/bin/sh", append([]string{"-c", script, "sh", name}, args...)...)
}

// ownAcct finds this process's group in the v1 cpuacct hierarchy, through
// /proc/self/cgroup and /proc/self/mountinfo.
func ownAcct() (string, error) {
	var rel string
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && hasOpt(parts[1], "cpuacct") {
			rel = parts[2]
		}
	}
	if rel == "" {
		return "", errors.New("/proc/self/cgroup: no cgroup v1 cpuacct hierarchy")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) >= 3 && after[0] == "cgroup" && fields[3] == "/" && hasOpt(after[2], "cpuacct") {
			return filepath.Join(fields[4], rel), nil
		}
	}
	return "", errors.New("/proc/self/mountinfo: no cgroup v1 cpuacct hierarchy mounted at its root")
}

func hasOpt(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}
