// Package harness runs the benchmark module's child programs (the survival
// workload, the limit follower, the CPU burner) inside real cgroup groups
// made with cgrouptest, v1 on this host and v2 in the VM lane's guest, and
// reads back what the kernel recorded about them: how they exited, whether
// the OOM killer struck, the group's peak memory and memory events.
//
// The full runs, whose figures go into the table that bench/run prints, are
// switched on by GOTUNE_BENCH_OUT (a directory the results are written to,
// or "-" for result lines on standard output, as in the guest, whose files
// the host cannot read); without it every test runs one small, quick round
// of the same code. GOTUNE_BENCH_SIZE=ci asks for the smaller runs that CI
// can afford.
package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// OutDir returns GOTUNE_BENCH_OUT: the directory results are written to,
// "-" for result lines on standard output, or "" when the tests run in
// their quick form (go test).
func OutDir() string { return os.Getenv("GOTUNE_BENCH_OUT") }

// Size is how much a measurement runs.
type Size int

const (
	// Quick is go test's form: one small round of the same code, checking
	// that it works; no result is kept.
	Quick Size = iota
	// CI is the smaller form whose results CI checks against the targets
	// (GOTUNE_BENCH_OUT set, GOTUNE_BENCH_SIZE=ci): in the VM lane's guest,
	// within its time budget.
	CI
	// Full is bench/run's form, whose figures go into the README.
	Full
)

// CurrentSize is the size the environment asks for.
func CurrentSize() Size {
	switch {
	case OutDir() == "":
		return Quick
	case os.Getenv("GOTUNE_BENCH_SIZE") == "ci":
		return CI
	}
	return Full
}

// Pick returns the value for the current size.
func Pick[T any](quick, ci, full T) T {
	switch CurrentSize() {
	case CI:
		return ci
	case Full:
		return full
	}
	return quick
}

// Rotated returns the n modes' indices in the order round should run
// them: round r starts with mode r mod n and goes on in turn, so that over
// n rounds each mode runs once in every slot (a Latin square). A fixed
// order gives the same mode the same slot every round, and in the VM
// lane's guest the slot after an OOM-killed run is the slowest.
func Rotated(round, n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (round + i) % n
	}
	return order
}

// WriteResult stores v as JSON in OutDir()/name for the table, or, when
// OutDir is "-", prints it as one result line (result.LinePrefix, the
// name, the JSON) on standard output.
func WriteResult(tb testing.TB, name string, v any) {
	tb.Helper()
	if OutDir() == "-" {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatalf("encoding %s: %v", name, err)
		}
		fmt.Printf("%s %s %s\n", result.LinePrefix, name, b)
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatalf("encoding %s: %v", name, err)
	}
	p := filepath.Join(OutDir(), name)
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		tb.Fatalf("writing %s: %v", p, err)
	}
}

// Finish checks the result v (its Check method) and, unless the test runs
// in its quick form, keeps it as file (WriteResult).
func Finish(tb testing.TB, file string, v interface{ Check() error }) {
	tb.Helper()
	if err := v.Check(); err != nil {
		tb.Fatal(err)
	}
	if OutDir() != "" {
		WriteResult(tb, file, v)
	}
}

// Build compiles the bench module's package pkg (like "./cmd/workload",
// relative to the module root) into a temporary directory and returns the
// binary's path. GOTUNE_BENCH_BIN_<NAME> (NAME the upper-cased last path
// element) names a prebuilt binary instead, and so does a directory in
// GOTUNE_TEST_PREBUILT (cgrouptest.PrebuiltEnv: the guest, which has no Go
// toolchain) holding a program of that name.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	name := filepath.Base(pkg)
	if p := os.Getenv("GOTUNE_BENCH_BIN_" + strings.ToUpper(name)); p != "" {
		return p
	}
	if dir := os.Getenv(cgrouptest.PrebuiltEnv); dir != "" {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			tb.Fatalf("%s=%s: no program %s for package %s (stat: %v)", cgrouptest.PrebuiltEnv, dir, name, pkg, err)
		}
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

// DecodeLast decodes the last non-empty line of out as JSON into v.
func DecodeLast(out string, v any) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), v); err != nil {
		return fmt.Errorf("last line of output %q: %w", last, err)
	}
	return nil
}
