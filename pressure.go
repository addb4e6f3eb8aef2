package tune

import (
	"fmt"
	"math"
	"runtime/metrics"
	"time"
)

// PressureLevel says how close the program is to a GC death spiral.
type PressureLevel int

const (
	// PressureNone: the heap is well below GOMEMLIMIT and the GC is cheap.
	PressureNone PressureLevel = iota
	// PressureHigh: the GC takes half of the CPU (or the runtime's GC CPU
	// limiter engaged), or the heap presses against GOMEMLIMIT while the GC
	// takes a large share of the CPU.
	PressureHigh
	// PressureCritical: the heap is at GOMEMLIMIT and the GC takes half of
	// the CPU or the limiter engaged: the program spends its time
	// collecting garbage and is close to being killed for memory.
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

// MarshalText writes the level as its String, so JSON shows "high".
func (l PressureLevel) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (l *PressureLevel) UnmarshalText(b []byte) error {
	for _, v := range []PressureLevel{PressureNone, PressureHigh, PressureCritical} {
		if string(b) == v.String() {
			*l = v
			return nil
		}
	}
	return fmt.Errorf("pressure level %q: want none, high or critical", b)
}

// PressureEvent describes the memory pressure at one moment.
type PressureEvent struct {
	Level          PressureLevel // the level now
	Previous       PressureLevel // the level before the latest change
	GCCPUFraction  float64       // share of the CPU time available (GOMAXPROCS × wall time) the GC used over the last 10s, idle-time marking excluded
	MemoryInUse    uint64        // Go memory in use, in bytes
	GOMEMLIMIT     int64         // the soft memory limit in effect (math.MaxInt64: none)
	LimiterEngaged bool          // the GC CPU limiter engaged within the window
	Time           time.Time     // when it was measured; zero before the first measurement
	// Signal names what set the level: SignalRuntime for the Go runtime's
	// own metrics (GC CPU, memory in use), or one of the kernel's signals;
	// "" at PressureNone.
	Signal PressureSignal
	// Stale is true when the loop no longer measures (it was stopped, or
	// missed three refresh intervals): the values are the last it took.
	Stale bool
}

// signals is the table of the Signal values: a value's index is how the
// pressure cell stores it (0 is none). TestPressureSignalsTable fails for a
// PressureSignal constant missing here, which the cell would turn into "".
var signals = [...]PressureSignal{"", SignalRuntime, SignalPSIMemoryFull, SignalMemoryEventsHigh,
	SignalMemoryEventsMax, SignalMemoryFailcnt, SignalOOMKill}

func signalIndex(s PressureSignal) int {
	for i, v := range signals {
		if v == s {
			return i
		}
	}
	return 0
}

// InUseFraction returns MemoryInUse as a share of GOMEMLIMIT, or 0 when
// there is no limit.
func (e PressureEvent) InUseFraction() float64 {
	if e.GOMEMLIMIT <= 0 || e.GOMEMLIMIT == math.MaxInt64 {
		return 0
	}
	return float64(e.MemoryInUse) / float64(e.GOMEMLIMIT)
}

// String describes the event in one line, with the numbers.
func (e PressureEvent) String() string {
	lim := "none"
	if e.GOMEMLIMIT > 0 && e.GOMEMLIMIT != math.MaxInt64 {
		lim = bytesOrNone(e.GOMEMLIMIT)
	}
	return fmt.Sprintf("memory pressure %s (was %s): Go memory in use %s of GOMEMLIMIT %s (%.0f%%), GC CPU %.0f%% over %v, GC CPU limiter engaged: %v",
		e.Level, e.Previous, bytesOrNone(int64(e.MemoryInUse)), lim, 100*e.InUseFraction(),
		100*e.GCCPUFraction, pressureWindow, e.LimiterEngaged)
}

// The pressure thresholds, checked against real programs in
// TestPressureSpiral. GC CPU is the share of the CPU time available to the
// program (GOMAXPROCS × wall time, /cpu/classes/total) that the GC used
// over the last pressureWindow: /cpu/classes/gc/total less
// /cpu/classes/gc/mark/idle, since idle-priority mark workers only use CPU
// nothing else wanted (counting them, a busy single-goroutine allocator
// with a 16 MiB heap on 2 CPUs shows 40%). Memory in use is what
// GOMEMLIMIT limits: /memory/classes/total less the heap memory released to
// the operating system.
//
// Measured on 2 CPUs: a busy service churning 200 MiB/s of garbage over a
// small steady heap spends 3-10% in the GC (a loop that does nothing
// but allocate, 20-27%, and on a loaded machine its assists can even engage
// the limiter); a program whose live heap grows into GOMEMLIMIT climbs past
// 30% within seconds, its heap held at 95-100% of the limit, and then the
// runtime's GC CPU limiter engages (and the heap overshoots the limit). The
// same service with GOGC=off, its heap held at 95% of GOMEMLIMIT on purpose,
// spends under 1% in the GC. So:
//
//	High:     GC CPU ≥ 50%, or the GC CPU limiter engaged within the
//	          window (the GC is eating the CPU), or in use ≥ 90% of
//	          GOMEMLIMIT and GC CPU ≥ 30%, or in use ≥ 110% of GOMEMLIMIT
//	          whatever the GC costs: the limit cannot be held (a program
//	          was seen at 170-190% of GOMEMLIMIT with the GC at 17%, where
//	          the rules before this one said none; a heap held at the
//	          limit with GOGC=off overshoots it by a few percent only)
//	Critical: in use ≥ 90% of GOMEMLIMIT and either the limiter engaged
//	          within the window or GC CPU ≥ 50% (the GC is eating the CPU
//	          because the heap cannot grow: an OOM kill is near); or in
//	          use past GOMEMLIMIT itself with GC CPU ≥ 30% (the live heap
//	          no longer fits: on a loaded machine the GC's share can stay
//	          near 30% while the heap overshoots the limit)
//
// The GC CPU share counts once the window holds pressureMinSpan of data, so
// the first GC cycles of a program do not count as a trend. A level is
// entered at once and left only after a lower level has been measured for
// a whole window, so a case on a boundary does not flap.
const (
	pressureWindow  = 10 * time.Second
	pressureMinSpan = time.Second
	pressureInUse   = 0.90 // of GOMEMLIMIT: the heap cannot grow
	pressureGCInUse = 0.30 // GC CPU share that is High with the heap at pressureInUse
	pressureGC      = 0.50 // GC CPU share that is High on its own, Critical at pressureInUse
	pressurePast    = 1.10 // of GOMEMLIMIT: the limit cannot be held, whatever the GC costs
)

// The runtime/metrics samples the meter reads, in this order.
const (
	mGCCPU = iota
	mGCIdleCPU
	mTotalCPU
	mMemTotal
	mMemReleased
	mLimiter
	mGOMEMLIMIT
	mCount
)

var pressureMetricNames = [mCount]string{
	mGCCPU:       "/cpu/classes/gc/total:cpu-seconds",
	mGCIdleCPU:   "/cpu/classes/gc/mark/idle:cpu-seconds",
	mTotalCPU:    "/cpu/classes/total:cpu-seconds",
	mMemTotal:    "/memory/classes/total:bytes",
	mMemReleased: "/memory/classes/heap/released:bytes",
	mLimiter:     "/gc/limiter/last-enabled:gc-cycle",
	mGOMEMLIMIT:  "/gc/gomemlimit:bytes",
}

// cpuSample is one point of the sliding window.
type cpuSample struct {
	at      time.Time
	gc      float64 // cumulative GC CPU seconds
	total   float64 // cumulative CPU seconds available
	limiter uint64  // the GC cycle the limiter last engaged in
}

// pressureMeter measures the memory pressure once per tick. It allocates
// its buffers once, in newPressureMeter, and nothing per measurement. It is
// not safe for concurrent use: the refresh loop owns it.
type pressureMeter struct {
	samples []metrics.Sample
	ring    []cpuSample // the window, oldest at next when full
	next    int
	full    bool
	level   PressureLevel  // the level reported
	prev    PressureLevel  // the level before the latest change
	below   int            // consecutive measurements under level
	calm    int            // how many measurements make a whole window
	changed bool           // the latest measurement changed the level
	signal  PressureSignal // what set the level reported
}

// newPressureMeter sizes the window for one measurement per interval.
func newPressureMeter(interval time.Duration) *pressureMeter {
	n := 2
	if interval > 0 {
		n = int(pressureWindow / interval)
	}
	n = min(max(n, 2), 1024)
	m := &pressureMeter{
		samples: make([]metrics.Sample, mCount),
		ring:    make([]cpuSample, n),
		calm:    n,
	}
	for i, name := range pressureMetricNames {
		m.samples[i].Name = name
	}
	return m
}

func (m *pressureMeter) uint(i int) uint64 {
	if v := m.samples[i].Value; v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}

func (m *pressureMeter) float(i int) float64 {
	if v := m.samples[i].Value; v.Kind() == metrics.KindFloat64 {
		return v.Float64()
	}
	return 0
}

// measure reads the runtime's metrics and returns the event for now, the
// runtime's rules joined with the kernel's level (kernelPressure); m.changed
// says whether the level changed.
func (m *pressureMeter) measure(now time.Time, kernel PressureLevel, kernelSignal PressureSignal) PressureEvent {
	metrics.Read(m.samples)
	cur := cpuSample{at: now, gc: m.float(mGCCPU) - m.float(mGCIdleCPU), total: m.float(mTotalCPU), limiter: m.uint(mLimiter)}

	// The oldest sample in the ring, one window ago once the ring is full.
	oldest := m.ring[0]
	if m.full {
		oldest = m.ring[m.next]
	}
	if !m.full && m.next == 0 {
		oldest = cur
	}
	m.ring[m.next] = cur
	m.next++
	if m.next == len(m.ring) {
		m.next, m.full = 0, true
	}

	ev := PressureEvent{Time: now}
	if d := cur.total - oldest.total; d > 0 && cur.at.Sub(oldest.at) >= min(pressureMinSpan, pressureWindow) {
		ev.GCCPUFraction = min(max((cur.gc-oldest.gc)/d, 0), 1)
	}
	ev.LimiterEngaged = cur.limiter != oldest.limiter
	total, released := m.uint(mMemTotal), m.uint(mMemReleased)
	if total > released {
		ev.MemoryInUse = total - released
	}
	ev.GOMEMLIMIT = int64(min(m.uint(mGOMEMLIMIT), math.MaxInt64))

	inUse := ev.InUseFraction()
	raw, sig := combinePressure(pressureLevel(inUse, ev.GCCPUFraction, ev.LimiterEngaged), kernel, kernelSignal, inUse)
	m.changed = m.settle(raw, sig)
	ev.Level, ev.Previous, ev.Signal = m.level, m.prev, m.signal
	return ev
}

// settle moves the reported level towards raw, the level of one
// measurement set by sig: up at once, down only after a whole window of
// lower ones. The signal reported is the one of the level entered. It
// reports whether the level changed.
func (m *pressureMeter) settle(raw PressureLevel, sig PressureSignal) bool {
	was := m.level
	switch {
	case raw > m.level:
		m.level, m.signal, m.below = raw, sig, 0
	case raw < m.level:
		m.below++
		if m.below >= m.calm {
			m.level, m.signal, m.below = raw, sig, 0
		}
	default:
		m.below = 0
	}
	if m.level != was {
		m.prev = was
	}
	return m.level != was
}

// pressureLevel applies the thresholds to one measurement.
func pressureLevel(inUse, gc float64, limiter bool) PressureLevel {
	full := inUse >= pressureInUse
	switch {
	case full && (limiter || gc >= pressureGC), inUse >= 1 && gc >= pressureGCInUse:
		return PressureCritical
	case limiter, gc >= pressureGC, full && gc >= pressureGCInUse, inUse >= pressurePast:
		return PressureHigh
	}
	return PressureNone
}

// pressureCell publishes the latest PressureEvent from the loop (its only
// writer) to any number of readers, without a lock and without allocating
// (a seqCell).
type pressureCell struct{ c seqCell }

const (
	pFlags = iota // level, previous, limiter, signal: one byte each
	pGCCPU        // float64 bits
	pInUse        // bytes
	pLimit        // GOMEMLIMIT
	pTime         // unix ns; 0 for the zero time
	pWords
)

func (c *pressureCell) store(ev PressureEvent) {
	var limiter uint64
	if ev.LimiterEngaged {
		limiter = 1
	}
	var w [pWords]uint64
	if !ev.Time.IsZero() {
		w[pTime] = uint64(ev.Time.UnixNano())
	}
	w[pFlags] = uint64(ev.Level)&0xff | uint64(ev.Previous)&0xff<<8 | limiter<<16 | uint64(signalIndex(ev.Signal))<<24
	w[pGCCPU] = math.Float64bits(ev.GCCPUFraction)
	w[pInUse] = ev.MemoryInUse
	w[pLimit] = uint64(ev.GOMEMLIMIT)
	c.c.store(w[:])
}

func (c *pressureCell) load() PressureEvent {
	var w [pWords]uint64
	c.c.load(w[:])
	ev := PressureEvent{
		Level:          PressureLevel(w[pFlags] & 0xff),
		Previous:       PressureLevel(w[pFlags] >> 8 & 0xff),
		LimiterEngaged: w[pFlags]>>16&1 == 1,
		Signal:         signals[w[pFlags]>>24&0xff%uint64(len(signals))],
		GCCPUFraction:  math.Float64frombits(w[pGCCPU]),
		MemoryInUse:    w[pInUse],
		GOMEMLIMIT:     int64(w[pLimit]),
	}
	if w[pTime] != 0 {
		ev.Time = time.Unix(0, int64(w[pTime]))
	}
	return ev
}

// Pressure returns the latest memory pressure measurement, taken by Init's
// refresh loop once per refresh interval: use it in a health check or to
// shed load. Its Time is zero when no measurement was taken (before Init,
// the loop disabled, or GOTUNE=off). Stale is true when the measurement is
// not fresh: the loop was stopped (Stop, Shutdown) or has missed three
// intervals. It takes no lock and does not allocate.
func Pressure() PressureEvent {
	o := current.Load()
	if o == nil {
		return PressureEvent{}
	}
	ev := o.press.load()
	if !ev.Time.IsZero() {
		ev.Stale = o.state.Load() != loopRunning || time.Since(ev.Time) > staleAfter(o.c.refresh)
	}
	return ev
}
