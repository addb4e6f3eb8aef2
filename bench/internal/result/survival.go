package result

import (
	"errors"
	"fmt"
	"math"
)

// SurvivalFile is the survival measurement's result file.
const SurvivalFile = "survival.json"

// SurvivalModes are the four ways the survival test runs the workload:
// no limit at all (the ceiling), and under the limit with nothing, with
// automemlimit and with tune setting GOMEMLIMIT.
var SurvivalModes = []string{"ceiling", "none", "automemlimit", "tune"}

// Survival is the survival measurement: the workload under a memory limit,
// several rounds of each mode.
type Survival struct {
	LimitBytes int64                    `json:"limit_bytes"`
	Live       string                   `json:"live"`
	Ops        int64                    `json:"ops"`
	Rounds     int                      `json:"rounds"`
	Modes      map[string]*SurvivalMode `json:"modes"`
}

// SurvivalMode sums up the runs of one way of running the workload.
type SurvivalMode struct {
	Runs          []SurvivalRun `json:"runs"`
	Survived      int           `json:"survived"`
	OOMKilled     int           `json:"oom_killed"`
	OpsPerSec     float64       `json:"ops_per_sec"`     // median over the surviving runs
	OpsPerCPUSec  float64       `json:"ops_per_cpu_sec"` // median over the surviving runs
	GCCPUFraction float64       `json:"gc_cpu_fraction"` // median over the surviving runs
	PeakShare     float64       `json:"peak_share"`      // highest
}

// SurvivalRun is one run of the workload.
type SurvivalRun struct {
	Outcome
	Survived  bool      `json:"survived"`
	PeakShare float64   `json:"peak_share"` // peak memory of the group ÷ the limit
	Result    *Workload `json:"result,omitempty"`
}

// Summarize fills m's counts and medians from its runs.
func (m *SurvivalMode) Summarize() {
	var ops, opsCPU, gc []float64
	m.Survived, m.OOMKilled, m.PeakShare = 0, 0, 0
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
	m.OpsPerSec, m.OpsPerCPUSec, m.GCCPUFraction = Median(ops), Median(opsCPU), Median(gc)
}

// Check reports what makes s malformed: a mode missing or with the wrong
// number of runs, a surviving run without its workload's report, counts
// that do not match the runs.
func (s *Survival) Check() error {
	if s.LimitBytes <= 0 || s.Ops <= 0 || s.Live == "" {
		return fmt.Errorf("%s: limit %d, ops %d, live %q: want all set", SurvivalFile, s.LimitBytes, s.Ops, s.Live)
	}
	errs := []error{checkModes(SurvivalFile, s.Modes, s.Rounds, func(m *SurvivalMode) int { return len(m.Runs) }, SurvivalModes...)}
	for name, m := range s.Modes {
		survived := 0
		for i, r := range m.Runs {
			switch {
			case r.Survived && (r.Result == nil || r.Result.Ops <= 0 || r.Result.OpsPerSec <= 0 || r.Result.OpsPerCPUSec <= 0):
				errs = append(errs, fmt.Errorf("%s: %s run %d survived without a plausible report: %+v", SurvivalFile, name, i, r.Result))
			case !r.Survived && !r.OOMKilled():
				errs = append(errs, fmt.Errorf("%s: %s run %d neither survived nor was OOM-killed", SurvivalFile, name, i))
			}
			if r.Survived {
				survived++
			}
		}
		if survived != m.Survived {
			errs = append(errs, fmt.Errorf("%s: %s counts %d survivors, its runs %d", SurvivalFile, name, m.Survived, survived))
		}
	}
	return errors.Join(errs...)
}

// PairedRatio is the median over rounds of a's throughput per CPU-second
// divided by b's in the same round, over the rounds both survived. Runs of
// one round ran minutes apart at most, so a drift in the neighbours' load
// between rounds cancels out of each round's ratio; the ratio of the two
// medians does not cancel it. 0 when no round has both.
func (s *Survival) PairedRatio(a, b string) float64 {
	ma, mb := s.Modes[a], s.Modes[b]
	if ma == nil || mb == nil {
		return 0
	}
	var r []float64
	for i := range min(len(ma.Runs), len(mb.Runs)) {
		x, y := ma.Runs[i], mb.Runs[i]
		if x.Survived && y.Survived && x.Result != nil && y.Result != nil && y.Result.OpsPerCPUSec > 0 {
			r = append(r, x.Result.OpsPerCPUSec/y.Result.OpsPerCPUSec)
		}
	}
	return Median(r)
}
