package tune_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/runtimehooks/tune"
)

// detectCase is what Detect must find in one snapshot under testdata/.
// Paths are relative to the snapshot's root.
type detectCase struct {
	name    string
	version int
	mode    string

	memGroup string
	memLimit int64
	memSrc   string
	memLevel int

	cpuGroup string
	cpuQuota float64
	cpuSrc   string
	cpuLevel int
	cpuLeaf  float64 // the quota of the process's own group: what the Go runtime sees

	// errs lists the errors Detect must report, in order (memory, then
	// CPU); each is given by substrings it must contain.
	errs [][]string
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

var detectCases = []detectCase{
	// cgroup v2
	{name: "v2-host", version: 2, mode: "v2",
		memGroup: "sys/fs/cgroup/user.slice/user-1000.slice/session-4.scope",
		cpuGroup: "sys/fs/cgroup/user.slice/user-1000.slice/session-4.scope"},
	{name: "v2-root-group", version: 2, mode: "v2", memGroup: "sys/fs/cgroup", cpuGroup: "sys/fs/cgroup"},
	{name: "v2-memory-max-wins", version: 2, mode: "v2",
		memLimit: 256 * mib, memSrc: "sys/fs/cgroup/system.slice/postgresql.service/memory.max"},
	{name: "v2-parent-tighter", version: 2, mode: "v2",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/batch.slice/memory.max", memLevel: 1,
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/batch.slice/cpu.max", cpuLevel: 1, cpuLeaf: 4},
	{name: "v2-child-tighter", version: 2, mode: "v2",
		memLimit: 128 * mib, memSrc: "sys/fs/cgroup/batch.slice/job43.scope/memory.max",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/batch.slice/job43.scope/cpu.max", cpuLeaf: 0.5},
	{name: "example-v2", version: 2, mode: "v2", memGroup: "sys/fs/cgroup/kubepods.slice/pod1/ctr",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/kubepods.slice/pod1/memory.max", memLevel: 1,
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/kubepods.slice/pod1/ctr/cpu.max", cpuLeaf: 1.5},
	{name: "v2-bind-subtree", version: 2, mode: "v2",
		memGroup: "sys/fs/cgroup/system.slice/nginx.service",
		memLimit: 2 * gib, memSrc: "sys/fs/cgroup/memory.max", memLevel: 2,
		cpuQuota: 2, cpuSrc: "sys/fs/cgroup/cpu.max", cpuLevel: 2},
	{name: "v2-zero-memory", version: 2, mode: "v2",
		cpuQuota: 1, cpuSrc: "sys/fs/cgroup/cpu.max", cpuLeaf: 1,
		errs: [][]string{{"sys/fs/cgroup/memory.max", "a limit of 0"}}},
	{name: "v2-garbage-memory", version: 2, mode: "v2",
		cpuQuota: 2.5, cpuSrc: "sys/fs/cgroup/cpu.max", cpuLeaf: 2.5,
		errs: [][]string{{"sys/fs/cgroup/memory.max", `"garbage" is not a number`}}},
	{name: "v2-garbage-cpu", version: 2, mode: "v2",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/memory.max",
		errs: [][]string{{"sys/fs/cgroup/cpu.max", `"1.5 100000"`, `"1.5" is not a number`}}},

	// cgroup v1
	{name: "v1-host-unlimited", version: 1, mode: "v1",
		memGroup: "sys/fs/cgroup/memory/system.slice/sshd.service",
		cpuGroup: "sys/fs/cgroup/cpu,cpuacct/system.slice/sshd.service"},
	{name: "v1-64k-pages", version: 1, mode: "v1",
		cpuQuota: 3, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us", cpuLeaf: 3},
	{name: "v1-parent-tighter", version: 1, mode: "v1",
		memGroup: "sys/fs/cgroup/memory/batch/job42",
		memLimit: 256 * mib, memSrc: "sys/fs/cgroup/memory/batch/memory.limit_in_bytes", memLevel: 1,
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_quota_us", cpuLevel: 1, cpuLeaf: 4},
	{name: "v1-child-tighter", version: 1, mode: "v1",
		cpuGroup: "sys/fs/cgroup/cpu/batch/job43",
		memLimit: 128 * mib, memSrc: "sys/fs/cgroup/memory/batch/job43/memory.limit_in_bytes",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu/batch/job43/cpu.cfs_quota_us", cpuLeaf: 0.5},
	{name: "v1-no-memory-controller", version: 1, mode: "v1", memGroup: "-",
		cpuQuota: 2, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us", cpuLeaf: 2},
	{name: "v1-hierarchical-above-mount", version: 1, mode: "v1", memGroup: "sys/fs/cgroup/memory",
		memLimit: 768 * mib, memSrc: "sys/fs/cgroup/memory/memory.stat:hierarchical_memory_limit", memLevel: -1},
	{name: "v1-zero-cpu", version: 1, mode: "v1",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/memory/memory.limit_in_bytes",
		errs: [][]string{{"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "a quota of 0"}}},
	{name: "v1-garbage-memory", version: 1, mode: "v1",
		cpuQuota: 1, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", cpuLeaf: 1,
		errs: [][]string{{"sys/fs/cgroup/memory/memory.limit_in_bytes", `"512M" is not a number`}}},

	// hybrid hosts
	{name: "hybrid-v1-wins", version: 1, mode: "hybrid",
		memGroup: "sys/fs/cgroup/memory/system.slice/app.service",
		memLimit: 1 * gib, memSrc: "sys/fs/cgroup/memory/system.slice/app.service/memory.limit_in_bytes",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us", cpuLeaf: 0.5},
	{name: "hybrid-memory-v2-only", version: 1, mode: "hybrid",
		memGroup: "sys/fs/cgroup/unified/system.slice/app.service",
		memLimit: 256 * mib, memSrc: "sys/fs/cgroup/unified/system.slice/app.service/memory.max",
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us", cpuLeaf: 1.5},
	{name: "hybrid-v1-unmounted", version: 0, mode: "none",
		errs: [][]string{{"memory (cgroup v1)", "not mounted"}, {"cpu (cgroup v1)", "not mounted"}}},
	{name: "hybrid-this-machine", version: 1, mode: "hybrid",
		memGroup: "sys/fs/cgroup/memory/process_api/71d228db6f959a8224d3c9da4ce21f67", cpuGroup: "sys/fs/cgroup/cpu"},

	// mountinfo and /proc/self/cgroup oddities
	{name: "escaped-paths", version: 2, mode: "v2", memGroup: "mnt/cgroup root/job 1",
		memLimit: 100 * mib, memSrc: "mnt/cgroup root/job 1/memory.max",
		cpuQuota: 2.5, cpuSrc: "mnt/cgroup root/cpu.max", cpuLevel: 1},
	{name: "mountinfo-oddities", version: 1, mode: "v1",
		memLimit: 384 * mib, memSrc: "sys/fs/cgroup/memory/app/memory.limit_in_bytes",
		cpuQuota: 2, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", cpuLeaf: 2},
	{name: "unrelated-bad-lines", version: 1, mode: "v1",
		memLimit: 1 * gib, memSrc: "sys/fs/cgroup/memory/memory.limit_in_bytes",
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", cpuLeaf: 1.5},
	{name: "v2-bind-host-private-ns", version: 0, mode: "none",
		errs: [][]string{{`memory (cgroup v2): group "/" is outside`, "/../../.."}, {`cpu (cgroup v2): group "/" is outside`}}},
	{name: "no-mounts", version: 0, mode: "none",
		errs: [][]string{{"memory (cgroup v2)", "not mounted"}, {"cpu (cgroup v2)", "not mounted"}}},

	// real-world layouts
	{name: "k8s-v2-cgroupns", version: 2, mode: "v2", memGroup: "sys/fs/cgroup",
		memLimit: 482344960, memSrc: "sys/fs/cgroup/memory.high",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu.max", cpuLeaf: 0.5},
	{name: "k8s-v2-no-ns", version: 2, mode: "v2",
		memGroup: "sys/fs/cgroup/" + k8sPod + "/cri-containerd-9f3c2b7e1d4a5f6081726354a9b8c7d6e5f40312a1b2c3d4e5f60718293a4b5c.scope",
		memLimit: 1 * gib, memSrc: "sys/fs/cgroup/" + k8sPod + "/memory.max", memLevel: 1,
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/" + k8sPod + "/cpu.max", cpuLevel: 1},
	{name: "k8s-v1", version: 1, mode: "v1", memGroup: "sys/fs/cgroup/memory", cpuGroup: "sys/fs/cgroup/cpu,cpuacct",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/memory/memory.limit_in_bytes",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", cpuLeaf: 0.5},
	{name: "docker-v1", version: 1, mode: "v1",
		cpuQuota: 2, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", cpuLeaf: 2},
	{name: "systemd-slice", version: 2, mode: "v2",
		memLimit: 768 * mib, memSrc: "sys/fs/cgroup/system.slice/foo.service/memory.high",
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/system.slice/cpu.max", cpuLevel: 1},
	{name: "wsl2-hybrid", version: 1, mode: "hybrid", memGroup: "sys/fs/cgroup/memory", cpuGroup: "sys/fs/cgroup/cpu"},
	{name: "ecs-v1", version: 1, mode: "v1",
		memLimit: 256 * mib, memSrc: "sys/fs/cgroup/memory/memory.limit_in_bytes"},
	// cgroup namespaces with the process in a child of the namespace's
	// root: the mount's root is "/" but its top directory is the
	// container's group, which holds the limits
	{name: "v2-cgroupns-nested", version: 2, mode: "v2", memGroup: "sys/fs/cgroup/app", cpuGroup: "sys/fs/cgroup/app",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/memory.max", memLevel: 1,
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu.max", cpuLevel: 1},
	{name: "v1-cgroupns-nested", version: 1, mode: "v1", memGroup: "sys/fs/cgroup/memory/app", cpuGroup: "sys/fs/cgroup/cpu,cpuacct/app",
		memLimit: 512 * mib, memSrc: "sys/fs/cgroup/memory/memory.limit_in_bytes", memLevel: 1,
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", cpuLevel: 1},

	// several mounts of one hierarchy: the container's own subtree at
	// /sys/fs/cgroup and the host's whole hierarchy at /host/sys/fs/cgroup
	// (Docker --cgroupns=host with an agent's volume); the parent's
	// limits are seen only through the host's mount
	{name: "v2-own-and-host-mounts", version: 2, mode: "v2", memGroup: "sys/fs/cgroup", cpuGroup: "sys/fs/cgroup",
		memLimit: 512 * mib, memSrc: "host/sys/fs/cgroup/batch.slice/memory.max", memLevel: 1,
		cpuQuota: 1, cpuSrc: "host/sys/fs/cgroup/batch.slice/cpu.max", cpuLevel: 1},
	// after `nsenter -C` into a container's cgroup namespace: the group
	// and the mount root both above the namespace's root, aligned
	{name: "v2-nsenter-outside-ns", version: 2, mode: "v2",
		memGroup: "sys/fs/cgroup/system.slice/node-agent.service", cpuGroup: "sys/fs/cgroup/system.slice/node-agent.service",
		memLimit: 256 * mib, memSrc: "sys/fs/cgroup/system.slice/node-agent.service/memory.max",
		cpuQuota: 0.5, cpuSrc: "sys/fs/cgroup/system.slice/node-agent.service/cpu.max", cpuLeaf: 0.5},
	// each v1 hierarchy mounted twice; as root the first mount is read
	// (internal/cgroup's TestUnreadableMountFallsBack reads it as nobody,
	// with the first mount unreadable)
	{name: "v1-second-mount-readable", version: 1, mode: "v1",
		memGroup: "sys/fs/cgroup/memory/system.slice/app.service", cpuGroup: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service",
		memLimit: 384 * mib, memSrc: "sys/fs/cgroup/memory/system.slice/app.service/memory.limit_in_bytes",
		cpuQuota: 1.5, cpuSrc: "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us", cpuLeaf: 1.5},
}

const k8sPod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3e8f1a2b_4c5d_4e7f_8091_a2b3c4d5e6f7.slice"

// discard is a logger that writes nowhere.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// clearTuneEnv unsets every variable that would change Detect's decisions.
func clearTuneEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"GOTUNE", "GOTUNE_MEMORY_RATIO", "GOTUNE_MAXPROCS", "AUTOMEMLIMIT", "GOTUNE_REFRESH", "GOTUNE_CRASH_FILE"} {
		t.Setenv(v, "")
	}
}

// runtimeRuleForTest is the Go runtime's GOMAXPROCS default for a quota,
// written out again here so the test does not trust the code under test.
func runtimeRuleForTest(quota float64, numCPU int) int {
	if quota <= 0 {
		return numCPU
	}
	return min(numCPU, max(int(math.Ceil(quota)), 2))
}

func TestDetectSnapshots(t *testing.T) {
	clearTuneEnv(t)
	if len(detectCases) < 24 {
		t.Fatalf("only %d snapshot cases", len(detectCases))
	}
	numCPU, curProcs, curMem := runtime.NumCPU(), runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1)
	for _, tc := range detectCases {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join("testdata", tc.name)
			rep, err := tune.Detect(tune.Options{Root: root, Logger: discard})
			at := func(rel string) string {
				if rel == "" {
					return ""
				}
				return filepath.Join(root, rel)
			}

			// cgroup
			if rep.Cgroup.Version != tc.version || rep.Cgroup.Mode != tc.mode {
				t.Errorf("cgroup version %d mode %q, want %d %q", rep.Cgroup.Version, rep.Cgroup.Mode, tc.version, tc.mode)
			}
			if tc.memGroup == "-" { // no memory hierarchy at all
				tc.memGroup = ""
				if rep.Cgroup.MemoryGroup != "" {
					t.Errorf("memory group %q, want none", rep.Cgroup.MemoryGroup)
				}
			}
			if tc.memGroup != "" && rep.Cgroup.MemoryGroup != at(tc.memGroup) {
				t.Errorf("memory group %q, want %q", rep.Cgroup.MemoryGroup, at(tc.memGroup))
			}
			if tc.cpuGroup != "" && rep.Cgroup.CPUGroup != at(tc.cpuGroup) {
				t.Errorf("cpu group %q, want %q", rep.Cgroup.CPUGroup, at(tc.cpuGroup))
			}
			for _, f := range rep.Cgroup.Files {
				if !strings.HasPrefix(f, root+string(filepath.Separator)) {
					t.Errorf("file %q read outside the snapshot", f)
				} else if _, err := os.Stat(f); err != nil {
					t.Errorf("file %q listed as read: %v", f, err)
				}
			}
			if rep.Applied {
				t.Error("Detect reports Applied")
			}

			// errors: exactly the expected ones, each naming its file and content
			if len(rep.Errors) != len(tc.errs) {
				t.Errorf("errors %q, want %d matching %q", rep.Errors, len(tc.errs), tc.errs)
			} else {
				for i, subs := range tc.errs {
					for _, s := range subs {
						if !strings.Contains(rep.Errors[i], s) {
							t.Errorf("error %d %q does not contain %q", i, rep.Errors[i], s)
						}
					}
				}
			}
			if (err != nil) != (len(tc.errs) > 0) {
				t.Errorf("Detect error %v, want one: %v", err, len(tc.errs) > 0)
			}
			memErr := hasErr(tc.errs, "memory")
			cpuErr := hasErr(tc.errs, "cpu")

			// memory
			m := rep.Memory
			if m.Limit != tc.memLimit || m.Source != at(tc.memSrc) || m.LevelsUp != tc.memLevel {
				t.Errorf("memory limit %d from %q level %d, want %d from %q level %d", m.Limit, m.Source, m.LevelsUp, tc.memLimit, at(tc.memSrc), tc.memLevel)
			}
			if m.Before != curMem {
				t.Errorf("GOMEMLIMIT before %d, want the process's %d", m.Before, curMem)
			}
			switch {
			case tc.memLimit > 0 && !memErr:
				if want := tc.memLimit * 9 / 10; m.GOMEMLIMIT != want || m.Action != "set" {
					t.Errorf("GOMEMLIMIT %d (%s), want %d (set)", m.GOMEMLIMIT, m.Action, want)
				}
			default:
				if m.GOMEMLIMIT != curMem || m.Action != "unchanged" {
					t.Errorf("GOMEMLIMIT %d (%s), want %d unchanged", m.GOMEMLIMIT, m.Action, curMem)
				}
			}

			// CPU
			c := rep.CPU
			if math.Abs(c.Quota-tc.cpuQuota) > 1e-9 || c.Source != at(tc.cpuSrc) || c.LevelsUp != tc.cpuLevel {
				t.Errorf("cpu quota %v from %q level %d, want %v from %q level %d", c.Quota, c.Source, c.LevelsUp, tc.cpuQuota, at(tc.cpuSrc), tc.cpuLevel)
			}
			if c.NumCPU != numCPU || c.Before != curProcs || c.Policy != tune.ProcsAuto {
				t.Errorf("cpu num %d before %d policy %q, want %d %d auto", c.NumCPU, c.Before, c.Policy, numCPU, curProcs)
			}
			if want := runtimeRuleForTest(tc.cpuLeaf, numCPU); c.RuntimeDefault != want {
				t.Errorf("runtime default %d, want %d (own group's quota %v)", c.RuntimeDefault, want, tc.cpuLeaf)
			}
			switch {
			case cpuErr:
				if c.GOMAXPROCS != curProcs || c.Action != tune.ActionUnchanged {
					t.Errorf("GOMAXPROCS %d (%s), want %d unchanged", c.GOMAXPROCS, c.Action, curProcs)
				}
			default:
				want, action := runtimeRuleForTest(tc.cpuQuota, numCPU), tune.ActionRuntime
				if want != runtimeRuleForTest(tc.cpuLeaf, numCPU) {
					action = tune.ActionSet
				}
				if c.GOMAXPROCS != want || c.Action != action {
					t.Errorf("GOMAXPROCS %d (%s), want %d (%s)", c.GOMAXPROCS, c.Action, want, action)
				}
			}
			if t.Failed() {
				t.Logf("report: %s", rep)
			}
		})
	}
}

// hasErr reports whether one of the expected errors is about part
// ("memory" or "cpu"), judged by the file or controller it names.
func hasErr(errs [][]string, part string) bool {
	for _, subs := range errs {
		s := strings.Join(subs, " ")
		if part == "memory" && strings.Contains(s, "memory") || part == "cpu" && strings.Contains(s, "cpu") {
			return true
		}
	}
	return false
}

func TestDetectCasesCoverTestdata(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, tc := range detectCases {
		if known[tc.name] {
			t.Errorf("case %s listed twice", tc.name)
		}
		known[tc.name] = true
	}
	readme, err := os.ReadFile(filepath.Join("testdata", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join("testdata", d.Name(), "proc/self/cgroup")); err != nil {
			continue
		}
		if !known[d.Name()] {
			t.Errorf("snapshot testdata/%s has no case in detectCases", d.Name())
		}
		if !strings.Contains(string(readme), "| `"+d.Name()+"` |") {
			t.Errorf("snapshot testdata/%s is not described in testdata/README.md", d.Name())
		}
	}
}

func TestDetectOptions(t *testing.T) {
	numCPU, curProcs := runtime.NumCPU(), runtime.GOMAXPROCS(0)
	tests := []struct {
		name    string
		root    string
		opts    tune.Options
		env     map[string]string
		mem     int64       // GOMEMLIMIT Detect would set; 0: unchanged
		procs   int         // GOMAXPROCS; 0: unchanged
		action  tune.Action // CPU action
		policy  tune.ProcsPolicy
		errPart string // a substring of the one expected error, or ""
	}{
		{name: "ratio", root: "k8s-v2-cgroupns", opts: tune.Options{MemoryRatio: 0.5},
			mem: 482344960 / 2, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto},
		{name: "ratio 1", root: "v2-parent-tighter", opts: tune.Options{MemoryRatio: 1},
			mem: 512 * mib, procs: runtimeRuleForTest(1.5, numCPU), policy: tune.ProcsAuto,
			action: map[bool]tune.Action{true: "runtime", false: "set"}[runtimeRuleForTest(1.5, numCPU) == runtimeRuleForTest(4, numCPU)]},
		{name: "floor", root: "v2-parent-tighter", opts: tune.Options{MaxProcs: tune.ProcsFloor},
			mem: 512 * mib * 9 / 10, procs: 1, action: "set", policy: tune.ProcsFloor},
		{name: "floor below one", root: "k8s-v2-cgroupns", opts: tune.Options{MaxProcs: tune.ProcsFloor},
			mem: 482344960 * 9 / 10, procs: 1, action: "set", policy: tune.ProcsFloor},
		{name: "floor no quota", root: "ecs-v1", opts: tune.Options{MaxProcs: tune.ProcsFloor},
			mem: 256 * mib * 9 / 10, procs: 0, action: "runtime", policy: tune.ProcsFloor},
		{name: "off", root: "k8s-v2-no-ns", opts: tune.Options{MaxProcs: tune.ProcsOff},
			mem: 1 * gib * 9 / 10, procs: 0, action: "unchanged", policy: tune.ProcsOff},
		{name: "env ratio outranks options", root: "k8s-v1", opts: tune.Options{MemoryRatio: 0.8},
			env: map[string]string{"GOTUNE_MEMORY_RATIO": "0.5"}, mem: 256 * mib, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto},
		{name: "env maxprocs", root: "v1-parent-tighter", opts: tune.Options{MaxProcs: tune.ProcsAuto},
			env: map[string]string{"GOTUNE_MAXPROCS": "floor"}, mem: 256 * mib * 9 / 10, procs: 1, action: "set", policy: tune.ProcsFloor},
		{name: "automemlimit ratio", root: "k8s-v1",
			env: map[string]string{"AUTOMEMLIMIT": "0.25"}, mem: 128 * mib, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto},
		{name: "automemlimit off", root: "k8s-v1",
			env: map[string]string{"AUTOMEMLIMIT": "off"}, mem: 0, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto},
		{name: "bad env ratio falls back", root: "k8s-v1",
			env: map[string]string{"GOTUNE_MEMORY_RATIO": "2"}, mem: 512 * mib * 9 / 10, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto,
			errPart: `GOTUNE_MEMORY_RATIO="2"`},
		{name: "GOTUNE off", root: "k8s-v1",
			env: map[string]string{"GOTUNE": "off"}, mem: 0, procs: 0, action: "unchanged", policy: tune.ProcsAuto},
		// GOMEMLIMIT and GOMAXPROCS in the environment belong to this
		// process, not to the snapshot: Detect with a Root ignores them.
		{name: "own env ignored for a snapshot", root: "k8s-v1",
			env: map[string]string{"GOMEMLIMIT": "123MiB", "GOMAXPROCS": "1"}, mem: 512 * mib * 9 / 10, procs: min(2, numCPU), action: "runtime", policy: tune.ProcsAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTuneEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tt.opts.Root, tt.opts.Logger = filepath.Join("testdata", tt.root), discard
			rep, err := tune.Detect(tt.opts)
			if tt.errPart == "" && err != nil {
				t.Errorf("Detect: %v", err)
			}
			if tt.errPart != "" && (len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], tt.errPart)) {
				t.Errorf("errors %q, want one containing %q", rep.Errors, tt.errPart)
			}
			wantMem, memAction := tt.mem, tune.ActionSet
			if wantMem == 0 {
				wantMem, memAction = rep.Memory.Before, tune.ActionUnchanged
			}
			if rep.Memory.GOMEMLIMIT != wantMem || rep.Memory.Action != memAction {
				t.Errorf("GOMEMLIMIT %d (%s), want %d (%s): %s", rep.Memory.GOMEMLIMIT, rep.Memory.Action, wantMem, memAction, rep.Memory.Reason)
			}
			wantProcs := tt.procs
			if wantProcs == 0 {
				wantProcs = curProcs
			}
			if rep.CPU.GOMAXPROCS != wantProcs || rep.CPU.Action != tt.action || rep.CPU.Policy != tt.policy {
				t.Errorf("GOMAXPROCS %d (%s, %s), want %d (%s, %s): %s", rep.CPU.GOMAXPROCS, rep.CPU.Action, rep.CPU.Policy, wantProcs, tt.action, tt.policy, rep.CPU.Reason)
			}
		})
	}
}

// TestDetectLiveEnv checks that GOMEMLIMIT and GOMAXPROCS in the
// environment are the operator's decision when Detect looks at this process
// (Root "" or "/"), and only then.
func TestDetectLiveEnv(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("cgroups exist only on Linux")
	}
	clearTuneEnv(t)
	t.Setenv("GOMEMLIMIT", "123MiB")
	t.Setenv("GOMAXPROCS", "1")
	for _, root := range []string{"", "/"} {
		rep, _ := tune.Detect(tune.Options{Root: root, Logger: discard})
		if rep.Memory.Action != "unchanged" || !strings.Contains(rep.Memory.Reason, "GOMEMLIMIT=123MiB") {
			t.Errorf("root %q: memory %s: %s, want the environment's GOMEMLIMIT to stand", root, rep.Memory.Action, rep.Memory.Reason)
		}
		if rep.CPU.Action != "unchanged" || !strings.Contains(rep.CPU.Reason, "GOMAXPROCS=1") {
			t.Errorf("root %q: cpu %s: %s, want the environment's GOMAXPROCS to stand", root, rep.CPU.Action, rep.CPU.Reason)
		}
	}
}

func TestDetectJSON(t *testing.T) {
	clearTuneEnv(t)
	unlimited := debug.SetMemoryLimit(-1) == math.MaxInt64
	tests := []struct {
		root      string
		version   float64
		limit     any // float64 or nil
		gomem     any
		quota     any
		errs      int
		checkGmem bool
	}{
		{root: "v2-host", version: 2, limit: nil, gomem: nil, quota: nil, checkGmem: unlimited},
		{root: "k8s-v2-cgroupns", version: 2, limit: float64(482344960), gomem: float64(482344960 * 9 / 10), quota: 0.5, checkGmem: true},
		{root: "docker-v1", version: 1, limit: nil, gomem: nil, quota: 2.0, checkGmem: unlimited},
		{root: "v2-garbage-memory", version: 2, limit: nil, gomem: nil, quota: 2.5, errs: 1, checkGmem: unlimited},
		{root: "no-mounts", version: 0, limit: nil, gomem: nil, quota: nil, errs: 2, checkGmem: unlimited},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			rep, _ := tune.Detect(tune.Options{Root: filepath.Join("testdata", tt.root), Logger: discard})
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]map[string]any
			var top map[string]any
			if err := json.Unmarshal(b, &top); err != nil {
				t.Fatal(err)
			}
			errs, ok := top["errors"].([]any)
			if !ok || len(errs) != tt.errs {
				t.Errorf("errors = %#v, want an array of %d", top["errors"], tt.errs)
			}
			delete(top, "errors")
			delete(top, "applied")
			b2, _ := json.Marshal(top)
			if err := json.Unmarshal(b2, &doc); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			key := func(obj, k string) any {
				v, ok := doc[obj][k]
				if !ok {
					t.Errorf("no key %s.%s in %s", obj, k, b)
				}
				return v
			}
			if v := key("cgroup", "version"); v != tt.version {
				t.Errorf("cgroup.version = %v, want %v", v, tt.version)
			}
			if v := key("memory", "limit_bytes"); v != tt.limit {
				t.Errorf("memory.limit_bytes = %v, want %v", v, tt.limit)
			}
			if v := key("memory", "gomemlimit_bytes"); tt.checkGmem && v != tt.gomem {
				t.Errorf("memory.gomemlimit_bytes = %v, want %v", v, tt.gomem)
			}
			if v := key("cpu", "quota_cores"); v != tt.quota {
				t.Errorf("cpu.quota_cores = %v, want %v", v, tt.quota)
			}
			if v, ok := key("cpu", "gomaxprocs").(float64); !ok || int(v) != rep.CPU.GOMAXPROCS || v < 1 {
				t.Errorf("cpu.gomaxprocs = %v, want %d", v, rep.CPU.GOMAXPROCS)
			}
		})
	}
}
