package survival

import (
	"fmt"
	"math"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestMemoryHigh runs the workload in a cgroup v2 group whose memory.high
// (200 MiB: where the kernel throttles the group into reclaim) is below its
// memory.max (400 MiB: where it kills), three ways: nothing setting
// GOMEMLIMIT, automemlimit (which reads memory.max) and tune (which counts
// memory.high as a limit), round by round, the order rotated each round. A live heap of 120 MiB doubles
// past memory.high under GOGC=100; GOMEMLIMIT at 90% of memory.max does
// not stop that; at 90% of memory.high it does. Per run: throughput per
// wall second (the throttling is a sleep, which CPU time does not see),
// memory.events high, memory.peak, the GC CPU fraction. It needs cgroup
// v2 (the VM lane's guest); the GOMEMLIMIT each way sets is checked in
// every form, the throughput in the table (bench/run). Sizes: 40,000
// operations and three rounds in CI, 300,000 and five for bench/run.
func TestMemoryHigh(t *testing.T) {
	harness.NeedsV2(t, true, "cgroup v2 (memory.high)")
	res := result.MemoryHigh{HighBytes: 200 << 20, MaxBytes: 400 << 20, Live: "120MiB",
		Ops: harness.Pick[int64](20_000, 40_000, 300_000), Rounds: harness.Pick(1, 3, 5), Modes: map[string]*result.MemoryHighMode{}}
	want := map[string]int64{"none": math.MaxInt64, "automemlimit": res.MaxBytes * 9 / 10, "tune": res.HighBytes * 9 / 10}
	parent := cgrouptest.New(t)
	bin := harness.Build(t, "./cmd/workload")
	for round := range res.Rounds {
		for _, i := range harness.Rotated(round, len(result.MemoryHighModes)) {
			mode := result.MemoryHighModes[i]
			g := parent.Child(t, fmt.Sprintf("high-%s-%d", mode, round))
			g.SetMemoryHigh(t, res.HighBytes)
			g.SetMemory(t, res.MaxBytes)
			o := harness.RunIn(t, g, harness.Env(), bin, "-tune", mode, "-live", res.Live, "-ops", fmt.Sprint(res.Ops))
			if o.ExitCode != 0 || o.Signal != "" {
				t.Fatalf("%s round %d: workload failed (exit %d, signal %q, oom kills %d, memory.events max %d):\n%s",
					mode, round, o.ExitCode, o.Signal, o.OOMKills, o.FailCount, o.Stderr)
			}
			r := result.MemoryHighRun{Outcome: o}
			if err := harness.DecodeLast(o.Stdout, &r.Result); err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			if r.Result.Tune != mode || r.Result.Ops <= 0 || r.Result.OpsPerSec <= 0 {
				t.Fatalf("%s: implausible report %+v", mode, r.Result)
			}
			if r.Result.GOMEMLIMIT != want[mode] {
				t.Errorf("%s: GOMEMLIMIT %d, want %d", mode, r.Result.GOMEMLIMIT, want[mode])
			}
			t.Logf("%s round %d: %.0f ops/s over %.1fs, memory.events high %d, memory.peak %d MiB, GC CPU %.1f%%, GOMEMLIMIT %d",
				mode, round, r.Result.OpsPerSec, r.Result.Seconds, o.HighEvents, o.PeakBytes>>20, 100*r.Result.GCCPUFraction, r.Result.GOMEMLIMIT)
			m := result.ModeOf(res.Modes, mode)
			m.Runs = append(m.Runs, r)
		}
	}
	for _, m := range res.Modes {
		m.Summarize()
	}
	harness.Finish(t, result.MemoryHighFile, &res)
}
