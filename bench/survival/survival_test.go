package survival

import (
	"fmt"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// The four ways: what sets GOMEMLIMIT, and whether the group has a limit.
var ways = []struct {
	name, tune string
	limited    bool
}{
	{"ceiling", "none", false},
	{"none", "none", true},
	{"automemlimit", "automemlimit", true},
	{"tune", "tune", true},
}

// TestSurvival runs the workload four ways under a memory limit
// (memory.limit_in_bytes on this host's cgroup v1, memory.max in the VM
// lane's v2 guest). Quick form (go test): a 128 MiB limit, a 72 MiB live
// heap, a short run: no tuning must be OOM-killed, tune and automemlimit
// must survive and report, and so must the unlimited run. Full form
// (GOTUNE_BENCH_OUT set, from bench/run): a 256 MiB limit, a 150 MiB live
// heap, five rounds (eight in the guest, four in CI), the order of the ways
// rotated each round (harness.Rotated), results written to survival.json; bench/run checks
// the targets. Under the guest's software emulation the runs are shorter,
// and shorter still in CI.
func TestSurvival(t *testing.T) {
	res := result.Survival{LimitBytes: 128 << 20, Live: "72MiB", Ops: 80_000, Rounds: 1, Modes: map[string]*result.SurvivalMode{}}
	if harness.CurrentSize() != harness.Quick {
		res.LimitBytes, res.Live = 256<<20, "150MiB"
		res.Ops, res.Rounds = 1_000_000, 5
		if cgrouptest.Guest() != "" {
			// Four rounds in CI: with the order rotated, each way runs once
			// in each of the four slots.
			res.Ops, res.Rounds = harness.Pick[int64](0, 120_000, 300_000), harness.Pick(0, 4, 8)
		}
	}
	parent := cgrouptest.New(t)
	bin := harness.Build(t, "./cmd/workload")
	for round := range res.Rounds {
		for _, i := range harness.Rotated(round, len(ways)) {
			w := ways[i]
			limit := res.LimitBytes
			if !w.limited {
				limit = -1
			}
			o := harness.Run(t, parent, fmt.Sprintf("%s-%d", w.name, round), limit, harness.Env(),
				bin, "-tune", w.tune, "-live", res.Live, "-ops", fmt.Sprint(res.Ops))
			r := result.SurvivalRun{Outcome: o, PeakShare: float64(o.PeakBytes) / float64(res.LimitBytes)}
			switch {
			case o.OOMKilled():
			case o.ExitCode != 0 || o.Signal != "":
				t.Fatalf("%s: workload failed (exit %d, signal %q, oom kills %d):\n%s", w.name, o.ExitCode, o.Signal, o.OOMKills, o.Stderr)
			default:
				var wl result.Workload
				if err := harness.DecodeLast(o.Stdout, &wl); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
				if wl.Tune != w.tune || wl.Ops <= 0 || wl.OpsPerSec <= 0 || wl.OpsPerCPUSec <= 0 || wl.GCCycles == 0 {
					t.Fatalf("%s: implausible report %+v", w.name, wl)
				}
				r.Survived, r.Result = true, &wl
			}
			t.Logf("%s round %d: survived %v, signal %q, oom kills %d, peak %.0f%% of the limit, %.1fs, result %+v",
				w.name, round, r.Survived, o.Signal, o.OOMKills, 100*r.PeakShare, o.Seconds, r.Result)
			m := result.ModeOf(res.Modes, w.name)
			m.Runs = append(m.Runs, r)
		}
	}
	for name, m := range res.Modes {
		m.Summarize()
		if harness.CurrentSize() != harness.Quick {
			continue
		}
		// Quick form: the outcomes are fixed by the GC's pacing (GOGC=100
		// doubles a 72 MiB heap past 128 MiB; GOMEMLIMIT keeps it under).
		switch name {
		case "none":
			if m.OOMKilled != 1 {
				t.Errorf("no tuning under a 128 MiB limit with a 72 MiB live heap: want OOM-killed, got %+v", m.Runs[0].Outcome)
			}
		default:
			if m.Survived != 1 {
				t.Errorf("%s: want survived, got %+v", name, m.Runs[0].Outcome)
			}
		}
	}
	for _, name := range []string{"tune", "automemlimit"} {
		for _, r := range res.Modes[name].Runs {
			if want := int64(0.9 * float64(res.LimitBytes)); r.Result != nil && r.Result.GOMEMLIMIT != want {
				t.Errorf("%s: GOMEMLIMIT %d, want 90%% of the limit, %d", name, r.Result.GOMEMLIMIT, want)
			}
		}
	}
	harness.Finish(t, result.SurvivalFile, &res)
}
