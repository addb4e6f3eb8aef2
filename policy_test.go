package tune

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/internal/cgroup"
)

const mib = 1 << 20

func memLim(v int64, level int, src string) cgroup.Limit[int64] {
	return cgroup.Limit[int64]{Value: v, Level: level, Src: src}
}

func TestDecideMemory(t *testing.T) {
	def := config{ratio: 0.9, ratioFrom: "default"}
	rt := func(current int64, env string) runtimeNow {
		return runtimeNow{gomemlimit: current, gomaxprocs: 2, numCPU: 2, envMem: env}
	}
	tests := []struct {
		name       string
		lim        cgroup.Limit[int64]
		c          config
		rt         runtimeNow
		wantAction Action
		wantLimit  int64
		wantReason string
		wantWarn   string
	}{
		{"limit", memLim(512*mib, 0, "/g/memory.max"), def, rt(math.MaxInt64, ""), ActionSet, 483183820, "0.9 × own group's limit from /g/memory.max", ""},
		{"truncates", memLim(1001*mib, 0, ""), def, rt(math.MaxInt64, ""), ActionSet, 944662118, "", ""},
		{"ratio", memLim(1000*mib, 0, ""), config{ratio: 0.5}, rt(math.MaxInt64, ""), ActionSet, 500 * mib, "", ""},
		{"ancestor", memLim(1000*mib, 2, "/a/memory.max"), def, rt(math.MaxInt64, ""), ActionSet, 943718400, "ancestor's (2 levels up) limit", ""},
		{"above mount", memLim(1000*mib, -1, ""), def, rt(math.MaxInt64, ""), ActionSet, 943718400, "above the mount point", ""},
		{"no limit keeps current", memLim(0, 0, ""), def, rt(123*mib, ""), ActionUnchanged, 123 * mib, "no memory limit found", ""},
		{"no limit never resets", memLim(0, 0, ""), def, rt(math.MaxInt64, ""), ActionUnchanged, math.MaxInt64, "left as it is", ""},
		{"env wins", memLim(1000, 0, ""), def, rt(77, "77B"), ActionUnchanged, 77, "GOMEMLIMIT=77B", ""},
		{"policy off", memLim(1000, 0, ""), config{ratio: 0, ratioFrom: "AUTOMEMLIMIT=off"}, rt(5, ""), ActionUnchanged, 5, "AUTOMEMLIMIT=off", ""},
		{"read error", cgroup.Limit[int64]{Err: errors.New("x")}, def, rt(5, ""), ActionUnchanged, 5, "could not be read", ""},
		{"zero result is never applied", memLim(1, 0, ""), def, rt(5, ""), ActionUnchanged, 5, "not a usable limit", "GOMEMLIMIT of 0: not applied"},
		{"tiny ratio warns", memLim(512*mib, 0, ""), config{ratio: 1e-6, ratioFrom: "GOTUNE_MEMORY_RATIO"}, rt(math.MaxInt64, ""), ActionSet, 536, "", "GOTUNE_MEMORY_RATIO) gives a GOMEMLIMIT of 536B"},
		{"tiny result warns", memLim(10*mib, 0, ""), def, rt(math.MaxInt64, ""), ActionSet, 9437184, "", "GC will run nearly all the time"},
		{"below 10% warns", memLim(4096*mib, 0, ""), config{ratio: 0.05, ratioFrom: "Options.MemoryRatio"}, rt(math.MaxInt64, ""), ActionSet, 214748364, "", "memory ratio 0.05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, warn := decideMemory(tt.lim, tt.c, tt.rt, applied{})
			if m.Action != tt.wantAction || m.GOMEMLIMIT != tt.wantLimit || !strings.Contains(m.Reason, tt.wantReason) {
				t.Errorf("got action %q limit %d reason %q; want %q %d containing %q", m.Action, m.GOMEMLIMIT, m.Reason, tt.wantAction, tt.wantLimit, tt.wantReason)
			}
			if m.Before != tt.rt.gomemlimit {
				t.Errorf("Before = %d, want %d", m.Before, tt.rt.gomemlimit)
			}
			if (warn == nil) != (tt.wantWarn == "") || warn != nil && !strings.Contains(warn.Error(), tt.wantWarn) {
				t.Errorf("warning %v, want one containing %q", warn, tt.wantWarn)
			}
		})
	}
}

