package tune_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune"
)

// snapshot is a cgroup v2 pod in testdata: a 512 MiB memory.max on the
// pod's group, 1.5 CPUs on the container's.
const snapshot = "testdata/example-v2"

// degraded is what a readiness or health check of the program could
// report: tune could not apply everything.
var degraded atomic.Bool

// Init with the zero Options is the production default: 90% of the memory
// limit for GOMEMLIMIT, the runtime's rule for GOMAXPROCS over the tightest
// quota, a refresh every second. Init logs its report and every problem
// (at Warn) itself, so the error needs no second log line: ignore it, or
// use it for a health or readiness signal.
func ExampleInit() {
	if _, err := tune.Init(tune.Options{}); err != nil {
		degraded.Store(true) // whatever could be applied was applied
	}
	defer tune.Stop()
	// ... the program
}

// Detect with Root analyzes a snapshot of another machine's /proc and
// /sys/fs/cgroup and changes nothing in this process.
func ExampleDetect() {
	report, err := tune.Detect(tune.Options{Root: snapshot})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Println("cgroup version:", report.Cgroup.Version)
	fmt.Println("memory limit:", report.Memory.Limit)
	fmt.Println("GOMEMLIMIT would be:", report.Memory.GOMEMLIMIT)
	fmt.Println("CPU quota:", report.CPU.Quota)
	// Output:
	// cgroup version: 2
	// memory limit: 536870912
	// GOMEMLIMIT would be: 483183820
	// CPU quota: 1.5
}

// Current is the Report as the refresh loop keeps it: here served as JSON,
// the same form `tune -json` prints.
func ExampleCurrent() {
	http.HandleFunc("GET /debug/tune/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(tune.Current())
	})
}

// Stop ends the refresh loop and waits for it: after Stop returns, no
// OnPressure call of it runs. The limits Init set stay in effect. A program
// that ends through tune.Shutdown need not call Stop: Shutdown does.
func ExampleStop() {
	events := make(chan tune.PressureEvent, 1)
	tune.Init(tune.Options{OnPressure: func(ev tune.PressureEvent) {
		select {
		case events <- ev:
		default: // the reader is behind: a later event will follow
		}
	}})
	go func() {
		for ev := range events {
			slog.Info("pressure", "level", ev.Level)
		}
	}()
	// ... the program
	tune.Stop()
	close(events) // safe: Stop waited for the last OnPressure call
}

// Options for a service that logs JSON and leaves GOMAXPROCS to the Go
// runtime. Every field is optional; the environment (GOTUNE_*) outranks
// each of them.
func ExampleOptions() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	tune.Init(tune.Options{
		MemoryRatio:     0.8,           // GOMEMLIMIT = 80% of the memory limit
		MaxProcs:        tune.ProcsOff, // GOMAXPROCS: the Go runtime's own rule
		Logger:          logger,        // nil: slog.Default(), looked up per line
		RefreshInterval: 5 * time.Second,
		CrashFile:       "/var/crash/app.crash", // a volume that outlives the container
		OnPressure: func(ev tune.PressureEvent) {
			logger.Warn("memory pressure", "level", ev.Level, "signal", ev.Signal)
		},
	})
	defer tune.Stop()
}

// MemoryOff, ProcsOff, RefreshOff and CrashOff switch each part off from
// code (GOTUNE_MEMORY_RATIO=off, GOTUNE_MAXPROCS=off, GOTUNE_REFRESH=off
// and GOTUNE_CRASH_FILE=off do the same from the environment). The Report
// says so.
func ExampleOptions_off() {
	report, _ := tune.Detect(tune.Options{
		Root:            snapshot,
		MemoryRatio:     tune.MemoryOff,
		MaxProcs:        tune.ProcsOff,
		RefreshInterval: tune.RefreshOff, // Init: no refresh loop, no pressure
		CrashFile:       tune.CrashOff,   // Init: no crash file
	})
	fmt.Println(report.Memory.Action, "-", report.Memory.Reason)
	fmt.Println(report.CPU.Action, "-", report.CPU.Reason)
	// Output:
	// unchanged - memory policy is off (Options.MemoryRatio is MemoryOff): left as it is
	// unchanged - GOMAXPROCS policy is off
}

// A Report names every problem: the file, variable or value at fault.
// What could still be read and applied was.
func ExampleReport() {
	report, err := tune.Detect(tune.Options{Root: "testdata/v2-garbage-memory"})
	fmt.Println("error:", err != nil)
	for _, e := range report.Errors {
		fmt.Println(e)
	}
	fmt.Println("memory:", report.Memory.Action, "-", report.Memory.Reason)
	fmt.Println("CPU quota still read:", report.CPU.Quota)
	fmt.Println("applied:", report.Applied) // false: Detect changes nothing
	// Output:
	// error: true
	// testdata/v2-garbage-memory/sys/fs/cgroup/memory.max: "garbage" is not a number
	// memory: unchanged - the memory limit could not be read: left as it is
	// CPU quota still read: 2.5
	// applied: false
}

