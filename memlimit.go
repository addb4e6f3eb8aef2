package tune

import (
	"fmt"
	"math"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// MemoryReport says what tune found and decided about GOMEMLIMIT.
type MemoryReport struct {
	// Limit is the effective memory limit in bytes: the tightest over the
	// process's cgroup and its ancestors. 0 when there is none.
	Limit int64 `json:"limit_bytes"`
	// Source is the file the limit came from. LevelsUp says where that
	// file's group is: 0 for the process's own group, n for the group n
	// levels up, -1 for an ancestor above the mount point (cgroup v1's
	// hierarchical_memory_limit, whose group is not visible).
	Source   string `json:"source,omitempty"`
	LevelsUp int    `json:"levels_up"`
	// Ratio is the share of Limit given to GOMEMLIMIT (0 when the memory
	// policy is off).
	Ratio float64 `json:"ratio"`
	// Before and GOMEMLIMIT are the soft memory limit before and after
	// (for Detect: what Init would set). math.MaxInt64 means no limit.
	Before     int64 `json:"gomemlimit_before_bytes"`
	GOMEMLIMIT int64 `json:"gomemlimit_bytes"`
	// Action is what tune did: ActionSet, ActionRestored or
	// ActionUnchanged. Reason says why in a few words.
	Action Action `json:"action"`
	Reason string `json:"reason"`
}

// The smallest GOMEMLIMIT that is not absurd: below either, the GC runs
// nearly all the time, so a ratio that gives one is reported.
const (
	tinyGOMEMLIMIT = 16 << 20 // bytes
	tinyRatio      = 0.1      // of the limit
)

// decideMemory is the GOMEMLIMIT policy, a pure function: ratio × the
// effective limit, truncated to whole bytes, unless the operator set
// GOMEMLIMIT, the policy is off, or no limit was found. Where tune had set
// GOMEMLIMIT and the limit went away (or the policy was switched off), it
// puts back the value from before. It returns the decision, what tune will
// have applied after it, and a warning for an absurdly small GOMEMLIMIT.
func decideMemory(lim cgroup.Limit[int64], c config, rt runtimeNow, prev applied) (MemoryReport, applied, error) {
	m := MemoryReport{
		Limit: lim.Value, Source: lim.Src, LevelsUp: lim.Level,
		Ratio: c.ratio, Before: rt.gomemlimit, GOMEMLIMIT: rt.gomemlimit, Action: ActionUnchanged,
	}
	restore := func(why string) {
		if prev.memSet {
			m.Action, m.GOMEMLIMIT = ActionRestored, prev.origMem
			m.Reason = why + ": GOMEMLIMIT back to its value from before tune set it"
			prev.memSet = false
		} else {
			m.Reason = why + ": left as it is"
		}
	}
	var warn error
	switch {
	case rt.envMem != "":
		m.Reason = fmt.Sprintf("GOMEMLIMIT=%s is set in the environment: the operator decides", rt.envMem)
	case c.ratio == 0:
		restore("memory policy is off (" + c.ratioFrom + ")")
	case lim.Err != nil:
		m.Reason = "the memory limit could not be read: left as it is"
	case lim.Value == 0:
		restore("no memory limit found")
	default:
		want := int64(c.ratio * float64(lim.Value))
		if want <= 0 {
			m.Reason = fmt.Sprintf("%v × %d bytes is not a usable limit: left as it is", c.ratio, lim.Value)
			warn = fmt.Errorf("memory ratio %v (%s) of the %d-byte limit gives a GOMEMLIMIT of 0: not applied", c.ratio, c.ratioFrom, lim.Value)
			break
		}
		if want < tinyGOMEMLIMIT || c.ratio < tinyRatio {
			warn = fmt.Errorf("memory ratio %v (%s) gives a GOMEMLIMIT of %s for a limit of %s: the GC will run nearly all the time; is the ratio right?",
				c.ratio, c.ratioFrom, bytesOrNone(want), bytesOrNone(lim.Value))
		}
		if !prev.memSet {
			prev.memSet, prev.origMem = true, rt.gomemlimit
		}
		m.Action, m.GOMEMLIMIT = ActionSet, want
		m.Reason = fmt.Sprintf("%v × %s limit from %s", c.ratio, levelName(lim.Level), lim.Src)
	}
	return m, prev, warn
}

// offMemory rewrites a decision for GOTUNE=off: nothing changes, and the
// reason says what tune would have done.
func offMemory(m MemoryReport) MemoryReport {
	var would string
	switch m.Action {
	case ActionSet:
		would = "it would set GOMEMLIMIT to " + bytesOrNone(m.GOMEMLIMIT) + " (" + m.Reason + ")"
	case ActionRestored:
		would = "it would put GOMEMLIMIT back to " + bytesOrNone(m.GOMEMLIMIT) + " (" + m.Reason + ")"
	default:
		would = "it would leave GOMEMLIMIT as it is (" + m.Reason + ")"
	}
	m.Action, m.GOMEMLIMIT = ActionUnchanged, m.Before
	m.Reason = "GOTUNE=off: tune changes nothing; " + would
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

// noMemoryLimit is GOMEMLIMIT's value when there is none.
const noMemoryLimit = math.MaxInt64
