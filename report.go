package tune

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// Report says what tune found, what it decided and why. Its JSON form is
// what `tune -json` prints.
type Report struct {
	Cgroup CgroupReport `json:"cgroup"`
	Memory MemoryReport `json:"memory"`
	CPU    CPUReport    `json:"cpu"`
	// Kernel is the kernel's own view of the memory group: usage, pressure
	// stall information, memory events. Current and the status page give
	// the latest numbers; Init's report gives those at Init.
	Kernel KernelReport `json:"kernel"`
	// Applied is true when the decisions were carried out (Init), false
	// for Detect and under GOTUNE=off.
	Applied bool `json:"applied"`
	// Errors lists every problem met, each naming its file, variable or
	// value; empty when there were none.
	Errors []string `json:"errors"`
	// CrashFile is where a fatal crash's report goes ("" when crash output
	// is off, or for Detect); see Options.CrashFile.
	CrashFile string `json:"crash_file,omitempty"`

	errs []error
}

// CgroupReport describes the cgroups that were found.
type CgroupReport struct {
	// Version is 2 when both controllers were found on cgroup v2, 1 when
	// either is on v1, 0 when none was found.
	Version int `json:"version"`
	// Mode is "v1", "v2", "hybrid" (v1 controllers beside a cgroup2
	// mount) or "none".
	Mode string `json:"mode"`
	// MemoryGroup and CPUGroup are the directories of the process's own
	// groups; Files lists every limit file read.
	MemoryGroup string   `json:"memory_group,omitempty"`
	CPUGroup    string   `json:"cpu_group,omitempty"`
	Files       []string `json:"files"`
	// Skipped lists the lines of /proc/self/cgroup and mountinfo that
	// could not be parsed and were passed over (never an error: they
	// concern other controllers or mounts, or the part they concern
	// reports its own error).
	Skipped []string `json:"skipped_lines,omitempty"`
	Note    string   `json:"note,omitempty"`
}

func cgroupReport(l *cgroup.Layout, rd *cgroup.Reader) CgroupReport {
	files := []string{filepath.Join(l.Root, "proc/self/cgroup"), filepath.Join(l.Root, "proc/self/mountinfo")}
	c := CgroupReport{Mode: "none", Files: append(files, rd.Files()...)}
	for _, w := range l.Warnings {
		c.Skipped = append(c.Skipped, w.Error())
	}
	if len(l.Memory.Dirs) > 0 {
		c.MemoryGroup = l.Memory.Dirs[0]
	}
	if len(l.CPU.Dirs) > 0 {
		c.CPUGroup = l.CPU.Dirs[0]
	}
	m, p := l.Memory.Version, l.CPU.Version
	switch {
	case m == 1 || p == 1:
		c.Version, c.Mode = 1, "v1"
		if l.HasV2 {
			c.Mode = "hybrid"
		}
	case m == 2 || p == 2:
		c.Version, c.Mode = 2, "v2"
	}
	return c
}

// Action says what tune did, or for Detect would do, with one runtime
// setting. In JSON it is the plain word.
type Action string

const (
	// ActionSet: tune sets the value.
	ActionSet Action = "set"
	// ActionUnchanged: tune leaves the value as it is.
	ActionUnchanged Action = "unchanged"
	// ActionRestored: tune puts GOMEMLIMIT back to its value from before
	// tune first set it (the memory limit went away, or the memory policy
	// was switched off by a later Init).
	ActionRestored Action = "restored"
	// ActionRuntime: the Go runtime's own default GOMAXPROCS stands; where
	// tune had set GOMAXPROCS it hands the choice back with
	// runtime.SetDefaultGOMAXPROCS.
	ActionRuntime Action = "runtime"
)

// notInitialized is the Report before the first Init.
var notInitialized = Report{
	Cgroup: CgroupReport{Mode: "none", Files: []string{}, Note: "tune.Init has not run"},
	Errors: []string{},
}

func (r *Report) setErrors(errs ...error) {
	r.errs, r.Errors = nil, []string{}
	for _, e := range errs {
		if e != nil {
			r.errs = append(r.errs, e)
			r.Errors = append(r.Errors, e.Error())
		}
	}
}

