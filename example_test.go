package tune_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/runtimehooks/tune"
)

// Init with the zero Options is the production default: 90% of the memory
// limit for GOMEMLIMIT, the runtime's rule for GOMAXPROCS over the tightest
// quota, a refresh every second.
func ExampleInit() {
	report, err := tune.Init(tune.Options{})
	if err != nil {
		// Whatever could be applied was applied; err names what could not.
		slog.Warn("tune", "err", err)
	}
	defer tune.Stop()
	_ = report
}

// Detect with Root analyzes a snapshot of another machine's /proc and
// /sys/fs/cgroup and changes nothing in this process.
func ExampleDetect() {
	report, err := tune.Detect(tune.Options{Root: "testdata/example-v2", Logger: slog.New(slog.DiscardHandler)})
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
