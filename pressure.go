package tune

import "time"

// PressureLevel says how close the program is to a GC death spiral.
type PressureLevel int

const (
	// PressureNone: the heap is well below GOMEMLIMIT and the GC is cheap.
	PressureNone PressureLevel = iota
	// PressureHigh: the heap presses against GOMEMLIMIT or the GC takes a
	// large share of the CPU.
	PressureHigh
	// PressureCritical: both, or the GC CPU limiter has engaged: the
	// program is spending its time collecting garbage.
	PressureCritical
)

// String returns "none", "high" or "critical".
func (l PressureLevel) String() string {
	switch l {
	case PressureNone:
		return "none"
	case PressureHigh:
		return "high"
	case PressureCritical:
		return "critical"
	}
	return "unknown"
}

// PressureEvent describes the memory pressure at one moment.
type PressureEvent struct {
	Level          PressureLevel // the level now
	Previous       PressureLevel // the level before this change
	GCCPUFraction  float64       // share of CPU time spent in the GC over the sliding window
	MemoryInUse    uint64        // Go memory in use, in bytes
	GOMEMLIMIT     int64         // the soft memory limit in effect
	LimiterEngaged bool          // the GC CPU limiter engaged within the window
	Time           time.Time     // when it was measured
}

// Pressure returns the latest memory pressure measurement. (Stub: the
// live-limits issue fills it in.)
func Pressure() PressureEvent { return PressureEvent{} }
