// Package result holds what the bench module's programs and tests report
// and the table reads: the JSON line cmd/workload and cmd/cpuburn print,
// the kernel's record of a child run in a group, and the result files of
// the survival, memory.high, reaction and ancestor-quota measurements. Each
// result file has a Check method: a file that is missing a part, or holds
// a part that cannot be, is malformed, and its rows FAIL.
package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
)

// LinePrefix starts a result line on a guest's console: the guest has no
// file system the host can read, so a measurement prints
// "GOTUNE-BENCH-RESULT <file name> <JSON>" instead of writing the file.
const LinePrefix = "GOTUNE-BENCH-RESULT"

// Workload is the JSON line cmd/workload prints when it finishes,
// read back by the survival and memory.high tests.
type Workload struct {
	Tune          string  `json:"tune"`
	Ops           int64   `json:"ops"`
	Seconds       float64 `json:"seconds"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	OpsPerCPUSec  float64 `json:"ops_per_cpu_sec"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	GCCycles      uint64  `json:"gc_cycles"`
	LiveBytes     int64   `json:"live_bytes"`
	GOMEMLIMIT    int64   `json:"gomemlimit"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
}

// Outcome is how a child run inside a group ended, with the kernel's
// record of the group's memory.
type Outcome struct {
	Stdout     string  `json:"-"`
	Stderr     string  `json:"-"`
	ExitCode   int     `json:"exit_code"`   // -1 when killed by a signal
	Signal     string  `json:"signal"`      // "" unless killed by a signal
	OOMKills   int64   `json:"oom_kills"`   // oom_kill: v1 memory.oom_control, v2 memory.events
	FailCount  int64   `json:"fail_count"`  // v1 memory.failcnt; v2 memory.events max
	HighEvents int64   `json:"high_events"` // v2 memory.events high; 0 on v1
	PeakBytes  int64   `json:"peak_bytes"`  // v1 memory.max_usage_in_bytes; v2 memory.peak
	Seconds    float64 `json:"seconds"`     // wall time from start to exit
}

// OOMKilled reports whether the kernel's OOM killer ended the child: it
// died of SIGKILL and the group recorded an OOM kill.
func (o Outcome) OOMKilled() bool { return o.Signal == "killed" && o.OOMKills > 0 }

// Median returns the median of v (0 for none); v is not changed.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ModeOf returns modes[name], made if it is not there yet.
func ModeOf[M any](modes map[string]*M, name string) *M {
	m := modes[name]
	if m == nil {
		m = new(M)
		modes[name] = m
	}
	return m
}

// checkModes checks that modes has exactly the names want, each with
// rounds runs (runs gives a mode's count).
func checkModes[M any](file string, modes map[string]M, rounds int, runs func(M) int, want ...string) error {
	if rounds <= 0 {
		return fmt.Errorf("%s: %d rounds", file, rounds)
	}
	var errs []error
	for _, name := range want {
		m, ok := modes[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no %s runs", file, name))
			continue
		}
		if n := runs(m); n != rounds {
			errs = append(errs, fmt.Errorf("%s: %d %s runs, want %d (one per round)", file, n, name, rounds))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(modes)) {
		if !slices.Contains(want, name) {
			errs = append(errs, fmt.Errorf("%s: unexpected mode %q", file, name))
		}
	}
	return errors.Join(errs...)
}

// Decode reads the JSON value b into v strictly: a field v has no place
// for, or anything after the value, is an error.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more after the JSON value")
	}
	return nil
}
