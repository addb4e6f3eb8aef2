package tune

import (
	"fmt"
	"maps"
	"math"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// The history is what the status page plots: one Sample per refresh tick
// in a preallocated ring, and the latest events beside it. The owner of
// the latest Init writes it; any number of readers copy it out at once
// (RecentHistory), without a lock the loop waits for.

// historySpan is how much time the ring covers at the refresh interval.
// historyMaxSamples bounds the ring for short intervals (a faster loop then
// covers less time) and historyMinSamples for long ones.
const (
	historySpan       = 15 * time.Minute
	historyMaxSamples = 3600
	historyMinSamples = 60
	maxEvents         = 100
)

// Sample is one point of the status page's history, taken by the refresh
// loop once per tick. The status page's JSON serves a list of them,
// oldest first; decode it into this type. Byte counts and limits are 0 when
// there is none or it is unknown.
type Sample struct {
	// Time is when the tick ran.
	Time time.Time `json:"time"`
	// HeapLive is the Go heap the last garbage collection found reachable
	// (/gc/heap/live:bytes).
	HeapLive uint64 `json:"heap_live_bytes"`
	// MemoryInUse is the Go memory in use, what GOMEMLIMIT limits: the
	// runtime's whole footprint (/memory/classes/total) less the heap
	// memory released to the operating system. Pressure uses the same.
	MemoryInUse uint64 `json:"memory_in_use_bytes"`
	// GOMEMLIMIT is the soft memory limit in effect; 0 when there is none.
	GOMEMLIMIT int64 `json:"gomemlimit_bytes"`
	// MemoryLimit is the tightest cgroup memory limit; 0 when there is none.
	MemoryLimit int64 `json:"memory_limit_bytes"`
	// MemoryUsage is the memory the kernel charges to the process's group
	// (page cache included); 0 when it was not read.
	MemoryUsage int64 `json:"memory_usage_bytes"`
	// GCCPUFraction is the share of the available CPU time the GC used over
	// the pressure window, as in PressureEvent.
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	// GOMAXPROCS is the GOMAXPROCS in effect.
	GOMAXPROCS int `json:"gomaxprocs"`
	// CPUQuota is the tightest CPU quota in CPUs; 0 when there is none.
	CPUQuota float64 `json:"cpu_quota_cores"`
	// Pressure is the memory pressure level ("none", "high", "critical").
	Pressure PressureLevel `json:"pressure"`
	// The kernel's pressure stall figures (PSI): the share of wall time, in
	// percent over the last 10 s (avg10), in which some (or all, full)
	// tasks of the group waited for memory, CPU or I/O. -1 when the kernel
	// does not give them or they were not read.
	PSIMemorySome float64 `json:"psi_memory_some_avg10"`
	PSIMemoryFull float64 `json:"psi_memory_full_avg10"`
	PSICPUSome    float64 `json:"psi_cpu_some_avg10"`
	PSIIOSome     float64 `json:"psi_io_some_avg10"`
}

// Event is one thing that happened, beside the samples: the status page
// lists the latest (at most 100), oldest first in its JSON form.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is one of "init" (Init ran), "limit" (the memory limit, the CPU
	// quota or GOMEMLIMIT changed), "gomaxprocs", "pressure" (the memory
	// pressure level changed), "rediscovery" (the cgroups were discovered
	// again), "previous-exit" (how the previous run ended, as Init found it
	// in the crash file: see PreviousExit) and "error".
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// The event kinds.
const (
	eventInit         = "init"
	eventLimit        = "limit"
	eventGOMAXPROCS   = "gomaxprocs"
	eventPressure     = "pressure"
	eventRediscovery  = "rediscovery"
	eventError        = "error"
	eventPreviousExit = "previous-exit"
)

// The words of a ring slot, in this order. Floats are stored as their bits.
const (
	wTime = iota // unix nanoseconds
	wHeapLive
	wMemoryInUse
	wGOMEMLIMIT
	wMemoryLimit
	wMemoryUsage
	wGCCPU
	wGOMAXPROCS
	wCPUQuota
	wPressure
	wPSIMemorySome
	wPSIMemoryFull
	wPSICPUSome
	wPSIIOSome
	wCount
)

// ringSlot is one sample. seq is 2n+1 while sample number n is being
// written into it and 2n+2 once it is complete, so a reader knows which
// sample it holds and whether it changed under it (a sequence lock whose
// words are all atomic, so the race detector sees no race either).
type ringSlot struct {
	seq atomic.Uint64
	w   [wCount]atomic.Uint64
}

// ring is a fixed-size history of samples: record overwrites the oldest,
// allocating nothing; readers copy out what is complete and drop the slots
// overwritten while they read. record must not run concurrently with
// itself; readers may run at any time.
type ring struct {
	interval time.Duration // the tick interval it was sized for
	slots    []ringSlot
	n        atomic.Uint64 // samples recorded (or being recorded) so far
}

// newRing makes a ring of capacity samples (at least 1).
func newRing(capacity int, interval time.Duration) *ring {
	return &ring{interval: interval, slots: make([]ringSlot, max(capacity, 1))}
}

// ringCapacity is how many samples cover historySpan at interval, within
// the bounds.
func ringCapacity(interval time.Duration) int {
	if interval <= 0 {
		return historyMinSamples
	}
	return int(min(max(int64(historySpan/interval), historyMinSamples), historyMaxSamples))
}

func (r *ring) record(s *Sample) {
	n := r.n.Add(1) - 1
	slot := &r.slots[n%uint64(len(r.slots))]
	slot.seq.Store(2*n + 1)
	w := &slot.w
	w[wTime].Store(uint64(s.Time.UnixNano()))
	w[wHeapLive].Store(s.HeapLive)
	w[wMemoryInUse].Store(s.MemoryInUse)
	w[wGOMEMLIMIT].Store(uint64(s.GOMEMLIMIT))
	w[wMemoryLimit].Store(uint64(s.MemoryLimit))
	w[wMemoryUsage].Store(uint64(s.MemoryUsage))
	w[wGCCPU].Store(math.Float64bits(s.GCCPUFraction))
	w[wGOMAXPROCS].Store(uint64(s.GOMAXPROCS))
	w[wCPUQuota].Store(math.Float64bits(s.CPUQuota))
	w[wPressure].Store(uint64(s.Pressure))
	w[wPSIMemorySome].Store(math.Float64bits(s.PSIMemorySome))
	w[wPSIMemoryFull].Store(math.Float64bits(s.PSIMemoryFull))
	w[wPSICPUSome].Store(math.Float64bits(s.PSICPUSome))
	w[wPSIIOSome].Store(math.Float64bits(s.PSIIOSome))
	slot.seq.Store(2*n + 2)
}

// samples appends the complete samples to dst, oldest first, and returns
// it. A slot rewritten while it was being copied is left out, so a slow
// reader gets fewer samples, never a torn one.
func (r *ring) samples(dst []Sample) []Sample {
	end := r.n.Load()
	start := uint64(0)
	if size := uint64(len(r.slots)); end > size {
		start = end - size
	}
	for n := start; n < end; n++ {
		slot := &r.slots[n%uint64(len(r.slots))]
		if slot.seq.Load() != 2*n+2 {
			continue // overwritten already, or still being written
		}
		var w [wCount]uint64
		for i := range w {
			w[i] = slot.w[i].Load()
		}
		if slot.seq.Load() != 2*n+2 {
			continue // overwritten while it was copied
		}
		dst = append(dst, Sample{
			Time:          time.Unix(0, int64(w[wTime])).UTC(),
			HeapLive:      w[wHeapLive],
			MemoryInUse:   w[wMemoryInUse],
			GOMEMLIMIT:    int64(w[wGOMEMLIMIT]),
			MemoryLimit:   int64(w[wMemoryLimit]),
			MemoryUsage:   int64(w[wMemoryUsage]),
			GCCPUFraction: math.Float64frombits(w[wGCCPU]),
			GOMAXPROCS:    int(w[wGOMAXPROCS]),
			CPUQuota:      math.Float64frombits(w[wCPUQuota]),
			Pressure:      PressureLevel(w[wPressure]),
			PSIMemorySome: math.Float64frombits(w[wPSIMemorySome]),
			PSIMemoryFull: math.Float64frombits(w[wPSIMemoryFull]),
			PSICPUSome:    math.Float64frombits(w[wPSICPUSome]),
			PSIIOSome:     math.Float64frombits(w[wPSIIOSome]),
		})
	}
	return dst
}

// eventLog is a bounded list of events. Each add publishes a new immutable
// slice (events are rare); readers load it without a lock.
type eventLog struct {
	mu   sync.Mutex // writers only
	list atomic.Pointer[[]Event]
	max  int
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var old []Event
	if p := l.list.Load(); p != nil {
		old = *p
	}
	if len(old) >= l.max {
		old = old[len(old)-l.max+1:]
	}
	next := make([]Event, 0, len(old)+1)
	next = append(append(next, old...), e)
	l.list.Store(&next)
}

// events returns the events, oldest first. The slice is shared: callers
// must not modify it.
func (l *eventLog) events() []Event {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

// history is what the status page shows: the ring of samples and the
// latest events. It belongs to the owner of a live Init (owner.hist):
// that owner's loop alone writes the samples, the loop and Init the
// events, and Stop, Shutdown or the next Init, which end the loop, end the
// writing. The next Init's owner takes it over (startHistory), so the page
// keeps its past across Inits. Detect's owner has none: it records
// nothing. Readers (RecentHistory) copy it out without a lock.
type history struct {
	ring   *ring     // nil: no loop ever ran
	events *eventLog // one for the process, handed from owner to owner

	// The loop's alone.
	heap    [1]metrics.Sample
	last    Sample
	hasLast bool
	exit    string // the previous run's end already recorded as an event
}

// newHistory is the history for a loop at interval (0: none), taking
// over old's (nil: none): the ring is kept, or replaced by one sized for
// interval with the newest samples carried over. old's writer must have
// stopped.
func newHistory(old *history, interval time.Duration) *history {
	h := &history{}
	h.heap[0].Name = "/gc/heap/live:bytes"
	if old == nil {
		h.events = &eventLog{max: maxEvents}
	} else {
		h.events, h.ring, h.last, h.hasLast, h.exit = old.events, old.ring, old.last, old.hasLast, old.exit
	}
	if interval <= 0 || (h.ring != nil && h.ring.interval == interval) {
		return h
	}
	next := newRing(ringCapacity(interval), interval)
	if h.ring != nil {
		old := h.ring.samples(nil)
		for i := max(len(old)-len(next.slots), 0); i < len(old); i++ {
			next.record(&old[i])
		}
	}
	h.ring = next
	return h
}

// startHistory gives o, the owner a live Init has just built, its
// history, taking over old's (old may be nil). The errors build met and
// logged once become events now: build records nothing itself, since
// Detect runs it too.
func (o *owner) startHistory(old *owner) {
	var prev *history
	if old != nil {
		prev = old.hist
	}
	o.hist = newHistory(prev, o.c.refresh)
	now := time.Now()
	for _, msg := range slices.Sorted(maps.Keys(o.logged)) {
		o.hist.event(now, eventError, msg)
	}
}

// sample adds one sample, taken by the refresh loop at now: ev is the
// pressure measured in this tick and rep the published report (the
// limits in effect, GOMAXPROCS as tune recorded it). A change of a limit,
// GOMAXPROCS or the pressure level since the previous sample is also
// recorded as an event. k is the kernel's view of the group when hasK. In
// the steady state it allocates nothing. A nil h records nothing.
func (h *history) sample(now time.Time, ev PressureEvent, rep *Report, hasK bool, k *cgroup.Stats) {
	if h == nil || h.ring == nil {
		return
	}
	metrics.Read(h.heap[:])
	s := Sample{
		Time:          now,
		MemoryInUse:   ev.MemoryInUse,
		GOMEMLIMIT:    ev.GOMEMLIMIT,
		MemoryLimit:   rep.Memory.Limit,
		GCCPUFraction: ev.GCCPUFraction,
		GOMAXPROCS:    rep.CPU.GOMAXPROCS,
		CPUQuota:      rep.CPU.Quota,
		Pressure:      ev.Level,
		PSIMemorySome: -1, PSIMemoryFull: -1, PSICPUSome: -1, PSIIOSome: -1,
	}
	if v := h.heap[0].Value; v.Kind() == metrics.KindUint64 {
		s.HeapLive = v.Uint64()
	}
	if s.GOMEMLIMIT == math.MaxInt64 {
		s.GOMEMLIMIT = 0
	}
	if hasK {
		if k.Usage.OK {
			s.MemoryUsage = int64(min(k.Usage.Value, math.MaxInt64))
		}
		if k.Memory.OK {
			s.PSIMemorySome, s.PSIMemoryFull = k.Memory.Some.Avg10, k.Memory.Full.Avg10
		}
		if k.CPU.OK {
			s.PSICPUSome = k.CPU.Some.Avg10
		}
		if k.IO.OK {
			s.PSIIOSome = k.IO.Some.Avg10
		}
	}
	h.ring.record(&s)
	if h.hasLast {
		h.changes(h.last, s, ev)
	}
	h.last, h.hasLast = s, true
}

// changes records what changed from a to b as events.
func (h *history) changes(a, b Sample, ev PressureEvent) {
	if a.MemoryLimit != b.MemoryLimit || a.GOMEMLIMIT != b.GOMEMLIMIT {
		h.event(b.Time, eventLimit, fmt.Sprintf("memory limit %s → %s, GOMEMLIMIT %s → %s",
			bytesOrNone(a.MemoryLimit), bytesOrNone(b.MemoryLimit), bytesOrNone(a.GOMEMLIMIT), bytesOrNone(b.GOMEMLIMIT)))
	}
	if a.CPUQuota != b.CPUQuota {
		h.event(b.Time, eventLimit, fmt.Sprintf("CPU quota %s → %s", quotaOrNone(a.CPUQuota), quotaOrNone(b.CPUQuota)))
	}
	if a.GOMAXPROCS != b.GOMAXPROCS {
		h.event(b.Time, eventGOMAXPROCS, fmt.Sprintf("GOMAXPROCS %d → %d", a.GOMAXPROCS, b.GOMAXPROCS))
	}
	if a.Pressure != b.Pressure {
		h.event(b.Time, eventPressure, ev.String())
	}
}

// event records an event; a nil h (Detect's owner) records nothing.
func (h *history) event(at time.Time, kind, msg string) {
	if h != nil {
		h.events.add(Event{Time: at.UTC(), Kind: kind, Message: msg})
	}
}

// recordInit records what Init decided, its errors and how the previous
// run ended (once per previous run) as events.
func (h *history) recordInit(rep Report, prev Exit, hasPrev bool) {
	now := time.Now()
	h.event(now, eventInit, rep.String())
	for _, e := range rep.Errors {
		h.event(now, eventError, e)
	}
	if !hasPrev || h == nil {
		return
	}
	msg := fmt.Sprintf("the previous run (pid %d, %s) ended %s: %s", prev.PID, prev.Executable, prev.Kind, prev.Reason)
	if len(prev.LastWords) > 0 {
		msg += "; its last words: " + strings.Join(prev.LastWords, ", ")
	}
	if msg != h.exit {
		h.exit = msg
		h.event(now, eventPreviousExit, msg)
	}
}

// History is what the refresh loop recorded for the status page
// (github.com/runtimehooks/tune/status): a sample per tick and the latest
// events.
type History struct {
	// Interval is the refresh interval the samples were taken at; 0 when
	// no loop ever ran.
	Interval time.Duration
	// Samples cover the last 15 minutes (at most 3600), oldest first.
	Samples []Sample
	// Events are the latest (at most 100), oldest first.
	Events []Event
}

// RecentHistory returns the history the refresh loops of this process's
// Inits recorded: empty before Init. It takes no lock the loop waits for
// and never stops the world; the History is the caller's own copy.
func RecentHistory() History {
	o := current.Load()
	if o == nil || o.hist == nil {
		return History{}
	}
	h := o.hist
	out := History{Events: slices.Clone(h.events.events())}
	if h.ring != nil {
		out.Interval = h.ring.interval
		out.Samples = h.ring.samples(make([]Sample, 0, len(h.ring.slots)))
	}
	return out
}
