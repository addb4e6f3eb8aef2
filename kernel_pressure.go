package tune

import (
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// PressureSignal names what raised the memory pressure level: one of the
// Signal constants, or "" when the level is none.
type PressureSignal string

const (
	// SignalRuntime: the Go runtime's own measurements (GC CPU share, the
	// GC CPU limiter, memory in use against GOMEMLIMIT).
	SignalRuntime PressureSignal = "runtime"
	// SignalPSIMemoryFull: the kernel's pressure stall information for the
	// group (cgroup v2 memory.pressure, "full" line): every task of the
	// group stalled on memory for a large share of the time.
	SignalPSIMemoryFull PressureSignal = "psi_memory_full"
	// SignalMemoryEventsHigh: the group went over memory.high and was
	// throttled into reclaim (cgroup v2 memory.events "high" rose).
	SignalMemoryEventsHigh PressureSignal = "memory_events_high"
	// SignalMemoryEventsMax: a charge hit memory.max and had to reclaim
	// first (cgroup v2 memory.events "max" rose).
	SignalMemoryEventsMax PressureSignal = "memory_events_max"
	// SignalMemoryFailcnt: usage hit memory.limit_in_bytes (cgroup v1
	// memory.failcnt rose), v1's counterpart of SignalMemoryEventsMax.
	SignalMemoryFailcnt PressureSignal = "memory_failcnt"
	// SignalOOMKill: the OOM killer killed a process of the group, or of an
	// ancestor group that has a memory limit (the pod), while this process
	// lived.
	SignalOOMKill PressureSignal = "oom_kill"
)

// kernelThresholds are the limits the kernel's signals are held to.
type kernelThresholds struct {
	// memoryFull is the share of time (0-1) in which every task of the
	// group stalled on memory, at or above which the level is High.
	memoryFull float64
}

// The kernel's signals, and why these thresholds. This is the one place
// they are set; the README explains them to users.
//
// Memory PSI "full" (cgroup v2 memory.pressure) is the share of wall time
// in which every non-idle task of the group was stalled on memory at once
// (direct reclaim, refaulting its own evicted pages, compaction, swap-in):
// time in which the group made no progress at all. A Go program whose
// heap fits shows 0; "some" rises first (one goroutine's thread in
// reclaim), "full" only when the whole group is stuck. systemd-oomd kills a
// group at 60% full over 10 s held for 30 s; tune warns far earlier:
//
//	High: full avg10 ≥ 10% (a tenth of the time nothing of the group ran),
//	      or the full stall time added between the two readings is ≥ 10% of
//	      the time between them (a stall that avg10, updated every 2 s and
//	      decaying, can miss between slow ticks)
//
// The memory events count what the kernel did at the group's limits, so
// any rise between two readings counts, for the group and for every
// visible ancestor with a memory limit (the pod's limit is often the one
// that bites; v2 counts are hierarchical, so a sibling's events show at
// the shared ancestor too):
//
//	High:     memory.events "high" or "max" rose (v2), memory.failcnt rose
//	          (v1): the group is at its limit and the kernel reclaims on
//	          its allocations. A program whose page cache fills the limit
//	          (logs, files) stays here too: the kernel works at the limit.
//	Critical: oom_kill rose (v2 memory.events; v1 memory.oom_control,
//	          which counts the group's own processes only): the OOM killer
//	          ran and this process may be next.
//
// Only a rise between two readings of this process counts, so kills before
// it started do not; a counter that fell (the group was made anew) is no
// rise. PSI "some", cpu and io pressure are exported but raise nothing.
var defaultKernelThresholds = kernelThresholds{memoryFull: 0.10}

// kernelPressure returns the level the kernel's signals call for at the
// reading cur, taken interval after prev (the zero Stats when cur is the
// first), and the signal that set it ("" for none). Of several signals at
// High, PSI is named first, then max, high and failcnt, nearest group
// first.
func kernelPressure(prev, cur *cgroup.Stats, interval time.Duration, th kernelThresholds) (PressureLevel, PressureSignal) {
	high := PressureSignal("")
	if stalled(prev, cur, interval, th.memoryFull) {
		high = SignalPSIMemoryFull
	}
	for i := range cur.Group[:min(max(cur.NGroups, 0), cgroup.MaxEventGroups)] {
		c := &cur.Group[i]
		if !c.OK {
			continue
		}
		p, ok := prev.EventsAt(c.Level)
		if !ok {
			continue
		}
		if c.OOMKill > p.OOMKill {
			return PressureCritical, SignalOOMKill
		}
		if high != "" {
			continue
		}
		switch {
		case c.Max > p.Max:
			high = SignalMemoryEventsMax
		case c.High > p.High:
			high = SignalMemoryEventsHigh
		case c.Failcnt > p.Failcnt:
			high = SignalMemoryFailcnt
		}
	}
	if high != "" {
		return PressureHigh, high
	}
	return PressureNone, ""
}

// stalled reports whether the group's memory full stall reached share:
// its avg10 now, or the stall time added since prev over interval.
func stalled(prev, cur *cgroup.Stats, interval time.Duration, share float64) bool {
	c, p := &cur.Memory, &prev.Memory
	if !c.OK || !c.HasFull {
		return false
	}
	if c.Full.Avg10 >= 100*share {
		return true
	}
	if !p.OK || !p.HasFull || interval <= 0 || c.Full.Total < p.Full.Total {
		return false
	}
	return float64(c.Full.Total-p.Full.Total) >= share*float64(interval.Microseconds())
}

// combinePressure joins the level of the runtime's rules (pressureLevel)
// with the kernel's (kernelPressure): the higher wins and names its
// signal; on a tie the runtime is named. One rule needs both: Go's memory
// in use at 90% of GOMEMLIMIT or more (pressureInUse: the heap cannot
// grow) while the kernel reclaims at the group's hard limit (memory.events
// max, v1 failcnt, rising) is Critical: the OOM kill is a few allocations
// away. (Seen in the VM lane's 4-CPU v1 guest: the heap at 109% of
// GOMEMLIMIT with the GC at 16% of four CPUs, failcnt rising, and the OOM
// killer a second later; and on the 2-CPU host, killed at 97% with the GC
// at 31%: the runtime's rules alone said High.) A group whose page cache
// fills the limit, with Go's memory well below GOMEMLIMIT, stays High.
func combinePressure(rt, kernel PressureLevel, signal PressureSignal, inUse float64) (PressureLevel, PressureSignal) {
	if kernel == PressureHigh && inUse >= pressureInUse && (signal == SignalMemoryEventsMax || signal == SignalMemoryFailcnt) {
		kernel = PressureCritical
	}
	switch {
	case kernel > rt:
		return kernel, signal
	case rt > PressureNone:
		return rt, SignalRuntime
	}
	return PressureNone, ""
}
