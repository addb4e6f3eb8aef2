package quota

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestAncestorQuota runs cmd/cpuburn (eight goroutines of short CPU-bound
// chunks) in a group with no quota of its own beneath a parent whose
// cpu.max allows 2 CPUs, on a machine with 4: with the runtime's default
// GOMAXPROCS (4: it reads only the process's own group) and with tune's
// (2, from the parent), round by round. Per run: the chunks done per
// second, the scheduling latency p99 from runtime/metrics, and the
// parent's cpu.stat throttling counters over the run. Each way's
// GOMAXPROCS is checked in every form; the targets (fewer throttled
// periods and a lower p99 for tune) in the table (bench/run). Sizes: 3 s
// runs, three rounds in CI; 10 s, five rounds for bench/run.
func TestAncestorQuota(t *testing.T) {
	const quotaCPUs = 2
	harness.NeedsV2(t, runtime.NumCPU() > quotaCPUs, fmt.Sprintf("cgroup v2 and more than %d CPUs", quotaCPUs))
	duration := harness.Pick("1s", "3s", "10s")
	res := result.Quota{CPUs: runtime.NumCPU(), QuotaCPUs: quotaCPUs, Duration: duration, Rounds: harness.Pick(1, 3, 5),
		Modes: map[string]*result.QuotaMode{}}
	want := map[string]int{"runtime": runtime.NumCPU(), "tune": quotaCPUs}
	flag := map[string]string{"runtime": "none", "tune": "tune"}

	parent := cgrouptest.New(t)
	const period = 100_000
	parent.SetCPU(t, quotaCPUs*period, period)
	bin := harness.Build(t, "./cmd/cpuburn")
	for round := range res.Rounds {
		for _, mode := range result.QuotaModes {
			g := parent.Child(t, fmt.Sprintf("%s-%d", mode, round))
			p0, n0, u0 := harness.CPUStat(t, parent.CPU)
			o := harness.Exec(t, g, harness.Env(), bin, "-tune", flag[mode], "-duration", duration)
			p1, n1, u1 := harness.CPUStat(t, parent.CPU)
			if o.ExitCode != 0 || o.Signal != "" {
				t.Fatalf("%s round %d: cpuburn failed (exit %d, signal %q):\n%s", mode, round, o.ExitCode, o.Signal, o.Stderr)
			}
			r := result.QuotaRun{NrPeriods: p1 - p0, NrThrottled: n1 - n0, ThrottledUsec: u1 - u0}
			if err := harness.DecodeLast(o.Stdout, &r.Result); err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			if r.Result.GOMAXPROCS != want[mode] {
				t.Errorf("%s: GOMAXPROCS %d, want %d", mode, r.Result.GOMAXPROCS, want[mode])
			}
			t.Logf("%s round %d: GOMAXPROCS %d, %.0f chunks/s, CPU %.2fs in %.2fs, sched latency p50 %.2fms p99 %.2fms (%d samples), parent throttled in %d of %d periods, %.0f ms",
				mode, round, r.Result.GOMAXPROCS, r.Result.OpsPerSec, r.Result.CPUSeconds, r.Result.Seconds,
				1e3*r.Result.SchedP50, 1e3*r.Result.SchedP99, r.Result.SchedSamples, r.NrThrottled, r.NrPeriods, float64(r.ThrottledUsec)/1e3)
			m := result.ModeOf(res.Modes, mode)
			m.Runs = append(m.Runs, r)
		}
	}
	for _, m := range res.Modes {
		m.Summarize()
	}
	harness.Finish(t, result.QuotaFile, &res)
}
