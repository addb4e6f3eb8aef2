package tune

import (
	"fmt"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// MemoryReport says what tune found and decided about GOMEMLIMIT.
type MemoryReport struct {
	// Limit is the effective memory limit in bytes: the tightest over the
	// process's cgroup and its ancestors. 0 when there is none.
	Limit int64 `json:"limit_bytes"`
	// Source is the file the limit came from; Level is 0 for the process's
	// own group, n for the group n levels up, -1 for an ancestor above the
	// mount point (cgroup v1 hierarchical_memory_limit).
	Source string `json:"source,omitempty"`
	Level  int    `json:"level"`
	// Ratio is the share of Limit given to GOMEMLIMIT (0 when the memory
	// policy is off).
	Ratio float64 `json:"ratio"`
	// Before and GOMEMLIMIT are the soft memory limit before and after
	// (for Detect: what Init would set). math.MaxInt64 means no limit.
	Before     int64 `json:"gomemlimit_before_bytes"`
	GOMEMLIMIT int64 `json:"gomemlimit_bytes"`
	// Action is "set" when tune sets GOMEMLIMIT, "restored" when the
	// refresh loop puts back the value from before tune first set it (the
	// limit went away), and "unchanged" otherwise; Reason says why in a
	// few words.
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// decideMemory is the GOMEMLIMIT policy: ratio × the effective limit,
// truncated to whole bytes, unless the operator set GOMEMLIMIT, the policy is
// off, or no limit was found (then GOMEMLIMIT is left as it is, never reset).
// current is the soft memory limit in effect now and env the GOMEMLIMIT
// environment variable. It is a pure function.
func decideMemory(lim cgroup.Limits, c config, current int64, env string) MemoryReport {
	m := MemoryReport{
		Limit: lim.Memory.Value, Source: lim.Memory.Src, Level: lim.Memory.Level,
		Ratio: c.ratio, Before: current, GOMEMLIMIT: current, Action: "unchanged",
	}
	switch {
	case env != "":
		m.Reason = fmt.Sprintf("GOMEMLIMIT=%s is set in the environment: the operator decides", env)
	case c.ratio == 0:
		m.Reason = "memory policy is off (" + c.ratioFrom + ")"
	case lim.Memory.Err != nil:
		m.Reason = "the memory limit could not be read: left as it is"
	case lim.Memory.Value == 0:
		m.Reason = "no memory limit found: left as it is"
	default:
		m.GOMEMLIMIT = int64(c.ratio * float64(lim.Memory.Value))
		if m.GOMEMLIMIT <= 0 {
			m.GOMEMLIMIT = current
			m.Reason = fmt.Sprintf("%v of %d bytes is not a usable limit", c.ratio, lim.Memory.Value)
			break
		}
		m.Action = "set"
		m.Reason = fmt.Sprintf("%v × %s limit from %s", c.ratio, levelName(lim.Memory.Level), lim.Memory.Src)
	}
	return m
}

// levelName names a cgroup level for a reason line.
func levelName(level int) string {
	switch {
	case level == 0:
		return "own group's"
	case level < 0:
		return "an ancestor's (above the mount point)"
	case level == 1:
		return "parent group's"
	default:
		return fmt.Sprintf("ancestor's (%d levels up)", level)
	}
}
