package tune

import (
	"github.com/runtimehooks/tune/internal/cgroup"
)

// applied is what tune has applied to the runtime before: the part of the
// past that the decisions depend on. It passes from each owner to the
// next, so a later Init restores or hands back what an earlier one set.
type applied struct {
	memSet  bool  // tune has set GOMEMLIMIT and not put it back since
	origMem int64 // GOMEMLIMIT before tune first set it

	procsSet   bool        // tune has set GOMAXPROCS and not handed it back since
	looked     bool        // startProcs and procsFrom hold tune's first look
	startProcs int         // GOMAXPROCS at tune's first look
	procsFrom  procsOrigin // who had chosen startProcs
}

// runtimeNow is what the runtime and the environment say now.
type runtimeNow struct {
	gomemlimit int64  // debug.SetMemoryLimit(-1)
	gomaxprocs int    // runtime.GOMAXPROCS(0)
	numCPU     int    // runtime.NumCPU()
	envMem     string // the GOMEMLIMIT environment variable
	envProcs   string // the GOMAXPROCS environment variable
}

// decision is what tune does with the runtime's settings, and why.
type decision struct {
	Memory MemoryReport
	CPU    CPUReport
	// next is what tune will have applied once the decision is carried out.
	next applied
	// setProcs: call runtime.GOMAXPROCS (ActionSet, unless tune already
	// holds it at that value). handBack: call runtime.SetDefaultGOMAXPROCS
	// (ActionRuntime where tune held it, or it is not the default now).
	setProcs, handBack bool
	// warnings are problems with the configuration the decision met.
	warnings []error
}

// decide is every rule in one pure function: from the limits, the
// configuration, what the runtime has now and what tune applied before, it
// decides GOMEMLIMIT and GOMAXPROCS: set, unchanged, restored when the
// limit went away, handed back to the runtime, the environment winning,
// GOTUNE=off. Init, the refresh loop and Detect all call it.
func decide(lim cgroup.Limits, c config, rt runtimeNow, prev applied) decision {
	var d decision
	prev = firstLook(prev, lim.CPU, rt)
	next := prev
	var warn error
	d.Memory, next, warn = decideMemory(lim.Memory, c, rt, next)
	if warn != nil {
		d.warnings = append(d.warnings, warn)
	}
	d.CPU, next = decideProcs(lim.CPU, c, rt, next)
	if _, ok := envProcs(rt.envProcs); rt.envProcs != "" && !ok {
		d.warnings = append(d.warnings, errBadEnvProcs(rt.envProcs))
	}
	d.setProcs = d.CPU.Action == ActionSet && (!prev.procsSet || rt.gomaxprocs != d.CPU.GOMAXPROCS)
	d.handBack = d.CPU.Action == ActionRuntime && (prev.procsSet || rt.gomaxprocs != d.CPU.GOMAXPROCS)
	d.next = next
	if c.off {
		d.Memory, d.CPU = offMemory(d.Memory), offProcs(d.CPU)
		d.next, d.setProcs, d.handBack = prev, false, false
	}
	return d
}
