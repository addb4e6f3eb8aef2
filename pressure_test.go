package tune_test

// Real-process tests of the memory pressure levels: a child program
// (internal/testprog/spiral) runs tune.Init inside a cgroup v1 group with a
// memory limit and prints every OnPressure event as a JSON line.

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// spiralLine is what the spiral program prints.
type spiralLine struct {
	Event      string  `json:"event"`
	Level      string  `json:"level"`
	Previous   string  `json:"previous"`
	GCCPU      float64 `json:"gc_cpu"`
	InUse      uint64  `json:"in_use_bytes"`
	GOMEMLIMIT int64   `json:"gomemlimit_bytes"`
	Limiter    bool    `json:"limiter"`
	Signal     string  `json:"signal"`
	Live       int64   `json:"live_bytes"`
	Elapsed    float64 `json:"elapsed_s"`
}

// runSpiral starts the spiral program inside a fresh group with a memory
// limit and a 100ms refresh, and returns its lines as they come.
func runSpiral(t *testing.T, limit int64, env []string, args ...string) (<-chan spiralLine, *exec.Cmd, *cgrouptest.Buffer) {
	t.Helper()
	g := cgrouptest.New(t)
	g.SetMemory(t, limit)
	cmd := g.Command(build(t, "./internal/testprog/spiral"), args...)
	cmd.Env = append(append(cleanEnv(), "GOTUNE_REFRESH=100ms"), env...)
	var stderr cgrouptest.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := cgrouptest.JSONLines[spiralLine](t, "spiral", out, 1000)
	return lines, cmd, &stderr
}

// TestPressureSpiral: a live heap growing into a cgroup memory limit of
// 300 MiB is reported PressureCritical before the kernel kills it.
func TestPressureSpiral(t *testing.T) {
	lines, cmd, stderr := runSpiral(t, 300<<20, nil, "-mode", "grow")
	deadline := time.After(2 * time.Minute)
	var seen []spiralLine
	critical := false
	for !critical {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the program ended (%v) without reporting critical pressure; events: %+v\nstderr:\n%s", cmd.ProcessState, seen, stderr)
			}
			seen = append(seen, l)
			if l.Event == "pressure" && l.Level == "critical" {
				critical = true
			}
		case <-deadline:
			t.Fatalf("no critical pressure within 2 minutes; events: %+v\nstderr:\n%s", seen, stderr)
		}
	}
	last := seen[len(seen)-1]
	t.Logf("critical after %.1fs: live heap %d MiB, in use %d MiB of GOMEMLIMIT %d MiB, GC CPU %.0f%%, limiter %v, signal %s",
		last.Elapsed, last.Live>>20, last.InUse>>20, last.GOMEMLIMIT>>20, 100*last.GCCPU, last.Limiter, last.Signal)
	if want := int64(0.9 * float64(300<<20)); last.GOMEMLIMIT != want {
		t.Errorf("GOMEMLIMIT in the event = %d, want %d (tune's 90%% of the group's limit)", last.GOMEMLIMIT, want)
	}
	inUse := float64(last.InUse) / float64(last.GOMEMLIMIT)
	switch tune.PressureSignal(last.Signal) {
	case tune.SignalRuntime:
		if tune.PressureLevelOf(inUse, last.GCCPU, last.Limiter) != tune.PressureCritical {
			t.Errorf("critical from the runtime's rules without their numbers: %+v", last)
		}
	case tune.SignalMemoryEventsMax, tune.SignalMemoryFailcnt:
		// The kernel reclaims at the hard limit while Go's heap is at
		// its soft one (combinePressure: 90% of GOMEMLIMIT).
		if inUse < 0.9 {
			t.Errorf("critical from %s with Go's memory at %.0f%% of GOMEMLIMIT: %+v", last.Signal, 100*inUse, last)
		}
	case tune.SignalOOMKill:
		// Another process of the group was killed first.
	default:
		t.Errorf("critical with signal %q: %+v", last.Signal, last)
	}
	// tune's log lines are written by a goroutine of their own, queued
	// before OnPressure is called: the line must follow.
	warned := waitOutput(t, stderr, "WARN tune: memory pressure critical", 10*time.Second)
	// The program is then killed by the kernel, or by the test.
	cmd.Process.Kill()
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Errorf("the growing program ended with %v, want killed", err)
	}
	if !warned {
		t.Errorf("no Warn line for critical pressure:\n%s", stderr)
	}
}

// TestPressureSteady: a program with a small steady live heap, churning
// garbage at a busy service's rate for longer than the 10s window, stays at
// PressureNone throughout; also with GOGC=off, where its heap is held
// against GOMEMLIMIT all the time but the GC stays cheap.
func TestPressureSteady(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		pressing bool // in use reaches 90% of GOMEMLIMIT
	}{
		{"default GOGC", nil, false},
		{"GOGC=off, heap against GOMEMLIMIT", []string{"GOGC=off"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, cmd, stderr := runSpiral(t, 300<<20, tt.env, "-mode", "steady", "-for", "12s", "-v", "-every", "1s")
			var seen []spiralLine
			for l := range lines {
				seen = append(seen, l)
				if l.Level != tune.PressureNone.String() {
					t.Errorf("pressure %s with a steady 16 MiB heap: %+v", l.Level, l)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("steady program: %v\nstderr:\n%s", err, stderr)
			}
			if len(seen) < 10 || seen[len(seen)-1].Event != "max" {
				t.Fatalf("steady program did not run to its end: %+v", seen)
			}
			var gc, inUse float64
			for _, l := range seen {
				gc = max(gc, l.GCCPU)
				if l.GOMEMLIMIT > 0 {
					inUse = max(inUse, float64(l.InUse)/float64(l.GOMEMLIMIT))
				}
			}
			t.Logf("highest GC CPU share over the window %.1f%%, highest in use %.0f%% of GOMEMLIMIT", 100*gc, 100*inUse)
			if gc == 0 {
				t.Error("GC CPU share never measured above 0 in a program that collects all the time")
			}
			if tt.pressing && inUse < 0.9 {
				t.Errorf("in use reached only %.0f%% of GOMEMLIMIT: the case is not exercised", 100*inUse)
			}
		})
	}
}

// TestPressureOperatorGOMEMLIMIT: with GOMEMLIMIT set by the operator (and
// a cgroup limit far above it, there only to contain the test), pressure is
// measured against that GOMEMLIMIT: a heap growing into it is Critical.
func TestPressureOperatorGOMEMLIMIT(t *testing.T) {
	lines, cmd, stderr := runSpiral(t, 1<<30, []string{"GOMEMLIMIT=150MiB"}, "-mode", "grow", "-rate", "16", "-max", "200")
	var seen []spiralLine
	critical := false
	for l := range lines {
		seen = append(seen, l)
		if l.GOMEMLIMIT != 150<<20 && l.Event != "max" {
			t.Errorf("GOMEMLIMIT %d in %+v, want the operator's %d", l.GOMEMLIMIT, l, 150<<20)
		}
		critical = critical || l.Level == "critical"
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("growing to 200 MiB under a 1 GiB limit: %v; events: %+v\nstderr:\n%s", err, seen, stderr)
	}
	if !critical {
		t.Errorf("no critical pressure with the live heap grown past GOMEMLIMIT; events: %+v", seen)
	}
}
