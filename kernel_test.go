package tune_test

// Real-kernel tests: they make cgroup groups (v1 on this host, v1 or v2 in
// the VM lane's guests) beneath the test process's own, set limits, run the
// built `tune` command (or a program that blank-imports tune/auto) inside
// them and check what it applied. They skip where cgroups cannot be made,
// and fail instead under GOTUNE_TEST_REQUIRE_CGROUPS=1.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/runtimehooks/tune"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// build is the program built from the main package pkg of this module
// (or, in the VM lane, built ahead of time).
func build(t *testing.T, pkg string) string {
	t.Helper()
	return cgrouptest.Build(t, pkg)
}

// cmdReport is the part of `tune -json` the tests read.
type cmdReport struct {
	Cgroup struct {
		Version     int
		Mode        string
		MemoryGroup string `json:"memory_group"`
		CPUGroup    string `json:"cpu_group"`
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
	Kernel tune.KernelReport
	Errors []string
}

// runTune runs `tune -json` inside g with env added to a clean environment.
func runTune(t *testing.T, g *cgrouptest.Group, env ...string) cmdReport {
	t.Helper()
	return tuneJSON(t, g, g.Command(build(t, "./cmd/tune"), "-json"), env...)
}

// tuneJSON runs cmd, a `tune -json` made to run in g, and decodes its
// report.
func tuneJSON(t *testing.T, g *cgrouptest.Group, cmd *exec.Cmd, env ...string) cmdReport {
	t.Helper()
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

// TestKernelSignals: the kernel's own view of a real group is read: its
// memory usage and events everywhere, pressure stall information on
// cgroup v2 only (v1 has no per-group PSI: the report says so).
func TestKernelSignals(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	r := runTune(t, g)
	k := r.Kernel
	if k.MemoryUsage <= 0 || k.UsageNote != "" {
		t.Errorf("group memory usage %d (%q), want the kernel's figure", k.MemoryUsage, k.UsageNote)
	}
	if !k.Events.Available || k.Events.OOMKill != 0 {
		t.Errorf("memory events %+v, want them read, with no OOM kill in a fresh group", k.Events)
	}
	switch g.Version {
	case 2:
		for name, p := range map[string]tune.PSIReport{"memory": k.Memory, "cpu": k.CPU, "io": k.IO} {
			if !p.Available || p.Note != "" || p.SomeTotal < 0 {
				t.Errorf("%s pressure on cgroup v2: %+v, want it read", name, p)
			}
		}
	default:
		if k.Memory.Available || !strings.Contains(k.Memory.Note, "cgroup v1") {
			t.Errorf("memory pressure on cgroup v1: %+v, want it absent with a note naming v1", k.Memory)
		}
	}
}

func TestKernelLimitsOnOwnGroup(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	g.SetCPU(t, 50000, 100000)
	r := runTune(t, g, "GOTUNE_MAXPROCS=floor")

	if r.Cgroup.Version != g.Version {
		t.Errorf("cgroup version = %d, want %d", r.Cgroup.Version, g.Version)
	}
	// In the VM lane's guests the mode is the guest's: v1 has no cgroup2
	// mount there; this host is hybrid.
	if want := cgrouptest.Guest(); want != "" && r.Cgroup.Mode != want {
		t.Errorf("cgroup mode = %q, want %q", r.Cgroup.Mode, want)
	}
	if r.Memory.Limit == nil || *r.Memory.Limit != 300<<20 {
		t.Errorf("memory limit = %v, want %d", r.Memory.Limit, 300<<20)
	}
	if want := int64(0.9 * float64(300<<20)); r.Memory.GOMEMLIMIT == nil || *r.Memory.GOMEMLIMIT != want {
		t.Errorf("GOMEMLIMIT = %v, want %d", r.Memory.GOMEMLIMIT, want)
	}
	if r.Memory.Source != g.MemoryFile() || r.Memory.Level != 0 {
		t.Errorf("memory source %q level %d, want %q level 0", r.Memory.Source, r.Memory.Level, g.MemoryFile())
	}
	if r.CPU.Quota == nil || *r.CPU.Quota != 0.5 {
		t.Errorf("CPU quota = %v, want 0.5", r.CPU.Quota)
	}
	if r.CPU.Source != g.CPUFile() || r.CPU.Level != 0 {
		t.Errorf("CPU source %q level %d, want %q level 0", r.CPU.Source, r.CPU.Level, g.CPUFile())
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
	if r.Memory.Level != 1 || r.Memory.Source != parent.MemoryFile() {
		t.Errorf("memory limit from %q level %d, want the parent's file at level 1", r.Memory.Source, r.Memory.Level)
	}
	if r.CPU.Quota == nil || *r.CPU.Quota != 1.5 || r.CPU.Level != 1 || r.CPU.Source != parent.CPUFile() {
		t.Errorf("CPU quota = %v level %d from %q, want the parent's 1.5 at level 1", r.CPU.Quota, r.CPU.Level, r.CPU.Source)
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

// TestKernelMemoryHigh: cgroup v2's memory.high below memory.max is the
// limit tune counts (the kernel throttles a group over it), on the group
// itself and on its parent.
func TestKernelMemoryHigh(t *testing.T) {
	parent := cgrouptest.New(t)
	cgrouptest.Needs(t, parent.Version == 2, "cgroup v2 (memory.high)")
	child := parent.Child(t, "app")
	for _, tc := range []struct {
		name  string
		set   func()
		want  int64
		src   string
		level int
	}{
		{"own memory.high below own memory.max", func() {
			child.SetMemory(t, 400<<20)
			child.SetMemoryHigh(t, 200<<20)
		}, 200 << 20, filepath.Join(child.Memory, "memory.high"), 0},
		{"parent's memory.high below the child's memory.max", func() {
			child.SetMemoryHigh(t, -1)
			child.SetMemory(t, 300<<20)
			parent.SetMemoryHigh(t, 150<<20)
		}, 150 << 20, filepath.Join(parent.Memory, "memory.high"), 1},
		{"own memory.max below the parent's memory.high", func() {
			child.SetMemory(t, 100<<20)
		}, 100 << 20, child.MemoryFile(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set()
			r := runTune(t, child)
			if r.Memory.Limit == nil || *r.Memory.Limit != tc.want || r.Memory.Source != tc.src || r.Memory.Level != tc.level {
				t.Errorf("memory limit %v from %q level %d, want %d from %q level %d", r.Memory.Limit, r.Memory.Source, r.Memory.Level, tc.want, tc.src, tc.level)
			}
			if want := int64(0.9 * float64(tc.want)); r.Memory.GOMEMLIMIT == nil || *r.Memory.GOMEMLIMIT != want {
				t.Errorf("GOMEMLIMIT = %v, want %d", r.Memory.GOMEMLIMIT, want)
			}
			if len(r.Errors) != 0 {
				t.Errorf("errors: %v", r.Errors)
			}
		})
	}
}

// TestKernelNestedDelegation: groups two and three levels deep (on v2 each
// with the memory and cpu controllers delegated to its child), a limit on
// every level; the tightest wins wherever it is, and the report names its
// file and level.
func TestKernelNestedDelegation(t *testing.T) {
	for _, depth := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d levels", depth), func(t *testing.T) {
			// chain[0] is the top group, chain[depth-1] the process's own.
			chain := []*cgrouptest.Group{cgrouptest.New(t)}
			for i := 1; i < depth; i++ {
				chain = append(chain, chain[i-1].Child(t, fmt.Sprintf("level%d", i)))
			}
			own := chain[depth-1]
			for tight := range depth { // levels up from the process's group
				t.Run(fmt.Sprintf("tightest %d up", tight), func(t *testing.T) {
					// cgroup v1 refuses a CPU quota above the parent's:
					// the levels below the tightest have none, and the
					// old quotas go before the new ones are set, from
					// the top down.
					for _, g := range chain {
						g.SetCPU(t, -1, 100000)
					}
					for up := depth - 1; up >= 0; up-- {
						g := chain[depth-1-up]
						mem, quota := int64(300+100*up)<<20, int64(300000+100000*up)
						switch {
						case up == tight:
							mem, quota = 150<<20, 150000
						case up < tight:
							quota = -1
						}
						g.SetMemory(t, mem)
						g.SetCPU(t, quota, 100000)
					}
					r := runTune(t, own)
					g := chain[depth-1-tight]
					if r.Memory.Limit == nil || *r.Memory.Limit != 150<<20 || r.Memory.Level != tight || r.Memory.Source != g.MemoryFile() {
						t.Errorf("memory limit %v level %d from %q, want %d level %d from %q", r.Memory.Limit, r.Memory.Level, r.Memory.Source, 150<<20, tight, g.MemoryFile())
					}
					if r.CPU.Quota == nil || *r.CPU.Quota != 1.5 || r.CPU.Level != tight || r.CPU.Source != g.CPUFile() {
						t.Errorf("CPU quota %v level %d from %q, want 1.5 level %d from %q", r.CPU.Quota, r.CPU.Level, r.CPU.Source, tight, g.CPUFile())
					}
					if len(r.Errors) != 0 {
						t.Errorf("errors: %v", r.Errors)
					}
				})
			}
		})
	}
}

// TestKernelCgroupNamespace runs tune as a container does: in its own
// cgroup and mount namespaces, with the cgroup hierarchies mounted afresh
// (internal/testprog/cgroupns). The process sees its group as "/", every
// cgroup mount's root is the namespace's root, and its own limits are
// still found, in the mount point's files.
func TestKernelCgroupNamespace(t *testing.T) {
	parent := cgrouptest.New(t)
	g := parent.Child(t, "ctr")
	parent.SetMemory(t, 400<<20)
	g.SetMemory(t, 200<<20)
	g.SetCPU(t, 50000, 100000)
	ns := build(t, "./internal/testprog/cgroupns")

	out, err := g.Command(ns, "cat", "/proc/self/cgroup", "/proc/self/mountinfo").CombinedOutput()
	if err != nil {
		t.Fatalf("cat in the namespaces: %v\n%s", err, out)
	}
	// The mount points of the memory and cpu hierarchies, as the
	// namespace sees them.
	mounts := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if pre, post, ok := strings.Cut(line, " - "); ok {
			fields, after := strings.Fields(pre), strings.Fields(post)
			if len(fields) < 5 || len(after) < 3 || (after[0] != "cgroup" && after[0] != "cgroup2") {
				continue
			}
			if fields[3] != "/" {
				t.Errorf("cgroup mount %s has root %q in the namespace, want /: %s", fields[4], fields[3], line)
			}
			for _, opt := range append(strings.Split(after[2], ","), after[0]) {
				mounts[opt] = fields[4]
			}
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("unexpected line from cat: %q\n%s", line, out)
		}
		if c := parts[1]; (c == "" || strings.Contains(c, "memory") || strings.Contains(c, "cpu")) && parts[2] != "/" {
			t.Errorf("/proc/self/cgroup in the namespace: %q, want the group at /", line)
		}
	}
	memMount, cpuMount := mounts["memory"], mounts["cpu"]
	if g.Version == 2 {
		memMount, cpuMount = mounts["cgroup2"], mounts["cgroup2"]
	}
	if memMount == "" || cpuMount == "" {
		t.Fatalf("no memory or cpu hierarchy mounted in the namespace:\n%s", out)
	}

	r := tuneJSON(t, g, g.Command(ns, build(t, "./cmd/tune"), "-json"), "GOTUNE_MAXPROCS=floor")
	if r.Cgroup.MemoryGroup != memMount || r.Cgroup.CPUGroup != cpuMount {
		t.Errorf("groups %q and %q, want the mount points %q and %q", r.Cgroup.MemoryGroup, r.Cgroup.CPUGroup, memMount, cpuMount)
	}
	if want := filepath.Join(memMount, filepath.Base(g.MemoryFile())); r.Memory.Limit == nil || *r.Memory.Limit != 200<<20 || r.Memory.Level != 0 || r.Memory.Source != want {
		t.Errorf("memory limit %v level %d from %q, want %d level 0 from %q", r.Memory.Limit, r.Memory.Level, r.Memory.Source, 200<<20, want)
	}
	if want := filepath.Join(cpuMount, filepath.Base(g.CPUFile())); r.CPU.Quota == nil || *r.CPU.Quota != 0.5 || r.CPU.Level != 0 || r.CPU.Source != want || r.CPU.GOMAXPROCS != 1 {
		t.Errorf("CPU quota %v level %d from %q, GOMAXPROCS %d; want 0.5 level 0 from %q, GOMAXPROCS 1", r.CPU.Quota, r.CPU.Level, r.CPU.Source, r.CPU.GOMAXPROCS, want)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
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
