package tune

import (
	"fmt"
	"math"
	"strconv"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// ProcsPolicy says how tune sets GOMAXPROCS.
type ProcsPolicy string

const (
	// ProcsAuto uses the Go runtime's own rule, min(CPUs allowed, max(⌈quota⌉, 2)),
	// over the tightest quota including parent cgroups. Where the runtime
	// already arrives at the same number it is left in charge (so it keeps
	// following quota changes); where an ancestor's quota is tighter than
	// the one the runtime sees, tune sets GOMAXPROCS.
	ProcsAuto ProcsPolicy = "auto"
	// ProcsFloor sets GOMAXPROCS to ⌊quota⌋, at least 1 and at most the CPUs
	// allowed, as go.uber.org/automaxprocs does.
	ProcsFloor ProcsPolicy = "floor"
	// ProcsOff never touches GOMAXPROCS.
	ProcsOff ProcsPolicy = "off"
)

// CPUReport says what tune found and decided about GOMAXPROCS.
type CPUReport struct {
	// Quota is the effective CPU quota in CPUs (0 when there is none),
	// Source the file it came from and Level as in MemoryReport.
	Quota  float64 `json:"quota_cores"`
	Source string  `json:"source,omitempty"`
	Level  int     `json:"level"`
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
	// Action is "set" when tune sets GOMAXPROCS, "runtime" when it leaves
	// (or hands back) the choice to the Go runtime, "unchanged" otherwise.
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// procsState is what decideProcs needs to know about the runtime.
type procsState struct {
	current        int    // runtime.GOMAXPROCS(0)
	numCPU         int    // runtime.NumCPU()
	runtimeDefault int    // what the runtime would choose by itself
	env            string // the GOMAXPROCS environment variable
}

// runtimeRule is the Go runtime's (1.25+) default for a CPU quota:
// min(numCPU, max(⌈quota⌉, 2)); no quota gives numCPU.
func runtimeRule(quota float64, numCPU int) int {
	if quota <= 0 || quota >= float64(numCPU) {
		return numCPU // also keeps an absurd quota from overflowing int
	}
	n := max(int(math.Ceil(quota)), 2)
	return min(n, numCPU)
}

// decideProcs is the GOMAXPROCS policy. It is a pure function.
func decideProcs(lim cgroup.Limits, c config, s procsState) CPUReport {
	r := CPUReport{
		Quota: lim.CPU.Value, Source: lim.CPU.Src, Level: lim.CPU.Level, Policy: c.procs,
		NumCPU: s.numCPU, RuntimeDefault: s.runtimeDefault,
		Before: s.current, GOMAXPROCS: s.current, Action: "unchanged",
	}
	if n, err := strconv.Atoi(s.env); err == nil && n > 0 {
		r.Reason = fmt.Sprintf("GOMAXPROCS=%s is set in the environment: the operator decides", s.env)
		return r
	}
	switch {
	case c.procs == ProcsOff:
		r.Reason = "GOMAXPROCS policy is off"
		return r
	case lim.CPU.Err != nil:
		r.Reason = "the CPU quota could not be read: left as it is"
		return r
	}
	var want int
	switch c.procs {
	case ProcsFloor:
		if lim.CPU.Value == 0 {
			r.Reason = "no CPU quota found: left as it is"
			return r
		}
		want = s.numCPU
		if lim.CPU.Value < float64(s.numCPU) {
			want = max(int(math.Floor(lim.CPU.Value)), 1)
		}
		r.Reason = fmt.Sprintf("floor of %s quota %.4g from %s", levelName(lim.CPU.Level), lim.CPU.Value, lim.CPU.Src)
	default:
		if lim.CPU.Value == 0 {
			r.Action, r.GOMAXPROCS = "runtime", s.runtimeDefault
			r.Reason = "no CPU quota found: the Go runtime's default stands"
			return r
		}
		want = runtimeRule(lim.CPU.Value, s.numCPU)
		if want == s.runtimeDefault {
			r.Action, r.GOMAXPROCS = "runtime", want
			r.Reason = fmt.Sprintf("the Go runtime's default, %d, already equals the rule for %s quota %.4g from %s", want, levelName(lim.CPU.Level), lim.CPU.Value, lim.CPU.Src)
			return r
		}
		r.Reason = fmt.Sprintf("%s quota %.4g from %s is tighter than the one the runtime sees", levelName(lim.CPU.Level), lim.CPU.Value, lim.CPU.Src)
	}
	r.Action, r.GOMAXPROCS = "set", want
	return r
}
