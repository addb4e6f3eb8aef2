package tune

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

// The applier is the only code in tune that changes the runtime's settings.

// readRuntime reads what the runtime and the environment say now. For a
// snapshot (live false) the environment is not this process's business.
func readRuntime(live bool) runtimeNow {
	rt := runtimeNow{
		gomemlimit: debug.SetMemoryLimit(-1),
		gomaxprocs: runtime.GOMAXPROCS(0),
		numCPU:     runtime.NumCPU(),
	}
	if live {
		rt.envMem, rt.envProcs = os.Getenv("GOMEMLIMIT"), os.Getenv("GOMAXPROCS")
	}
	return rt
}

// apply carries out d and records in it what is in effect afterwards.
func apply(d *decision) {
	switch d.Memory.Action {
	case ActionSet, ActionRestored:
		debug.SetMemoryLimit(d.Memory.GOMEMLIMIT)
	}
	switch {
	case d.setProcs:
		// Also when the value is the same as now: from then on the runtime
		// leaves GOMAXPROCS to tune rather than follow its own group's quota.
		runtime.GOMAXPROCS(d.CPU.GOMAXPROCS)
	case d.handBack:
		runtime.SetDefaultGOMAXPROCS()
	}
	d.Memory.GOMEMLIMIT = debug.SetMemoryLimit(-1)
	d.CPU.GOMAXPROCS = runtime.GOMAXPROCS(0)
}

// errBadEnvProcs is the warning for a GOMAXPROCS the runtime ignored.
func errBadEnvProcs(v string) error {
	return fmt.Errorf("GOMAXPROCS=%q in the environment is not a value the Go runtime accepts (a whole number from 1 to 2147483647): the runtime ignored it, and so does tune", v)
}
