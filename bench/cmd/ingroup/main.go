// Command ingroup runs a program inside a fresh cgroup v1 memory and cpu
// group, made beneath its own groups and removed when the program exits.
// bench/run uses it to run the library's own BenchmarkRefreshTick under
// the same limits as the benchmarks it is paired with.
//
//	ingroup [-memory BYTES] [-quota US] [-period US] program [args...]
//
// It exits with the program's status, or 2 when the group cannot be made.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/runtimehooks/tune/bench/internal/harness"
)

func main() {
	var lim harness.Limits
	flag.Int64Var(&lim.MemoryBytes, "memory", 0, "memory.limit_in_bytes; 0 for none")
	flag.Int64Var(&lim.QuotaUS, "quota", 0, "cpu.cfs_quota_us; 0 for none")
	flag.Int64Var(&lim.PeriodUS, "period", 100_000, "cpu.cfs_period_us")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ingroup [-memory BYTES] [-quota US] [-period US] program [args...]")
		os.Exit(2)
	}
	code, err := harness.Inside(fmt.Sprintf("gotune-ingroup-%d", os.Getpid()), lim, harness.Env(), flag.Args()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingroup:", err)
		os.Exit(2)
	}
	os.Exit(code)
}
