package result

import (
	"errors"
	"fmt"
	"slices"
)

// MemoryHighFile is the memory.high measurement's result file.
const MemoryHighFile = "memory-high.json"

// MemoryHighModes are what sets GOMEMLIMIT in the memory.high
// measurement: nothing, automemlimit (from memory.max) and tune (from
// memory.high, the lower).
var MemoryHighModes = []string{"none", "automemlimit", "tune"}

// MemoryHigh is the memory.high measurement on cgroup v2: the workload in
// a group whose memory.high (the throttling limit) is below memory.max,
// several rounds of each mode.
type MemoryHigh struct {
	HighBytes int64                      `json:"high_bytes"`
	MaxBytes  int64                      `json:"max_bytes"`
	Live      string                     `json:"live"`
	Ops       int64                      `json:"ops"`
	Rounds    int                        `json:"rounds"`
	Modes     map[string]*MemoryHighMode `json:"modes"`
}

// MemoryHighMode sums up the runs of one mode: medians, and the spread
// (lowest and highest) where it matters.
type MemoryHighMode struct {
	Runs          []MemoryHighRun `json:"runs"`
	OpsPerSec     float64         `json:"ops_per_sec"` // wall clock: the throttling is a sleep
	OpsPerSecMin  float64         `json:"ops_per_sec_min"`
	OpsPerSecMax  float64         `json:"ops_per_sec_max"`
	HighEvents    float64         `json:"high_events"`     // median
	HighEventsMax int64           `json:"high_events_max"` // highest
	PeakBytes     float64         `json:"peak_bytes"`      // median of memory.peak
	PeakBytesMax  int64           `json:"peak_bytes_max"`
	GCCPUFraction float64         `json:"gc_cpu_fraction"` // median
	GOMEMLIMIT    int64           `json:"gomemlimit"`      // of the first run
}

// MemoryHighRun is one run: the kernel's record and the workload's report.
type MemoryHighRun struct {
	Outcome
	Result Workload `json:"result"`
}

// Summarize fills m's medians and spread from its runs.
func (m *MemoryHighMode) Summarize() {
	var ops, high, peak, gc []float64
	m.HighEventsMax, m.PeakBytesMax = 0, 0
	for _, r := range m.Runs {
		ops = append(ops, r.Result.OpsPerSec)
		high = append(high, float64(r.HighEvents))
		peak = append(peak, float64(r.PeakBytes))
		gc = append(gc, r.Result.GCCPUFraction)
		m.HighEventsMax = max(m.HighEventsMax, r.HighEvents)
		m.PeakBytesMax = max(m.PeakBytesMax, r.PeakBytes)
	}
	if len(ops) > 0 {
		m.OpsPerSecMin, m.OpsPerSecMax = slices.Min(ops), slices.Max(ops)
		m.GOMEMLIMIT = m.Runs[0].Result.GOMEMLIMIT
	}
	m.OpsPerSec, m.HighEvents, m.PeakBytes, m.GCCPUFraction = Median(ops), Median(high), Median(peak), Median(gc)
}

// Check reports what makes h malformed.
func (h *MemoryHigh) Check() error {
	if h.HighBytes <= 0 || h.MaxBytes <= h.HighBytes || h.Ops <= 0 || h.Live == "" {
		return fmt.Errorf("%s: memory.high %d, memory.max %d, ops %d, live %q: want 0 < high < max and all set",
			MemoryHighFile, h.HighBytes, h.MaxBytes, h.Ops, h.Live)
	}
	errs := []error{checkModes(MemoryHighFile, h.Modes, h.Rounds, func(m *MemoryHighMode) int { return len(m.Runs) }, MemoryHighModes...)}
	for name, m := range h.Modes {
		for i, r := range m.Runs {
			if r.Result.Tune != name || r.Result.Ops <= 0 || r.Result.OpsPerSec <= 0 || r.PeakBytes <= 0 || r.ExitCode != 0 || r.Signal != "" {
				errs = append(errs, fmt.Errorf("%s: %s run %d is implausible: exit %d, signal %q, peak %d, report %+v",
					MemoryHighFile, name, i, r.ExitCode, r.Signal, r.PeakBytes, r.Result))
			}
		}
	}
	return errors.Join(errs...)
}
