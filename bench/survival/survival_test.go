package survival

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// Workload is the JSON line cmd/workload prints.
type Workload = result.Workload

// Run is one run of the workload.
type Run struct {
	harness.Outcome
	Survived  bool      `json:"survived"`
	PeakShare float64   `json:"peak_share"` // peak memory of the group ÷ the limit
	Result    *Workload `json:"result,omitempty"`
}

// Mode sums up the runs of one way of running the workload.
type Mode struct {
	Runs          []Run   `json:"runs"`
	Survived      int     `json:"survived"`
	OOMKilled     int     `json:"oom_killed"`
	OpsPerSec     float64 `json:"ops_per_sec"`     // median over the surviving runs
	OpsPerCPUSec  float64 `json:"ops_per_cpu_sec"` // median over the surviving runs
	GCCPUFraction float64 `json:"gc_cpu_fraction"` // median over the surviving runs
	PeakShare     float64 `json:"peak_share"`      // highest
}

// Results is what the full run writes to survival.json for the table.
type Results struct {
	LimitBytes int64            `json:"limit_bytes"`
	Live       string           `json:"live"`
	Ops        int64            `json:"ops"`
	Rounds     int              `json:"rounds"`
	Modes      map[string]*Mode `json:"modes"`
}

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

// TestSurvival runs the workload four ways under a memory limit. Quick
// form (go test, CI): a 128 MiB limit, a 72 MiB live heap, a short run:
// no tuning must be OOM-killed, tune and automemlimit must survive and
// report, and so must the unlimited run. Full form (GOTUNE_BENCH_OUT set,
// from bench/run): a 256 MiB limit, a 150 MiB live heap, several rounds,
// results written to survival.json; bench/run checks the targets.
func TestSurvival(t *testing.T) {
	res := Results{LimitBytes: 128 << 20, Live: "72MiB", Ops: 80_000, Rounds: 1, Modes: map[string]*Mode{}}
	full := harness.OutDir() != ""
	if full {
		res = Results{LimitBytes: 256 << 20, Live: "150MiB", Ops: 1_000_000, Rounds: 5, Modes: map[string]*Mode{}}
	}
	parent := cgrouptest.New(t)
	bin := harness.Build(t, "./cmd/workload")
	for round := range res.Rounds {
		for _, w := range ways {
			limit := res.LimitBytes
			if !w.limited {
				limit = -1
			}
			o := harness.Run(t, parent, fmt.Sprintf("%s-%d", w.name, round), limit, harness.Env(),
				bin, "-tune", w.tune, "-live", res.Live, "-ops", fmt.Sprint(res.Ops))
			r := Run{Outcome: o, PeakShare: float64(o.PeakBytes) / float64(res.LimitBytes)}
			switch {
			case o.OOMKilled():
			case o.ExitCode != 0 || o.Signal != "":
				t.Fatalf("%s: workload failed (exit %d, signal %q, oom kills %d):\n%s", w.name, o.ExitCode, o.Signal, o.OOMKills, o.Stderr)
			default:
				var wl Workload
				if err := harness.DecodeLast(o.Stdout, &wl); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
				if wl.Tune != w.tune || wl.Ops <= 0 || wl.OpsPerSec <= 0 || wl.OpsPerCPUSec <= 0 || wl.GCCycles == 0 {
					t.Fatalf("%s: implausible report %+v", w.name, wl)
				}
				r.Survived, r.Result = true, &wl
			}
			t.Logf("%s round %d: survived %v, signal %q, oom kills %d, peak %.0f%% of the limit, result %+v",
				w.name, round, r.Survived, o.Signal, o.OOMKills, 100*r.PeakShare, r.Result)
			m := res.Modes[w.name]
			if m == nil {
				m = &Mode{}
				res.Modes[w.name] = m
			}
			m.Runs = append(m.Runs, r)
		}
	}
	for name, m := range res.Modes {
		summarize(m)
		if full {
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
		if name == "tune" || name == "automemlimit" {
			if got, want := m.Runs[0].Result, int64(0.9*float64(res.LimitBytes)); got != nil && got.GOMEMLIMIT != want {
				t.Errorf("%s: GOMEMLIMIT %d, want 90%% of the limit, %d", name, got.GOMEMLIMIT, want)
			}
		}
	}
	if full {
		harness.WriteResult(t, "survival.json", res)
	}
}

func summarize(m *Mode) {
	var ops, opsCPU, gc []float64
	for _, r := range m.Runs {
		if r.Survived {
			m.Survived++
			ops = append(ops, r.Result.OpsPerSec)
			opsCPU = append(opsCPU, r.Result.OpsPerCPUSec)
			gc = append(gc, r.Result.GCCPUFraction)
		}
		if r.OOMKilled() {
			m.OOMKilled++
		}
		m.PeakShare = math.Max(m.PeakShare, r.PeakShare)
	}
	m.OpsPerSec, m.OpsPerCPUSec, m.GCCPUFraction = median(ops), median(opsCPU), median(gc)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
