package tune

import (
	"fmt"

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

	// decided: the fields below hold tune's last decision. *Left is what
	// was in effect after it, *Want what tune's own rule gave then; *Held
	// says the program (or another library) holds the setting: it set a
	// value after tune, and tune leaves it until its rule gives another.
	decided              bool
	memLeft, memWant     int64
	memHeld              bool
	procsLeft, procsWant int
	procsHeld            bool
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
// the program's own value kept, GOTUNE=off. Init, the refresh loop and
// Detect all call it.
//
// The rule for values the program sets itself: a GOMEMLIMIT or GOMAXPROCS
// the program (or another library) set after tune's last decision is the
// program's. Each setting is decided on its own: tune changes it again
// only when its own rule for that setting gives another value than it
// gave before (the limit it comes from changed in a way that matters for
// it, or the options did), and never to step away (the limit went away,
// the policy was switched off): it then leaves the program's value. The
// program hands a setting back by setting it to tune's value, or for
// GOMAXPROCS to the runtime's default (runtime.SetDefaultGOMAXPROCS).
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
	d.next.decided = true
	keepProgramMemory(&d, rt, prev)
	keepProgramProcs(&d, lim.CPU, c, rt, prev)
	if c.off {
		d.Memory, d.CPU = offMemory(d.Memory), offProcs(d.CPU)
		d.next, d.setProcs, d.handBack = prev, false, false
	}
	return d
}

// keepProgramMemory applies the rule for a GOMEMLIMIT the program set
// after tune (see decide) to d, which holds tune's own choice.
func keepProgramMemory(d *decision, rt runtimeNow, prev applied) {
	own, now := d.Memory, rt.gomemlimit
	held := prev.decided && now != prev.memWant && (prev.memHeld || now != prev.memLeft)
	n := &d.next
	n.memWant, n.memLeft, n.memHeld = own.GOMEMLIMIT, own.GOMEMLIMIT, false
	switch {
	case !held:
	case own.Action == ActionUnchanged:
		n.memWant, n.memHeld = prev.memWant, true
	case own.GOMEMLIMIT == prev.memWant || own.Action == ActionRestored:
		d.Memory.Action, d.Memory.GOMEMLIMIT = ActionUnchanged, now
		d.Memory.Reason = fmt.Sprintf("GOMEMLIMIT %s was set by the program or another library after tune: left as it is until the memory limit changes (tune's rule: %s)", bytesOrNone(now), own.Reason)
		n.memLeft, n.memHeld = now, true
	default:
		d.Memory.Reason += fmt.Sprintf(" (the limit changed: replaces the %s the program had set)", bytesOrNone(now))
	}
}

// keepProgramProcs applies the rule for a GOMAXPROCS the program set after
// tune (see decide) to d, which holds tune's own choice. A value equal to
// the runtime's default is not the program's: it is the runtime following
// its own group's quota, or the program handing the choice back.
func keepProgramProcs(d *decision, cpu cgroup.Limit[float64], c config, rt runtimeNow, prev applied) {
	own, now := d.CPU, rt.gomaxprocs
	held := prev.decided && now != prev.procsWant && now != own.RuntimeDefault && (prev.procsHeld || now != prev.procsLeft)
	n := &d.next
	n.procsWant, n.procsLeft, n.procsHeld = own.GOMAXPROCS, own.GOMAXPROCS, false
	stepAway := own.Action == ActionRuntime && (cpu.Value == 0 || c.procs == ProcsOff)
	switch {
	case !held:
	case !d.setProcs && !d.handBack:
		n.procsWant, n.procsLeft, n.procsHeld = prev.procsWant, now, true
	case own.GOMAXPROCS == prev.procsWant || stepAway:
		d.CPU.Action, d.CPU.GOMAXPROCS = ActionUnchanged, now
		d.CPU.Reason = fmt.Sprintf("GOMAXPROCS %d was set by the program or another library after tune: left as it is until the CPU quota changes (tune's rule: %s)", now, own.Reason)
		d.setProcs, d.handBack = false, false
		n.procsLeft, n.procsHeld, n.procsSet = now, true, false
	default:
		d.CPU.Reason += fmt.Sprintf(" (the quota changed: replaces the %d the program had set)", now)
	}
}
