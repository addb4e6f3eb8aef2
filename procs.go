package tune

import (
	"fmt"
	"math"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// ProcsPolicy says how tune sets GOMAXPROCS.
type ProcsPolicy string

const (
	// ProcsAuto uses the Go runtime's own rule, min(CPUs allowed, max(⌈quota⌉, 2)),
	// over the tightest quota including parent cgroups. Where the runtime
	// already arrives at the same number it is left in charge (so it keeps
	// following quota changes); where an ancestor's quota is tighter than
	// the one the runtime sees, tune sets GOMAXPROCS, and hands it back to
	// the runtime when that is no longer so.
	ProcsAuto ProcsPolicy = "auto"
	// ProcsFloor sets GOMAXPROCS to ⌊quota⌋, at least 1 and at most the CPUs
	// allowed, as go.uber.org/automaxprocs does. Without a quota the
	// runtime's default stands.
	ProcsFloor ProcsPolicy = "floor"
	// ProcsOff never touches GOMAXPROCS.
	ProcsOff ProcsPolicy = "off"
)

// CPUReport says what tune found and decided about GOMAXPROCS.
type CPUReport struct {
	// Quota is the effective CPU quota in CPUs (0 when there is none),
	// Source the file it came from and LevelsUp as in MemoryReport.
	Quota    float64 `json:"quota_cores"`
	Source   string  `json:"source,omitempty"`
	LevelsUp int     `json:"levels_up"`
	// Policy is the policy in force.
	Policy ProcsPolicy `json:"policy"`
	// NumCPU is the number of CPUs the process may run on; RuntimeDefault
	// the GOMAXPROCS the Go runtime picks by itself.
	NumCPU         int `json:"num_cpu"`
	RuntimeDefault int `json:"runtime_default"`
	// Before and GOMAXPROCS are GOMAXPROCS before and after (for Detect:
	// what Init would leave in effect).
	Before     int `json:"gomaxprocs_before"`
	GOMAXPROCS int `json:"gomaxprocs"`
	// Action is what tune did: ActionSet, ActionRuntime or
	// ActionUnchanged. Reason says why in a few words.
	Action Action `json:"action"`
	Reason string `json:"reason"`
}

// procsOrigin says who chose the GOMAXPROCS tune found at its first look.
type procsOrigin uint8

const (
	originRuntime procsOrigin = iota // the runtime's default, which follows the own group's quota (Go 1.25+)
	originNumCPU                     // the runtime's default without a quota's effect (cgroup-aware GOMAXPROCS off)
	originProgram                    // the program, or another library, set it before tune
	originEnv                        // the GOMAXPROCS environment variable
)

// runtimeRule is the Go runtime's (1.25+) default for a CPU quota:
// min(numCPU, max(⌈quota⌉, 2)); no quota gives numCPU.
func runtimeRule(quota float64, numCPU int) int {
	if quota <= 0 || quota >= float64(numCPU) {
		return numCPU // also keeps an absurd quota from overflowing int
	}
	n := max(int(math.Ceil(quota)), 2)
	return min(n, numCPU)
}

// envProcs parses the GOMAXPROCS environment variable as the runtime does
// (decimal digits with an optional sign, within int32, above 0) and reports
// whether the runtime took it.
func envProcs(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	neg, digits := false, s
	if digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	if neg || n == 0 {
		return 0, false
	}
	return int(n), true
}

// firstLook records, the first time tune looks, what GOMAXPROCS was and who
// chose it.
func firstLook(prev applied, cpu cgroup.Limit[float64], rt runtimeNow) applied {
	if prev.looked {
		return prev
	}
	prev.looked, prev.startProcs = true, rt.gomaxprocs
	switch _, env := envProcs(rt.envProcs); {
	case env:
		prev.procsFrom = originEnv
	case rt.gomaxprocs == runtimeRule(cpu.Own, rt.numCPU):
		prev.procsFrom = originRuntime
	case rt.gomaxprocs == rt.numCPU:
		prev.procsFrom = originNumCPU
	default:
		prev.procsFrom = originProgram
	}
	return prev
}

// runtimeDefault is the GOMAXPROCS the runtime would choose by itself now
// (what runtime.SetDefaultGOMAXPROCS gives).
func runtimeDefault(prev applied, cpu cgroup.Limit[float64], numCPU int) int {
	if prev.procsFrom == originNumCPU {
		return numCPU
	}
	return runtimeRule(cpu.Own, numCPU)
}

// decideProcs is the GOMAXPROCS policy, a pure function. prev must have
// had its first look (firstLook). It returns the decision and what tune
// will have applied after it.
func decideProcs(cpu cgroup.Limit[float64], c config, rt runtimeNow, prev applied) (CPUReport, applied) {
	def := runtimeDefault(prev, cpu, rt.numCPU)
	r := CPUReport{
		Quota: cpu.Value, Source: cpu.Src, LevelsUp: cpu.Level, Policy: c.procs,
		NumCPU: rt.numCPU, RuntimeDefault: def,
		Before: rt.gomaxprocs, GOMAXPROCS: rt.gomaxprocs, Action: ActionUnchanged,
	}
	// handBack gives the choice back to the runtime where tune (or the
	// program before it) had taken it.
	handBack := func(why string) {
		r.Action, r.GOMAXPROCS = ActionRuntime, def
		r.Reason = why
		if prev.procsSet {
			r.Reason += "; tune hands GOMAXPROCS back to the runtime"
		}
		prev.procsSet = false
		if prev.procsFrom == originProgram {
			prev.procsFrom = originRuntime // the runtime has it now
		}
	}
	if _, ok := envProcs(rt.envProcs); ok {
		r.Reason = fmt.Sprintf("GOMAXPROCS=%s is set in the environment: the operator decides", rt.envProcs)
		return r, prev
	}
	programSet := prev.procsFrom == originProgram && !prev.procsSet
	switch {
	case c.procs == ProcsOff:
		if prev.procsSet {
			handBack("GOMAXPROCS policy is off")
		} else {
			r.Reason = "GOMAXPROCS policy is off"
		}
		return r, prev
	case cpu.Err != nil:
		r.Reason = "the CPU quota could not be read: left as it is"
		return r, prev
	case cpu.Value == 0 && programSet:
		r.Reason = fmt.Sprintf("no CPU quota found; GOMAXPROCS %d was set by the program or another library before tune: left as it is", prev.startProcs)
		return r, prev
	case cpu.Value == 0:
		handBack("no CPU quota found: the Go runtime's default stands")
		return r, prev
	}
	quota := fmt.Sprintf("%s quota %.4g from %s", levelName(cpu.Level), cpu.Value, cpu.Src)
	var want int
	switch c.procs {
	case ProcsFloor:
		want = rt.numCPU
		if cpu.Value < float64(rt.numCPU) {
			want = max(int(math.Floor(cpu.Value)), 1)
		}
		r.Reason = "floor of " + quota
	default:
		want = runtimeRule(cpu.Value, rt.numCPU)
		switch {
		case want == def && programSet:
			handBack(fmt.Sprintf("GOMAXPROCS %d was set by the program or another library before tune; the Go runtime's default, %d, is tune's rule for %s: handed back to the runtime", prev.startProcs, def, quota))
			return r, prev
		case want == def:
			handBack(fmt.Sprintf("the Go runtime's default, %d, already equals the rule for %s", def, quota))
			return r, prev
		case programSet:
			r.Reason = fmt.Sprintf("GOMAXPROCS %d was set by the program or another library before tune; tune's rule for %s gives %d", prev.startProcs, quota, want)
		case cpu.Level == 0:
			r.Reason = fmt.Sprintf("the Go runtime's default, %d, does not follow the %s (cgroup-aware GOMAXPROCS is off)", def, quota)
		default:
			r.Reason = fmt.Sprintf("%s is tighter than the one the runtime sees", quota)
		}
	}
	r.Action, r.GOMAXPROCS = ActionSet, want
	prev.procsSet = true
	return r, prev
}

// offProcs rewrites a decision for GOTUNE=off: nothing changes, and the
// reason says what tune would have done.
func offProcs(r CPUReport) CPUReport {
	var would string
	switch r.Action {
	case ActionSet:
		would = fmt.Sprintf("it would set GOMAXPROCS to %d (%s)", r.GOMAXPROCS, r.Reason)
	case ActionRuntime:
		would = fmt.Sprintf("it would leave GOMAXPROCS to the Go runtime, %d (%s)", r.GOMAXPROCS, r.Reason)
	default:
		would = "it would leave GOMAXPROCS as it is (" + r.Reason + ")"
	}
	r.Action, r.GOMAXPROCS = ActionUnchanged, r.Before
	r.Reason = "GOTUNE=off: tune changes nothing; " + would
	return r
}
