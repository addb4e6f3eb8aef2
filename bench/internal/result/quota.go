package result

import (
	"errors"
	"fmt"
)

// QuotaFile is the ancestor-quota measurement's result file.
const QuotaFile = "ancestor-quota.json"

// QuotaModes are who sets GOMAXPROCS in the ancestor-quota measurement:
// the runtime's default (which reads only the process's own group) and
// tune (which reads every ancestor's cpu.max).
var QuotaModes = []string{"runtime", "tune"}

// Burn is the JSON line cmd/cpuburn prints when it finishes.
type Burn struct {
	Tune       string  `json:"tune"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Goroutines int     `json:"goroutines"`
	Ops        int64   `json:"ops"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Scheduling latency over the timed phase, from runtime/metrics
	// /sched/latencies:seconds: the time goroutines spent runnable
	// before running. Each is the upper bound of the histogram bucket
	// that holds the quantile.
	SchedP50     float64 `json:"sched_latency_p50_seconds"`
	SchedP99     float64 `json:"sched_latency_p99_seconds"`
	SchedSamples uint64  `json:"sched_latency_samples"`
}

// Quota is the ancestor-quota measurement on cgroup v2: a CPU-bound
// workload in a group without a quota, beneath a parent whose cpu.max
// gives fewer CPUs than the machine has.
type Quota struct {
	CPUs      int                   `json:"cpus"`       // the machine's
	QuotaCPUs float64               `json:"quota_cpus"` // the parent's cpu.max
	Duration  string                `json:"duration"`
	Rounds    int                   `json:"rounds"`
	Modes     map[string]*QuotaMode `json:"modes"`
}

// QuotaMode sums up the runs of one mode (medians).
type QuotaMode struct {
	Runs          []QuotaRun `json:"runs"`
	GOMAXPROCS    int        `json:"gomaxprocs"`
	OpsPerSec     float64    `json:"ops_per_sec"`
	SchedP99      float64    `json:"sched_latency_p99_seconds"`
	SchedP50      float64    `json:"sched_latency_p50_seconds"`
	NrPeriods     float64    `json:"nr_periods"`
	NrThrottled   float64    `json:"nr_throttled"`
	ThrottledUsec float64    `json:"throttled_usec"`
}

// QuotaRun is one run: the workload's report and the parent's cpu.stat
// counters over it.
type QuotaRun struct {
	Result        Burn  `json:"result"`
	NrPeriods     int64 `json:"nr_periods"`
	NrThrottled   int64 `json:"nr_throttled"`
	ThrottledUsec int64 `json:"throttled_usec"`
}

// Summarize fills m's medians from its runs.
func (m *QuotaMode) Summarize() {
	var ops, p99, p50, periods, throttled, usec []float64
	for _, r := range m.Runs {
		ops = append(ops, r.Result.OpsPerSec)
		p99 = append(p99, r.Result.SchedP99)
		p50 = append(p50, r.Result.SchedP50)
		periods = append(periods, float64(r.NrPeriods))
		throttled = append(throttled, float64(r.NrThrottled))
		usec = append(usec, float64(r.ThrottledUsec))
	}
	if len(m.Runs) > 0 {
		m.GOMAXPROCS = m.Runs[0].Result.GOMAXPROCS
	}
	m.OpsPerSec, m.SchedP99, m.SchedP50 = Median(ops), Median(p99), Median(p50)
	m.NrPeriods, m.NrThrottled, m.ThrottledUsec = Median(periods), Median(throttled), Median(usec)
}

// Check reports what makes q malformed.
func (q *Quota) Check() error {
	if q.CPUs <= 0 || q.QuotaCPUs <= 0 || q.Duration == "" {
		return fmt.Errorf("%s: %d CPUs, quota %v CPUs, duration %q: want all set", QuotaFile, q.CPUs, q.QuotaCPUs, q.Duration)
	}
	errs := []error{checkModes(QuotaFile, q.Modes, q.Rounds, func(m *QuotaMode) int { return len(m.Runs) }, QuotaModes...)}
	for name, m := range q.Modes {
		for i, r := range m.Runs {
			b := r.Result
			if b.Tune != map[string]string{"runtime": "none", "tune": "tune"}[name] || b.GOMAXPROCS <= 0 || b.Ops <= 0 ||
				b.OpsPerSec <= 0 || b.SchedP99 <= 0 || b.SchedSamples == 0 || r.NrPeriods <= 0 {
				errs = append(errs, fmt.Errorf("%s: %s run %d is implausible: %+v", QuotaFile, name, i, r))
			}
		}
	}
	return errors.Join(errs...)
}