// String is the line Init logs at start. Its GOMAXPROCS part depends on
// the CPUs of the machine it runs on, so only the memory part is printed
// here.
func ExampleReport_String() {
	report, _ := tune.Detect(tune.Options{Root: snapshot})
	memory, _, _ := strings.Cut(report.String(), "; CPU quota")
	fmt.Println(memory)
	// Output:
	// tune: cgroup v2; memory limit 512MiB, GOMEMLIMIT none → 460.8MiB (set: 0.9 × parent group's limit from testdata/example-v2/sys/fs/cgroup/kubepods.slice/pod1/memory.max)
}

// CgroupReport says where the process's groups are and which files were
// read.
func ExampleCgroupReport() {
	report, _ := tune.Detect(tune.Options{Root: snapshot})
	c := report.Cgroup
	fmt.Println(c.Mode, c.Version)
	fmt.Println(c.MemoryGroup)
	fmt.Println(len(c.Files), "files read, the first:", c.Files[0])
	// Output:
	// v2 2
	// testdata/example-v2/sys/fs/cgroup/kubepods.slice/pod1/ctr
	// 8 files read, the first: testdata/example-v2/proc/self/cgroup
}

// The memory limit of this snapshot is on the pod's group, one level above
// the container's: LevelsUp is 1.
func ExampleMemoryReport() {
	report, _ := tune.Detect(tune.Options{Root: snapshot})
	m := report.Memory
	fmt.Println(m.Limit, "from", m.Source, "levels up:", m.LevelsUp)
	fmt.Println(m.Action, m.GOMEMLIMIT, "=", m.Ratio, "× the limit")
	// Output:
	// 536870912 from testdata/example-v2/sys/fs/cgroup/kubepods.slice/pod1/memory.max levels up: 1
	// set 483183820 = 0.9 × the limit
}

// In JSON, "none" is null: no memory limit, no GOMEMLIMIT.
func ExampleMemoryReport_MarshalJSON() {
	const noLimit = 1<<63 - 1 // GOMEMLIMIT's "none", math.MaxInt64
	b, _ := json.Marshal(tune.MemoryReport{
		Ratio: 0.9, Before: noLimit, GOMEMLIMIT: noLimit,
		Action: tune.ActionUnchanged, Reason: "no memory limit found: left as it is",
	})
	fmt.Println(string(b))
	// Output:
	// {"levels_up":0,"ratio":0.9,"action":"unchanged","reason":"no memory limit found: left as it is","limit_bytes":null,"gomemlimit_before_bytes":null,"gomemlimit_bytes":null}
}

// The CPU quota of this snapshot is on the container's own group.
// (GOMAXPROCS itself depends on the CPUs of the machine Detect runs on.)
func ExampleCPUReport() {
	report, _ := tune.Detect(tune.Options{Root: snapshot})
	c := report.CPU
	fmt.Println(c.Quota, "CPUs from", c.Source, "levels up:", c.LevelsUp)
	fmt.Println("policy:", c.Policy)
	// Output:
	// 1.5 CPUs from testdata/example-v2/sys/fs/cgroup/kubepods.slice/pod1/ctr/cpu.max levels up: 0
	// policy: auto
}

// In JSON, no CPU quota is null.
func ExampleCPUReport_MarshalJSON() {
	b, _ := json.Marshal(tune.CPUReport{
		Policy: tune.ProcsAuto, NumCPU: 8, RuntimeDefault: 8, Before: 8, GOMAXPROCS: 8,
		Action: tune.ActionRuntime, Reason: "no CPU quota found: the Go runtime's default stands",
	})
	fmt.Println(string(b))
	// Output:
	// {"levels_up":0,"policy":"auto","num_cpu":8,"runtime_default":8,"gomaxprocs_before":8,"gomaxprocs":8,"action":"runtime","reason":"no CPU quota found: the Go runtime's default stands","quota_cores":null}
}

// Action says what tune did with each setting; in JSON it is the plain
// word.
func ExampleAction() {
	report, _ := tune.Detect(tune.Options{Root: snapshot})
	switch report.Memory.Action {
	case tune.ActionSet:
		fmt.Println("GOMEMLIMIT set to", report.Memory.GOMEMLIMIT)
	case tune.ActionRestored:
		fmt.Println("GOMEMLIMIT put back to", report.Memory.GOMEMLIMIT)
	case tune.ActionUnchanged:
		fmt.Println("GOMEMLIMIT left as it is:", report.Memory.Reason)
	}
	b, _ := json.Marshal([]tune.Action{tune.ActionSet, tune.ActionUnchanged, tune.ActionRestored, tune.ActionRuntime})
	fmt.Println(string(b))
	// Output:
	// GOMEMLIMIT set to 483183820
	// ["set","unchanged","restored","runtime"]
}

// ProcsFloor is automaxprocs' rule: ⌊quota⌋, at least 1. Over this
// snapshot's 1.5 CPUs it gives 1 (ProcsAuto, the Go runtime's rule, gives
// 2 on a machine with 2 CPUs or more).
func ExampleProcsPolicy() {
	report, _ := tune.Detect(tune.Options{Root: snapshot, MaxProcs: tune.ProcsFloor})
	fmt.Println(report.CPU.Policy, report.CPU.Action, report.CPU.GOMAXPROCS)
	fmt.Println(tune.ProcsAuto, tune.ProcsFloor, tune.ProcsOff) // the values of GOTUNE_MAXPROCS
	// Output:
	// floor set 1
	// auto floor off
}
