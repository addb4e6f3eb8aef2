package tune_test

// Real-kernel tests: they make cgroup v1 groups beneath the test process's
// own, set limits, run the built `tune` command (or a program that
// blank-imports tune/auto) inside them and check what it applied. They skip
// where cgroups cannot be made, and fail instead under
// GOTUNE_TEST_REQUIRE_CGROUPS=1.

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

var builds sync.Map // package path → *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// build compiles a main package of this module once per test binary.
func build(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		dir, err := binDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		b.out, b.err = exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.path
}

// cmdReport is the part of `tune -json` the tests read.
type cmdReport struct {
	Cgroup struct {
		Version int
		Mode    string
	}
	Memory struct {
		Limit      *int64 `json:"limit_bytes"`
		GOMEMLIMIT *int64 `json:"gomemlimit_bytes"`
		Source     string
		Level      int `json:"levels_up"`
		Action     string
		Reason     string
	}
	CPU struct {
		Quota      *float64 `json:"quota_cores"`
		GOMAXPROCS int
		Source     string
		Level      int `json:"levels_up"`
		Action     string
	}
	Errors []string
}

func runTune(t *testing.T, g *cgrouptest.Group, env ...string) cmdReport {
	t.Helper()
	cmd := g.Command(build(t, "./cmd/tune"), "-json")
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tune -json inside %s: %v\nstdout:\n%s\nstderr:\n%s", g.Memory, err, stdout.Bytes(), stderr.Bytes())
	}
	var r cmdReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("tune -json output is not JSON: %v\n%s", err, stdout.Bytes())
	}
	return r
}

