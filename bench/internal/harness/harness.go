// Package harness runs the benchmark module's child programs (the survival
// workload, the limit follower) inside real cgroup v1 groups made with
// cgrouptest, and reads back what the kernel recorded about them: how they
// exited, whether the OOM killer struck, and the group's peak memory.
//
// The full runs, whose figures go into the table that bench/run prints, are
// switched on by GOTUNE_BENCH_OUT (a directory the results are written to);
// without it every test runs one small, quick round of the same code.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// OutDir returns the directory of GOTUNE_BENCH_OUT, or "" when the tests
// run in their quick form (go test, CI).
func OutDir() string { return os.Getenv("GOTUNE_BENCH_OUT") }

// WriteResult stores v as JSON in OutDir()/name for the table.
func WriteResult(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatalf("encoding %s: %v", name, err)
	}
	p := filepath.Join(OutDir(), name)
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		tb.Fatalf("writing %s: %v", p, err)
	}
}

// Build compiles the bench module's package pkg (like "./cmd/workload",
// relative to the module root) into a temporary directory and returns the
// binary's path. GOTUNE_BENCH_BIN_<NAME> (NAME the upper-cased last path
// element) names a prebuilt binary instead.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	name := filepath.Base(pkg)
	if p := os.Getenv("GOTUNE_BENCH_BIN_" + strings.ToUpper(name)); p != "" {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// moduleRoot finds the bench module's directory from the working directory
// (go test runs each package in its own directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/runtimehooks/tune/bench")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench module root (go.mod of github.com/runtimehooks/tune/bench) not found above the working directory")
		}
		dir = parent
	}
}

// Env returns the environment for a child: this process's, without the
// variables that would change what is measured (GOGC, GOMEMLIMIT,
// GOMAXPROCS, GOTUNE*, AUTOMEMLIMIT), plus extra.
func Env(extra ...string) []string { return cgrouptest.ChildEnv(extra...) }

// Outcome is how a child run inside a group ended, with the kernel's
// record of the group's memory.
type Outcome struct {
	Stdout    string `json:"-"`
	Stderr    string `json:"-"`
	ExitCode  int    `json:"exit_code"`  // -1 when killed by a signal
	Signal    string `json:"signal"`     // "" unless killed by a signal
	OOMKills  int64  `json:"oom_kills"`  // oom_kill in memory.oom_control
	FailCount int64  `json:"fail_count"` // memory.failcnt
	PeakBytes int64  `json:"peak_bytes"` // memory.max_usage_in_bytes
}

// OOMKilled reports whether the kernel's OOM killer ended the child: it
// died of SIGKILL and the group recorded an OOM kill.
func (o Outcome) OOMKilled() bool { return o.Signal == "killed" && o.OOMKills > 0 }

// Run runs bin with args inside a fresh group made beneath parent, with the
// given memory limit (-1: none), and returns how it ended. The group is
// removed when the test ends.
func Run(tb testing.TB, parent *cgrouptest.Group, name string, limit int64, env []string, bin string, args ...string) Outcome {
	tb.Helper()
	g := parent.Child(tb, name)
	// No swap on a memory limit: the OOM killer, not the swap device,
	// decides, as in a container without swap.
	cgrouptest.Write(tb, g.Memory, "memory.swappiness", "0")
	g.SetMemory(tb, limit)
	cmd := g.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := Outcome{Stdout: stdout.String(), Stderr: stderr.String()}
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
	o.PeakBytes = readInt(tb, g.Memory, "memory.max_usage_in_bytes")
	o.FailCount = readInt(tb, g.Memory, "memory.failcnt")
	o.OOMKills = oomKills(tb, g.Memory)
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

// oomKills reads the oom_kill counter of memory.oom_control (Linux 4.13+).
func oomKills(tb testing.TB, dir string) int64 {
	tb.Helper()
	p := filepath.Join(dir, "memory.oom_control")
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("%s: oom_kill %q is not a number", p, v)
			}
			return n
		}
	}
	tb.Fatalf("%s has no oom_kill line (kernel older than 4.13?):\n%s", p, b)
	return 0
}

// DecodeLast decodes the last non-empty line of out as JSON into v.
func DecodeLast(out string, v any) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), v); err != nil {
		return fmt.Errorf("last line of output %q: %w", last, err)
	}
	return nil
}

// Limits are the limits of a group made by Inside.
type Limits struct {
	MemoryBytes int64 // memory.limit_in_bytes; 0 leaves it unlimited
	QuotaUS     int64 // cpu.cfs_quota_us; 0 leaves it unlimited
	PeriodUS    int64 // cpu.cfs_period_us; 0 means 100000
}

// Inside runs args (a program and its arguments) with env inside a fresh
// cgroup v1 memory and cpu group made beneath this process's own, with the
// given limits, connected to this process's standard streams, and removes
// the group afterwards. It is for programs without a testing.TB (a
// TestMain that re-executes its test binary); tests use cgrouptest.New.
// It returns the program's exit code (1 if a signal ended it), or an error
// when the group could not be made.
func Inside(name string, lim Limits, env []string, args ...string) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("not running as root")
	}
	own, err := cgrouptest.Own()
	if err != nil {
		return 0, err
	}
	g := cgrouptest.Group{Memory: filepath.Join(own.Memory, name), CPU: filepath.Join(own.CPU, name)}
	var made []string
	defer func() {
		for _, d := range made {
			os.Remove(d) // the program has exited: the group is empty
		}
	}()
	for _, d := range []string{g.Memory, g.CPU} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, fmt.Errorf("making cgroup: %w", err)
		}
		made = append(made, d)
	}
	period := lim.PeriodUS
	if period == 0 {
		period = 100_000
	}
	writes := [][3]string{}
	if lim.MemoryBytes > 0 {
		writes = append(writes, [3]string{g.Memory, "memory.limit_in_bytes", strconv.FormatInt(lim.MemoryBytes, 10)})
	}
	if lim.QuotaUS > 0 {
		writes = append(writes,
			[3]string{g.CPU, "cpu.cfs_period_us", strconv.FormatInt(period, 10)},
			[3]string{g.CPU, "cpu.cfs_quota_us", strconv.FormatInt(lim.QuotaUS, 10)})
	}
	for _, w := range writes {
		p := filepath.Join(w[0], w[1])
		if err := os.WriteFile(p, []byte(w[2]), 0o644); err != nil {
			return 0, fmt.Errorf("writing %s to %s: %w", w[2], p, err)
		}
	}
	cmd := g.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ee.ExitCode() < 0 {
			fmt.Fprintf(os.Stderr, "%s: %v\n", args[0], err)
			return 1, nil
		}
		return ee.ExitCode(), nil
	default:
		return 0, err
	}
}