func TestRuntimeRule(t *testing.T) {
	tests := []struct {
		quota  float64
		numCPU int
		want   int
	}{
		{0, 8, 8}, {9.2e18, 8, 8}, {0.5, 8, 2}, {1, 8, 2}, {2, 8, 2}, {2.1, 8, 3}, {3.5, 8, 4}, {16, 8, 8}, {0.5, 1, 1}, {4, 2, 2},
	}
	for _, tt := range tests {
		if got := runtimeRule(tt.quota, tt.numCPU); got != tt.want {
			t.Errorf("runtimeRule(%v, %d) = %d, want %d", tt.quota, tt.numCPU, got, tt.want)
		}
	}
}

func TestEnvProcs(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "8": 8, "2147483647": 2147483647, "-8": 8} {
		got, ok := envProcs(s)
		if want == 8 && s == "-8" {
			if ok {
				t.Errorf("envProcs(%q) = %d, true; the runtime ignores a negative value", s, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("envProcs(%q) = %d, %v; want %d, true", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "0", "2147483648", "99999999999999999999", "+2", " 2", "2 ", "two", "2.5", "-"} {
		if got, ok := envProcs(s); ok {
			t.Errorf("envProcs(%q) = %d, true; the runtime ignores it", s, got)
		}
	}
}

// cpuLim is a CPU limit: the tightest quota, its level, and the own
// group's quota (what the runtime sees).
func cpuLim(v float64, level int, own float64) cgroup.Limit[float64] {
	return cgroup.Limit[float64]{Value: v, Level: level, Own: own, Src: "/g/cpu.max"}
}

func TestDecideProcs(t *testing.T) {
	auto, floor, off := config{procs: ProcsAuto}, config{procs: ProcsFloor}, config{procs: ProcsOff}
	rt := func(current, numCPU int) runtimeNow { return runtimeNow{gomaxprocs: current, numCPU: numCPU} }
	tests := []struct {
		name       string
		lim        cgroup.Limit[float64]
		c          config
		rt         runtimeNow
		wantAction Action
		want       int
		wantReason string
	}{
		{"auto: runtime already right", cpuLim(2.5, 0, 2.5), auto, rt(3, 8), ActionRuntime, 3, "default, 3, already equals the rule"},
		{"auto: ancestor tighter", cpuLim(2.5, 1, 0), auto, rt(8, 8), ActionSet, 3, "tighter than the one the runtime sees"},
		{"auto: no quota", cpuLim(0, 0, 0), auto, rt(8, 8), ActionRuntime, 8, "default stands"},
		{"auto: min 2", cpuLim(0.5, 1, 0), auto, rt(8, 8), ActionSet, 2, ""},
		{"auto: capped by CPUs", cpuLim(32, 1, 0), auto, rt(4, 4), ActionRuntime, 4, ""},
		{"auto: runtime without cgroup awareness", cpuLim(2, 0, 2), auto, rt(8, 8), ActionSet, 2, "does not follow the own group's quota"},
		{"auto: set by another library before tune", cpuLim(1.5, 0, 1.5), auto, rt(1, 2), ActionRuntime, 2, "GOMAXPROCS 1 was set by the program or another library before tune"},
		{"auto: set by the program, ancestor tighter", cpuLim(2, 1, 0), auto, rt(6, 8), ActionSet, 2, "GOMAXPROCS 6 was set by the program or another library before tune; tune's rule"},
		{"auto: set by the program, no quota", cpuLim(0, 0, 0), auto, rt(3, 8), ActionUnchanged, 3, "set by the program or another library before tune: left as it is"},
		{"floor", cpuLim(2.5, 0, 2.5), floor, rt(3, 8), ActionSet, 2, "floor of"},
		{"floor: at least 1", cpuLim(0.2, 0, 0.2), floor, rt(2, 8), ActionSet, 1, ""},
		{"floor: at most the CPUs", cpuLim(6, 0, 6), floor, rt(2, 2), ActionSet, 2, ""},
		{"floor: an absurd quota does not overflow", cpuLim(9.2e18, 0, 9.2e18), floor, rt(4, 4), ActionSet, 4, ""},
		{"floor: no quota", cpuLim(0, 0, 0), floor, rt(8, 8), ActionRuntime, 8, "no CPU quota"},
		{"off", cpuLim(1, 0, 1), off, rt(8, 8), ActionUnchanged, 8, "policy is off"},
		{"env wins", cpuLim(1, 0, 1), floor, runtimeNow{gomaxprocs: 6, numCPU: 8, envProcs: "6"}, ActionUnchanged, 6, "GOMAXPROCS=6"},
		{"bad env ignored", cpuLim(1.5, 0, 1.5), floor, runtimeNow{gomaxprocs: 8, numCPU: 8, envProcs: "lots"}, ActionSet, 1, ""},
		{"env the runtime rejects is ignored", cpuLim(1.5, 0, 1.5), floor, runtimeNow{gomaxprocs: 8, numCPU: 8, envProcs: "2147483648"}, ActionSet, 1, ""},
		{"read error", cgroup.Limit[float64]{Err: errors.New("x")}, auto, rt(8, 8), ActionUnchanged, 8, "could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := firstLook(applied{}, tt.lim, tt.rt)
			r, _ := decideProcs(tt.lim, tt.c, tt.rt, prev)
			if r.Action != tt.wantAction || r.GOMAXPROCS != tt.want || !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("got %q %d %q; want %q %d containing %q", r.Action, r.GOMAXPROCS, r.Reason, tt.wantAction, tt.want, tt.wantReason)
			}
		})
	}
}

// step is one moment of a decision sequence: the limits then, what the
// environment says, and what decide must answer.
type step struct {
	name     string
	mem      cgroup.Limit[int64]
	cpu      cgroup.Limit[float64]
	c        *config // nil: the sequence's config
	envMem   string
	envProcs string
	// progMem and progProcs, when not 0, are what the program sets before
	// the step (debug.SetMemoryLimit, runtime.GOMAXPROCS).
	progMem   int64
	progProcs int

	memAction Action
	gomemlim  int64
	cpuAction Action
	gomaxproc int
	reason    string // in either reason
	warn      string // in a warning; "" for none
}

// runSequence feeds the steps to decide one after the other, as Init and
// the refresh loop do, carrying what tune applied and simulating the
// runtime: after each step it holds what apply would have left in effect.
func runSequence(t *testing.T, c config, numCPU, procs int, memlimit int64, steps []step) {
	t.Helper()
	var prev applied
	for i, s := range steps {
		cfg := c
		if s.c != nil {
			cfg = *s.c
		}
		if s.progMem != 0 {
			memlimit = s.progMem
		}
		if s.progProcs != 0 {
			procs = s.progProcs
		}
		rt := runtimeNow{gomemlimit: memlimit, gomaxprocs: procs, numCPU: numCPU, envMem: s.envMem, envProcs: s.envProcs}
		d := decide(cgroup.Limits{Memory: s.mem, CPU: s.cpu}, cfg, rt, prev)
		if d.Memory.Action != s.memAction || d.Memory.GOMEMLIMIT != s.gomemlim ||
			d.CPU.Action != s.cpuAction || d.CPU.GOMAXPROCS != s.gomaxproc {
			t.Errorf("step %d (%s): memory %s %d, cpu %s %d; want memory %s %d, cpu %s %d\n  reasons: %q / %q",
				i, s.name, d.Memory.Action, d.Memory.GOMEMLIMIT, d.CPU.Action, d.CPU.GOMAXPROCS,
				s.memAction, s.gomemlim, s.cpuAction, s.gomaxproc, d.Memory.Reason, d.CPU.Reason)
		}
		if !strings.Contains(d.Memory.Reason+" | "+d.CPU.Reason, s.reason) {
			t.Errorf("step %d (%s): reasons %q / %q, want one containing %q", i, s.name, d.Memory.Reason, d.CPU.Reason, s.reason)
		}
		warns := errors.Join(d.warnings...)
		if (warns == nil) != (s.warn == "") || warns != nil && !strings.Contains(warns.Error(), s.warn) {
			t.Errorf("step %d (%s): warnings %v, want %q", i, s.name, warns, s.warn)
		}
		// What apply leaves in effect.
		if d.Memory.Action != ActionUnchanged {
			memlimit = d.Memory.GOMEMLIMIT
		}
		if d.setProcs || d.handBack {
			procs = d.CPU.GOMAXPROCS
		}
		prev = d.next
	}
}

func TestDecideSequences(t *testing.T) {
	auto := config{ratio: 0.9, ratioFrom: "default", procs: ProcsAuto}
	floor := auto
	floor.procs = ProcsFloor
	offCfg := auto
	offCfg.off = true
	memOff := auto
	memOff.ratio, memOff.ratioFrom = 0, "Options.MemoryRatio is MemoryOff"
	none := cgroup.Limit[float64]{}
	noMem := cgroup.Limit[int64]{}
	const max = math.MaxInt64

	t.Run("memory set, raised, removed, back, removed", func(t *testing.T) {
		runSequence(t, auto, 2, 2, max, []step{
			{name: "set", mem: memLim(512*mib, 0, "m"), memAction: ActionSet, gomemlim: 483183820, cpuAction: ActionRuntime, gomaxproc: 2, reason: "0.9 × own group's limit"},
			{name: "raised", mem: memLim(1024*mib, 0, "m"), memAction: ActionSet, gomemlim: 966367641, cpuAction: ActionRuntime, gomaxproc: 2},
			{name: "removed", mem: noMem, memAction: ActionRestored, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "back to its value from before tune set it"},
			{name: "back", mem: memLim(256*mib, 1, "p"), memAction: ActionSet, gomemlim: 241591910, cpuAction: ActionRuntime, gomaxproc: 2, reason: "parent group's"},
			{name: "removed again", mem: noMem, memAction: ActionRestored, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2},
			{name: "still none", mem: noMem, memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "no memory limit found: left as it is"},
		})
	})
	t.Run("the program's GOMEMLIMIT comes back when the limit goes", func(t *testing.T) {
		runSequence(t, auto, 2, 2, 123*mib, []step{
			{name: "set", mem: memLim(512*mib, 0, "m"), memAction: ActionSet, gomemlim: 483183820, cpuAction: ActionRuntime, gomaxproc: 2},
			{name: "removed", mem: noMem, memAction: ActionRestored, gomemlim: 123 * mib, cpuAction: ActionRuntime, gomaxproc: 2},
		})
	})
	t.Run("a later Init switches the memory policy off", func(t *testing.T) {
		runSequence(t, auto, 2, 2, max, []step{
			{name: "set", mem: memLim(512*mib, 0, "m"), memAction: ActionSet, gomemlim: 483183820, cpuAction: ActionRuntime, gomaxproc: 2},
			{name: "off", c: &memOff, mem: memLim(512*mib, 0, "m"), memAction: ActionRestored, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "memory policy is off"},
		})
	})
	t.Run("ancestor quota tighter, equal, tighter, removed", func(t *testing.T) {
		runSequence(t, auto, 8, 8, max, []step{
			{name: "tighter", mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionSet, gomaxproc: 2, reason: "parent group's quota 2"},
			{name: "equal to the own group's", mem: noMem, cpu: cpuLim(4, 0, 4), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 4, reason: "tune hands GOMAXPROCS back"},
			{name: "tighter again", mem: noMem, cpu: cpuLim(2, 1, 4), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionSet, gomaxproc: 2},
			{name: "removed", mem: noMem, cpu: none, memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 8, reason: "no CPU quota found"},
		})
	})
	t.Run("floor hands back when the quota goes", func(t *testing.T) {
		runSequence(t, floor, 2, 2, max, []step{
			{name: "quota 1.5", cpu: cpuLim(1.5, 0, 1.5), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionSet, gomaxproc: 1, reason: "floor of own group's quota 1.5"},
			{name: "removed", cpu: none, memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "tune hands GOMAXPROCS back"},
		})
	})
	t.Run("another library set GOMAXPROCS before tune", func(t *testing.T) {
		runSequence(t, auto, 2, 1, max, []step{
			{name: "automaxprocs' 1", cpu: cpuLim(1.5, 0, 1.5), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "GOMAXPROCS 1 was set by the program or another library before tune"},
			{name: "the runtime has it now", cpu: cpuLim(1.5, 0, 1.5), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "already equals the rule"},
		})
	})
	t.Run("environment set mid-run", func(t *testing.T) {
		runSequence(t, floor, 8, 8, max, []step{
			{name: "set", mem: memLim(512*mib, 0, "m"), cpu: cpuLim(3, 0, 3), memAction: ActionSet, gomemlim: 483183820, cpuAction: ActionSet, gomaxproc: 3},
			{name: "env", mem: memLim(256*mib, 0, "m"), cpu: cpuLim(2, 0, 2), envMem: "100MiB", envProcs: "5", memAction: ActionUnchanged, gomemlim: 483183820, cpuAction: ActionUnchanged, gomaxproc: 3, reason: "GOMEMLIMIT=100MiB is set in the environment"},
			{name: "a value the runtime rejects", mem: memLim(256*mib, 0, "m"), cpu: cpuLim(2, 0, 2), envProcs: "2147483648", memAction: ActionSet, gomemlim: 241591910, cpuAction: ActionSet, gomaxproc: 2, warn: `GOMAXPROCS="2147483648" in the environment is not a value the Go runtime accepts`},
		})
	})
	t.Run("GOTUNE=off", func(t *testing.T) {
		runSequence(t, offCfg, 8, 8, max, []step{
			{name: "would set", mem: memLim(512*mib, 0, "m"), cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionUnchanged, gomaxproc: 8,
				reason: "GOTUNE=off: tune changes nothing; it would set GOMEMLIMIT to 460.8MiB (0.9 × own group's limit from m)"},
			{name: "would leave", mem: noMem, cpu: none, memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionUnchanged, gomaxproc: 8,
				reason: "GOTUNE=off: tune changes nothing; it would leave GOMAXPROCS to the Go runtime, 8 (no CPU quota found"},
		})
	})
	t.Run("GOTUNE=off after tune set", func(t *testing.T) {
		// A later Init under GOTUNE=off changes nothing, also not back.
		runSequence(t, auto, 8, 8, max, []step{
			{name: "set", mem: memLim(512*mib, 0, "m"), cpu: cpuLim(2, 1, 0), memAction: ActionSet, gomemlim: 483183820, cpuAction: ActionSet, gomaxproc: 2},
			{name: "off", c: &offCfg, mem: noMem, cpu: none, memAction: ActionUnchanged, gomemlim: 483183820, cpuAction: ActionUnchanged, gomaxproc: 2,
				reason: "it would put GOMEMLIMIT back to none"},
		})
	})
}

// TestDecideProgramsOwnValues: a value the program sets after tune is the
// program's until the limit it comes from changes what tune's rule gives
// for that setting; each decision concerns only its own setting; a second
// Init with the same options (the same decision again) keeps it.
func TestDecideProgramsOwnValues(t *testing.T) {
	auto := config{ratio: 0.9, ratioFrom: "default", procs: ProcsAuto}
	memOff := auto
	memOff.ratio, memOff.ratioFrom = 0, "Options.MemoryRatio is MemoryOff"
	procsOff := auto
	procsOff.procs = ProcsOff
	none := cgroup.Limit[float64]{}
	noMem := cgroup.Limit[int64]{}
	const max = math.MaxInt64
	m300, m400 := memLim(300*mib, 0, "m"), memLim(400*mib, 0, "m")
	const g300, g400 = 283115520, 377487360 // 0.9 × 300 MiB, 0.9 × 400 MiB

	t.Run("GOMAXPROCS stays the program's when only the memory limit changes", func(t *testing.T) {
		runSequence(t, auto, 8, 8, max, []step{
			{name: "Init", mem: m300, cpu: none, memAction: ActionSet, gomemlim: g300, cpuAction: ActionRuntime, gomaxproc: 8},
			{name: "memory 300 → 400 MiB", progProcs: 1, mem: m400, cpu: none, memAction: ActionSet, gomemlim: g400, cpuAction: ActionUnchanged, gomaxproc: 1,
				reason: "GOMAXPROCS 1 was set by the program or another library after tune: left as it is"},
			{name: "a second Init", mem: m400, cpu: none, memAction: ActionSet, gomemlim: g400, cpuAction: ActionUnchanged, gomaxproc: 1},
			{name: "a quota that gives the same", mem: m400, cpu: cpuLim(9, 0, 9), memAction: ActionSet, gomemlim: g400, cpuAction: ActionUnchanged, gomaxproc: 1},
			{name: "a quota that matters", mem: m400, cpu: cpuLim(4, 0, 4), memAction: ActionSet, gomemlim: g400, cpuAction: ActionRuntime, gomaxproc: 4,
				reason: "replaces the 1 the program had set"},
			{name: "tune's again", mem: m300, cpu: cpuLim(4, 0, 4), memAction: ActionSet, gomemlim: g300, cpuAction: ActionRuntime, gomaxproc: 4, reason: "already equals the rule"},
		})
	})
	t.Run("GOMEMLIMIT stays the program's when only the CPU quota changes", func(t *testing.T) {
		runSequence(t, auto, 8, 8, max, []step{
			{name: "Init", mem: m300, cpu: none, memAction: ActionSet, gomemlim: g300, cpuAction: ActionRuntime, gomaxproc: 8},
			{name: "quota", progMem: 100 * mib, mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 100 * mib, cpuAction: ActionSet, gomaxproc: 2,
				reason: "GOMEMLIMIT 100MiB was set by the program or another library after tune: left as it is until the memory limit changes"},
			{name: "a second Init", mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 100 * mib, cpuAction: ActionSet, gomaxproc: 2},
			{name: "memory 300 → 400 MiB", mem: m400, cpu: cpuLim(2, 1, 0), memAction: ActionSet, gomemlim: g400, cpuAction: ActionSet, gomaxproc: 2,
				reason: "replaces the 100MiB the program had set"},
			{name: "the program again, then the limit goes", progMem: 100 * mib, mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 100 * mib, cpuAction: ActionSet, gomaxproc: 2,
				reason: "left as it is until the memory limit changes (tune's rule: no memory limit found"},
			{name: "the limit comes back", mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionSet, gomemlim: g300, cpuAction: ActionSet, gomaxproc: 2},
			{name: "the limit goes: tune puts back the program's", mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionRestored, gomemlim: 100 * mib, cpuAction: ActionSet, gomaxproc: 2},
		})
	})
	t.Run("a second Init keeps both", func(t *testing.T) {
		runSequence(t, auto, 8, 8, max, []step{
			{name: "Init", mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionSet, gomemlim: g300, cpuAction: ActionSet, gomaxproc: 2},
			{name: "Init again", progMem: 50 * mib, progProcs: 3, mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 50 * mib, cpuAction: ActionUnchanged, gomaxproc: 3},
			{name: "and again", mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 50 * mib, cpuAction: ActionUnchanged, gomaxproc: 3},
			{name: "a policy switched off does not step on them", c: &procsOff, mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 50 * mib, cpuAction: ActionUnchanged, gomaxproc: 3},
			{name: "memory off", c: &memOff, mem: m300, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: 50 * mib, cpuAction: ActionUnchanged, gomaxproc: 3,
				reason: "tune's rule: memory policy is off"},
		})
	})
	t.Run("the program hands GOMAXPROCS back", func(t *testing.T) {
		runSequence(t, auto, 8, 8, max, []step{
			{name: "Init", mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionSet, gomaxproc: 2},
			{name: "the program's 5", progProcs: 5, mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionUnchanged, gomaxproc: 5},
			{name: "SetDefaultGOMAXPROCS", progProcs: 8, mem: noMem, cpu: cpuLim(2, 1, 0), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionSet, gomaxproc: 2},
		})
	})
	t.Run("the runtime following its own quota is not the program", func(t *testing.T) {
		runSequence(t, auto, 8, 4, max, []step{
			{name: "Init", mem: noMem, cpu: cpuLim(4, 0, 4), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 4},
			{name: "the runtime follows 4 → 2", progProcs: 2, mem: noMem, cpu: cpuLim(2, 0, 2), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2, reason: "already equals the rule"},
			{name: "an ancestor's quota", mem: noMem, cpu: cpuLim(1, 1, 2), memAction: ActionUnchanged, gomemlim: max, cpuAction: ActionRuntime, gomaxproc: 2},
		})
	})
}