// String is the one line Init logs at start: what was found, what was
// decided, and why.
func (r Report) String() string {
	if r.Memory.Action == "" {
		return "tune: Init has not run: no limits read, nothing applied"
	}
	var b strings.Builder
	b.WriteString("tune: cgroup ")
	if r.Cgroup.Mode == "none" || r.Cgroup.Mode == "" {
		b.WriteString("none")
	} else {
		b.WriteString(r.Cgroup.Mode)
	}
	fmt.Fprintf(&b, "; memory limit %s", bytesOrNone(r.Memory.Limit))
	fmt.Fprintf(&b, ", GOMEMLIMIT %s → %s (%s: %s)", bytesOrNone(r.Memory.Before), bytesOrNone(r.Memory.GOMEMLIMIT), r.Memory.Action, r.Memory.Reason)
	if r.CPU.Quota > 0 {
		fmt.Fprintf(&b, "; CPU quota %.4g", r.CPU.Quota)
	} else {
		b.WriteString("; CPU quota none")
	}
	fmt.Fprintf(&b, ", GOMAXPROCS %d → %d (%s: %s)", r.CPU.Before, r.CPU.GOMAXPROCS, r.CPU.Action, r.CPU.Reason)
	if !r.Applied {
		b.WriteString("; not applied")
	}
	if n := len(r.Errors); n > 0 {
		fmt.Fprintf(&b, "; %d error(s)", n)
	}
	return b.String()
}

// clone returns r with its own copies of the slices, so that a caller
// may change them without touching the published snapshot. One
// allocation holds the three.
func (r Report) clone() Report {
	all := make([]string, 0, len(r.Cgroup.Files)+len(r.Cgroup.Skipped)+len(r.Errors))
	cut := func(s []string) []string {
		if s == nil {
			return nil
		}
		n := len(all)
		all = append(all, s...)
		return all[n:len(all):len(all)]
	}
	r.Cgroup.Files, r.Cgroup.Skipped, r.Errors = cut(r.Cgroup.Files), cut(r.Cgroup.Skipped), cut(r.Errors)
	return r
}

// bytesOrNone formats a byte count for people: "none" for 0 and for the
// runtime's "no limit".
func bytesOrNone(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "none"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.4g%ciB", v, "KMGTP"[i])
}

// nullIf returns nil (JSON null) when v is a "none" value.
func nullIf[T comparable](v T, none ...T) *T {
	for _, n := range none {
		if v == n {
			return nil
		}
	}
	return &v
}

// MarshalJSON writes the limit and GOMEMLIMIT as null when there is none.
func (m MemoryReport) MarshalJSON() ([]byte, error) {
	type plain MemoryReport
	return json.Marshal(struct {
		plain
		Limit      *int64 `json:"limit_bytes"`
		Before     *int64 `json:"gomemlimit_before_bytes"`
		GOMEMLIMIT *int64 `json:"gomemlimit_bytes"`
	}{plain(m), nullIf(m.Limit, 0), nullIf(m.Before, math.MaxInt64), nullIf(m.GOMEMLIMIT, math.MaxInt64)})
}

// MarshalJSON writes the quota as null when there is none.
func (c CPUReport) MarshalJSON() ([]byte, error) {
	type plain CPUReport
	return json.Marshal(struct {
		plain
		Quota *float64 `json:"quota_cores"`
	}{plain(c), nullIf(c.Quota, 0)})
}

// MarshalJSON leaves out the byte counts that were not read rather than
// writing 0, and not_go_memory_bytes also when Go's memory in use was not
// measured (Detect and a one-shot `tune -json` run no loop).
func (k KernelReport) MarshalJSON() ([]byte, error) {
	type plain KernelReport
	return json.Marshal(struct {
		MemoryUsage *int64 `json:"memory_usage_bytes,omitempty"`
		MemoryPeak  *int64 `json:"memory_peak_bytes,omitempty"`
		NotGo       *int64 `json:"not_go_memory_bytes,omitempty"`
		plain
	}{nullIf(k.MemoryUsage, 0), nullIf(k.MemoryPeak, 0), nullIf(k.NotGo, 0), plain(k)})
}

// MarshalJSON writes only available and note when the kernel gave no
// figures.
func (p PSIReport) MarshalJSON() ([]byte, error) {
	type plain PSIReport
	if p.Available {
		return json.Marshal(plain(p))
	}
	return json.Marshal(unavailable{p.Available, p.Note})
}

// MarshalJSON writes only available and note when the kernel gave no
// counts.
func (e MemoryEventsReport) MarshalJSON() ([]byte, error) {
	type plain MemoryEventsReport
	if e.Available {
		return json.Marshal(plain(e))
	}
	return json.Marshal(unavailable{e.Available, e.Note})
}

// unavailable is the JSON of a part the kernel did not give.
type unavailable struct {
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
}