func TestKernelLimitsOnOwnGroup(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	g.SetCPU(t, 50000, 100000)
	r := runTune(t, g, "GOTUNE_MAXPROCS=floor")

	if r.Cgroup.Version != 1 {
		t.Errorf("cgroup version = %d, want 1", r.Cgroup.Version)
	}
	if r.Memory.Limit == nil || *r.Memory.Limit != 300<<20 {
		t.Errorf("memory limit = %v, want %d", r.Memory.Limit, 300<<20)
	}
	if want := int64(0.9 * float64(300<<20)); r.Memory.GOMEMLIMIT == nil || *r.Memory.GOMEMLIMIT != want {
		t.Errorf("GOMEMLIMIT = %v, want %d", r.Memory.GOMEMLIMIT, want)
	}
	if want := filepath.Join(g.Memory, "memory.limit_in_bytes"); r.Memory.Source != want || r.Memory.Level != 0 {
		t.Errorf("memory source %q level %d, want %q level 0", r.Memory.Source, r.Memory.Level, want)
	}
	if r.CPU.Quota == nil || *r.CPU.Quota != 0.5 {
		t.Errorf("CPU quota = %v, want 0.5", r.CPU.Quota)
	}
	if r.CPU.GOMAXPROCS != 1 || r.CPU.Action != "set" {
		t.Errorf("GOMAXPROCS = %d (%s), want 1 (set) under the floor policy", r.CPU.GOMAXPROCS, r.CPU.Action)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
}

func TestKernelParentLimitUnlimitedChild(t *testing.T) {
	parent := cgrouptest.New(t)
	child := parent.Child(t, "child")
	parent.SetMemory(t, 200<<20)
	parent.SetCPU(t, 150000, 100000)
	r := runTune(t, child)

	if r.Memory.Limit == nil || *r.Memory.Limit != 200<<20 {
		t.Fatalf("memory limit = %v, want the parent's %d", r.Memory.Limit, 200<<20)
	}
	if r.Memory.Level != 1 || r.Memory.Source != filepath.Join(parent.Memory, "memory.limit_in_bytes") {
		t.Errorf("memory limit from %q level %d, want the parent's file at level 1", r.Memory.Source, r.Memory.Level)
	}
	if r.CPU.Quota == nil || *r.CPU.Quota != 1.5 || r.CPU.Level != 1 {
		t.Errorf("CPU quota = %v level %d, want the parent's 1.5 at level 1", r.CPU.Quota, r.CPU.Level)
	}
	// The runtime sees only the child (no quota): on 2 or fewer CPUs its
	// default equals tune's rule and tune leaves it in charge; with more
	// CPUs the parent's tighter quota makes tune take over.
	want := min(2, runtime.NumCPU())
	if r.CPU.GOMAXPROCS != want {
		t.Errorf("GOMAXPROCS = %d, want %d", r.CPU.GOMAXPROCS, want)
	}
	if wantAction := map[bool]string{true: "runtime", false: "set"}[runtime.NumCPU() <= 2]; r.CPU.Action != wantAction {
		t.Errorf("CPU action = %q, want %q", r.CPU.Action, wantAction)
	}
}

func TestKernelChildTighterThanParent(t *testing.T) {
	parent := cgrouptest.New(t)
	child := parent.Child(t, "child")
	parent.SetMemory(t, 400<<20)
	child.SetMemory(t, 100<<20)
	r := runTune(t, child)
	if r.Memory.Limit == nil || *r.Memory.Limit != 100<<20 || r.Memory.Level != 0 {
		t.Errorf("memory limit = %v at level %d, want the child's %d at level 0", r.Memory.Limit, r.Memory.Level, 100<<20)
	}
}

func TestKernelEnvironmentWins(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	g.SetCPU(t, 50000, 100000)
	r := runTune(t, g, "GOMEMLIMIT=100MiB", "GOMAXPROCS=2", "GOTUNE_MAXPROCS=floor")
	if r.Memory.GOMEMLIMIT == nil || *r.Memory.GOMEMLIMIT != 100<<20 || r.Memory.Action != "unchanged" || !strings.Contains(r.Memory.Reason, "GOMEMLIMIT=100MiB") {
		t.Errorf("memory: GOMEMLIMIT %v action %q reason %q; want the environment's 100MiB kept", r.Memory.GOMEMLIMIT, r.Memory.Action, r.Memory.Reason)
	}
	if r.CPU.GOMAXPROCS != 2 || r.CPU.Action != "unchanged" {
		t.Errorf("GOMAXPROCS = %d (%s), want the environment's 2", r.CPU.GOMAXPROCS, r.CPU.Action)
	}
}

func TestKernelGOTUNEOff(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	r := runTune(t, g, "GOTUNE=off")
	if r.Memory.Limit == nil || *r.Memory.Limit != 300<<20 {
		t.Errorf("the limit is still reported under GOTUNE=off: got %v", r.Memory.Limit)
	}
	if r.Memory.GOMEMLIMIT != nil || r.Memory.Action != "unchanged" {
		t.Errorf("GOTUNE=off changed GOMEMLIMIT to %v (%s)", r.Memory.GOMEMLIMIT, r.Memory.Action)
	}
}

var g256 int64 = 256 << 20

func TestKernelBlankImport(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 256<<20)
	bin := build(t, "./internal/testprog/blank")
	ninety := int64(0.9 * float64(g256))
	for _, tc := range []struct {
		name string
		env  []string
		want int64
	}{
		{"defaults", nil, ninety},
		{"GOTUNE_MEMORY_RATIO", []string{"GOTUNE_MEMORY_RATIO=0.5"}, 128 << 20},
		{"AUTOMEMLIMIT", []string{"AUTOMEMLIMIT=0.75"}, 192 << 20},
		{"bad ratio falls back, the rest applies", []string{"GOTUNE_MEMORY_RATIO=2", "GOTUNE_MAXPROCS=nope"}, ninety},
		{"GOTUNE=off", []string{"GOTUNE=off"}, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := g.Command(bin)
			cmd.Env = append(cleanEnv(), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.Bytes())
			}
			var got struct{ GOMEMLIMIT int64 }
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, stdout.Bytes())
			}
			if got.GOMEMLIMIT != tc.want {
				t.Errorf("GOMEMLIMIT = %d, want %d\nlog:\n%s", got.GOMEMLIMIT, tc.want, stderr.Bytes())
			}
			if !strings.Contains(stderr.String(), "tune: cgroup") {
				t.Errorf("no start line logged:\n%s", stderr.Bytes())
			}
			for _, v := range []string{"GOTUNE_MEMORY_RATIO", "GOTUNE_MAXPROCS"} {
				if strings.Contains(strings.Join(tc.env, " "), v+"=2") || strings.Contains(strings.Join(tc.env, " "), v+"=nope") {
					if !strings.Contains(stderr.String(), v) {
						t.Errorf("the bad %s is not named in the log:\n%s", v, stderr.Bytes())
					}
				}
			}
		})
	}
}
