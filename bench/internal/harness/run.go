package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// Outcome is how a child run inside a group ended, with the kernel's
// record of the group's memory.
type Outcome = result.Outcome

// Run runs bin with args inside a fresh group made beneath parent, with the
// given memory limit (-1: none), and returns how it ended. The group is
// removed when the test ends.
func Run(tb testing.TB, parent *cgrouptest.Group, name string, limit int64, env []string, bin string, args ...string) Outcome {
	tb.Helper()
	g := parent.Child(tb, name)
	if g.Version != 2 {
		// No swap on a memory limit: the OOM killer, not the swap
		// device, decides, as in a container without swap. (The guest
		// of the v2 runs has no swap device.)
		cgrouptest.Write(tb, g.Memory, "memory.swappiness", "0")
	}
	g.SetMemory(tb, limit)
	return RunIn(tb, g, env, bin, args...)
}

// CPUSetEnv names a CPU list (as taskset -c takes it, "0-1") that RunIn
// runs its programs on. cmd/guestbench sets it in the VM lane's guest to
// as many of the guest's CPUs as this machine has cores: QEMU's software
// emulation runs each guest CPU as a host thread, so a program busy on
// more guest CPUs than there are host cores gets each of them part of the
// time, while the guest counts all of it as CPU time; throughput and CPU
// time then measure the emulation, not the program.
const CPUSetEnv = "GOTUNE_BENCH_CPUSET"

// RunIn runs bin with args inside the group g, already made and limited
// (on the CPUs of GOTUNE_BENCH_CPUSET, with busybox's taskset, when it is
// set), and returns how it ended with the kernel's record of g's memory:
// on v1 from memory.oom_control, memory.failcnt and
// memory.max_usage_in_bytes, on v2 from memory.events and memory.peak
// (Linux 5.19+).
func RunIn(tb testing.TB, g *cgrouptest.Group, env []string, bin string, args ...string) Outcome {
	tb.Helper()
	if cpus := os.Getenv(CPUSetEnv); cpus != "" {
		bin, args = "taskset", append([]string{"-c", cpus, bin}, args...)
	}
	o := Exec(tb, g, env, bin, args...)
	if g.Version == 2 {
		ev := keyed(tb, g.Memory, "memory.events")
		o.OOMKills, o.FailCount, o.HighEvents = ev["oom_kill"], ev["max"], ev["high"]
		o.PeakBytes = readInt(tb, g.Memory, "memory.peak")
		return o
	}
	o.PeakBytes = readInt(tb, g.Memory, "memory.max_usage_in_bytes")
	o.FailCount = readInt(tb, g.Memory, "memory.failcnt")
	oc := keyed(tb, g.Memory, "memory.oom_control")
	n, ok := oc["oom_kill"]
	if !ok {
		tb.Fatalf("%s/memory.oom_control has no oom_kill line (kernel older than 4.13?)", g.Memory)
	}
	o.OOMKills = n
	return o
}

// Exec runs bin with args inside g and returns how it ended (exit code,
// signal, output, wall time); it reads nothing of the group's.
func Exec(tb testing.TB, g *cgrouptest.Group, env []string, bin string, args ...string) Outcome {
	tb.Helper()
	cmd := g.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := Outcome{Stdout: stdout.String(), Stderr: stderr.String(), Seconds: time.Since(start).Seconds()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		o.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.Signal = ws.Signal().String()
		}
	default:
		tb.Fatalf("running %s: %v", bin, err)
	}
	return o
}

func readInt(tb testing.TB, dir, file string) int64 {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		tb.Fatalf("%s in %s: %q is not a number", file, dir, b)
	}
	return n
}

// keyed reads a file of "key value" lines (memory.events, cpu.stat,
// memory.oom_control) into a map; a value that is not a number fails the
// test, naming the file and the key.
func keyed(tb testing.TB, dir, file string) map[string]int64 {
	tb.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ParseKeyed(b)
	if err != nil {
		tb.Fatalf("%s: %v", p, err)
	}
	return m
}

// ParseKeyed parses "key value" lines, as the kernel writes memory.events
// and cpu.stat.
func ParseKeyed(b []byte) (map[string]int64, error) {
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %q: want a key and a number", sc.Text())
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a number", f[0], f[1])
		}
		m[f[0]] = n
	}
	return m, sc.Err()
}

// CPUStat reads the throttling counters of a cgroup v2 group's cpu.stat:
// nr_periods, nr_throttled and throttled_usec.
func CPUStat(tb testing.TB, dir string) (periods, throttled, usec int64) {
	tb.Helper()
	m := keyed(tb, dir, "cpu.stat")
	for _, k := range []string{"nr_periods", "nr_throttled", "throttled_usec"} {
		if _, ok := m[k]; !ok {
			tb.Fatalf("%s/cpu.stat has no %s (no CPU quota on it, or no CFS bandwidth control in the kernel)", dir, k)
		}
	}
	return m["nr_periods"], m["nr_throttled"], m["throttled_usec"]
}

// NeedsV2 makes tb need cgroup v2 groups and, when more is false, what
// more says (more CPUs, say): it skips on this host, which has cgroup v1,
// and fails in the VM lane's guests, where the case must run
// (cgrouptest.Needs).
func NeedsV2(tb testing.TB, more bool, what string) {
	tb.Helper()
	own, err := cgrouptest.Own()
	if err != nil {
		cgrouptest.Unavailable(tb, "%v", err)
	}
	cgrouptest.Needs(tb, own.Version == 2 && more, what)
}
