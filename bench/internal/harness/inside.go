package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

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
