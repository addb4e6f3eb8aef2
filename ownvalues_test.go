package tune_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// ownAnswer is one line of internal/testprog/ownvalues.
type ownAnswer struct {
	GOMAXPROCS int     `json:"gomaxprocs"`
	GOMEMLIMIT int64   `json:"gomemlimit"`
	Limit      int64   `json:"limit"`
	Quota      float64 `json:"quota"`
	MemReason  string  `json:"memory_reason"`
	CPUReason  string  `json:"cpu_reason"`
	Error      string  `json:"error"`
}

// TestKernelProgramsOwnValues: a real process in a real group sets its
// own GOMAXPROCS and GOMEMLIMIT after Init. A change of the memory limit
// leaves its GOMAXPROCS alone (and sets GOMEMLIMIT for the new limit); a
// change of the CPU quota that does not change tune's GOMAXPROCS leaves
// both alone; a second Init with the same options too.
func TestKernelProgramsOwnValues(t *testing.T) {
	g := cgrouptest.New(t)
	const mib = 1 << 20
	g.SetMemory(t, 300*mib)
	cmd := g.Command(build(t, "./internal/testprog/ownvalues"))
	cmd.Env = cleanEnv()
	stdin, stdout := cgrouptest.StartPiped(t, cmd)
	answers := cgrouptest.JSONLines[ownAnswer](t, "ownvalues", stdout, 1)
	ask := func(command string) ownAnswer {
		t.Helper()
		if _, err := fmt.Fprintln(stdin, command); err != nil {
			t.Fatalf("ownvalues %q: %v", command, err)
		}
		select {
		case a, ok := <-answers:
			if !ok {
				t.Fatalf("ownvalues exited before answering %q", command)
			}
			if a.Error != "" {
				t.Fatalf("ownvalues %q: %s", command, a.Error)
			}
			return a
		case <-time.After(30 * time.Second):
			t.Fatalf("ownvalues did not answer %q within 30s", command)
		}
		return ownAnswer{}
	}
	a := ask("show")
	if want := int64(0.9 * 300 * mib); a.GOMEMLIMIT != want {
		t.Fatalf("at start GOMEMLIMIT is %d, want tune's %d (%s)", a.GOMEMLIMIT, want, a.MemReason)
	}
	// Above the CPUs and every default: a value only the program chose.
	procs := runtime.NumCPU() + 3
	ask(fmt.Sprintf("procs %d", procs))
	ask(fmt.Sprintf("mem %d", 100*mib))

	g.SetMemory(t, 400*mib)
	a = ask(fmt.Sprintf("wait %d 0", 400*mib))
	if a.GOMAXPROCS != procs {
		t.Errorf("after the memory limit changed GOMAXPROCS is %d, want the program's %d (%s)", a.GOMAXPROCS, procs, a.CPUReason)
	}
	if want := int64(0.9 * 400 * mib); a.GOMEMLIMIT != want {
		t.Errorf("after the memory limit changed GOMEMLIMIT is %d, want %d for the new limit (%s)", a.GOMEMLIMIT, want, a.MemReason)
	}

	ask(fmt.Sprintf("mem %d", 100*mib))
	// A quota of all the CPUs: tune's GOMAXPROCS stays what it was.
	g.SetCPU(t, int64(runtime.NumCPU())*100000, 100000)
	a = ask(fmt.Sprintf("wait %d %d", 400*mib, runtime.NumCPU()))
	if a.GOMEMLIMIT != 100*mib || !strings.Contains(a.MemReason, "set by the program") {
		t.Errorf("after the CPU quota changed GOMEMLIMIT is %d (%s), want the program's %d", a.GOMEMLIMIT, a.MemReason, 100*mib)
	}
	if a.GOMAXPROCS != procs {
		t.Errorf("after the CPU quota changed GOMAXPROCS is %d, want the program's %d (%s)", a.GOMAXPROCS, procs, a.CPUReason)
	}

	a = ask("init")
	if a.GOMEMLIMIT != 100*mib || a.GOMAXPROCS != procs {
		t.Errorf("a second Init with the same options: GOMEMLIMIT %d, GOMAXPROCS %d; want the program's %d and %d (%s / %s)",
			a.GOMEMLIMIT, a.GOMAXPROCS, 100*mib, procs, a.MemReason, a.CPUReason)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("ownvalues: %v", err)
	}
}
