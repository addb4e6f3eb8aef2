package tune

// The kernel's own view of the process's memory group, as tune reports
// it: the group's memory usage, pressure stall information (PSI) and
// memory events. internal/cgroup reads them (stats.go); the loop reads
// them each tick and publishes the numbers through a sequence lock, so
// Current, the collector and the status page read them without a lock.

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// KernelReport is the kernel's own view of the process's memory group:
// how much memory the group uses (page cache, cgo and other processes
// included, not just Go's heap), its pressure stall information and its
// memory events. A part the kernel does not give here (cgroup v1 has no
// per-group PSI; old kernels lack some files) has Available false and a
// Note saying why.
type KernelReport struct {
	// MemoryUsage is the group's memory as the kernel charges it
	// (memory.current on v2, memory.usage_in_bytes on v1); MemoryPeak its
	// high-water mark (memory.peak, memory.max_usage_in_bytes). NotGo is
	// MemoryUsage less the Go memory in use: page cache, cgo allocations,
	// other processes in the group. All 0 when not read.
	MemoryUsage int64  `json:"memory_usage_bytes"`
	MemoryPeak  int64  `json:"memory_peak_bytes"`
	NotGo       int64  `json:"not_go_memory_bytes"`
	UsageNote   string `json:"usage_note,omitempty"`
	// Memory, CPU and IO are the group's pressure stall information.
	Memory PSIReport `json:"memory_pressure"`
	CPU    PSIReport `json:"cpu_pressure"`
	IO     PSIReport `json:"io_pressure"`
	// Events are the group's memory events.
	Events MemoryEventsReport `json:"memory_events"`
}

// PSIReport is one pressure file: the share of wall time, in percent over
// the last 10 seconds, in which some (or all: full) tasks of the group
// stalled waiting for the resource, and the stall time so far.
type PSIReport struct {
	Available bool          `json:"available"`
	Note      string        `json:"note,omitempty"`
	SomeAvg10 float64       `json:"some_avg10"`
	FullAvg10 float64       `json:"full_avg10"`
	SomeTotal time.Duration `json:"some_total_ns"`
	FullTotal time.Duration `json:"full_total_ns"`
}

// MemoryEventsReport counts what the kernel did at the group's memory
// limits (cgroup v2 memory.events; on v1, OOMKill is memory.oom_control's
// oom_kill and Max is memory.failcnt).
type MemoryEventsReport struct {
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
	High      uint64 `json:"high"`     // throttled for going over memory.high
	Max       uint64 `json:"max"`      // a charge hit memory.max (v1: failcnt)
	OOM       uint64 `json:"oom"`      // reclaim failed at memory.max
	OOMKill   uint64 `json:"oom_kill"` // processes the OOM killer killed
}

// kernelNotes fills the parts' availability and notes of k from s, as
// the reader found them when it opened the files.
func kernelNotes(s *cgroup.Stats) KernelReport {
	var k KernelReport
	note := func(a cgroup.Avail) string {
		if a.OK {
			return ""
		}
		return a.Reason
	}
	k.UsageNote = note(s.Usage.Avail)
	k.Memory.Available, k.Memory.Note = s.Memory.OK, note(s.Memory.Avail)
	k.CPU.Available, k.CPU.Note = s.CPU.OK, note(s.CPU.Avail)
	k.IO.Available, k.IO.Note = s.IO.OK, note(s.IO.Avail)
	k.Events.Available, k.Events.Note = s.Events.OK, note(s.Events)
	return k
}

// The words of the kernel cell, in this order. Floats are stored as their
// bits.
const (
	kFlags = iota // which parts were read: kHasUsage...
	kUsage
	kPeak
	kMemSome10
	kMemFull10
	kMemSomeTotal
	kMemFullTotal
	kCPUSome10
	kCPUFull10
	kCPUSomeTotal
	kCPUFullTotal
	kIOSome10
	kIOFull10
	kIOSomeTotal
	kIOFullTotal
	kHigh
	kMax
	kOOM
	kOOMKill
	kWords
)

const (
	kHasUsage = 1 << iota
	kHasPeak
	kHasMem
	kHasCPU
	kHasIO
	kHasEvents
)

// seqCell publishes up to 24 words from one writer to any number of
// readers without a lock: a sequence lock whose words are all atomic.
type seqCell struct {
	seq atomic.Uint64 // odd while a write is in progress
	w   [24]atomic.Uint64
}

func (c *seqCell) store(w []uint64) {
	c.seq.Add(1)
	for i, v := range w {
		c.w[i].Store(v)
	}
	c.seq.Add(1)
}

// load fills w with the latest words; false when nothing was stored yet.
func (c *seqCell) load(w []uint64) bool {
	for {
		s := c.seq.Load()
		if s&1 == 0 {
			for i := range w {
				w[i] = c.w[i].Load()
			}
			if c.seq.Load() == s {
				return s != 0
			}
		}
		runtime.Gosched()
	}
}

// storeKernel publishes the numbers of s.
func (c *seqCell) storeKernel(s *cgroup.Stats) {
	var w [kWords]uint64
	var flags uint64
	if s.Usage.OK {
		flags |= kHasUsage
		w[kUsage] = s.Usage.Value
	}
	if s.Peak.OK {
		flags |= kHasPeak
		w[kPeak] = s.Peak.Value
	}
	psi := func(p *cgroup.Pressure, bit uint64, at int) {
		if !p.OK {
			return
		}
		flags |= bit
		w[at], w[at+1] = math.Float64bits(p.Some.Avg10), math.Float64bits(p.Full.Avg10)
		w[at+2], w[at+3] = p.Some.Total, p.Full.Total
	}
	psi(&s.Memory, kHasMem, kMemSome10)
	psi(&s.CPU, kHasCPU, kCPUSome10)
	psi(&s.IO, kHasIO, kIOSome10)
	if g, ok := s.EventsAt(0); ok {
		flags |= kHasEvents
		w[kHigh], w[kMax], w[kOOM], w[kOOMKill] = g.High, g.Max, g.OOM, g.OOMKill
		if s.Version == 1 {
			w[kMax] = g.Failcnt
		}
	}
	w[kFlags] = flags
	c.store(w[:])
}

// kernelNumbers puts the latest published numbers into k (whose notes the
// snapshot holds), with inUse, the Go memory in use, for NotGo. It reports
// whether anything was published.
func (c *seqCell) kernelNumbers(k *KernelReport, inUse uint64) bool {
	var w [kWords]uint64
	if !c.load(w[:]) {
		return false
	}
	f := w[kFlags]
	k.MemoryUsage, k.MemoryPeak, k.NotGo = 0, 0, 0
	if f&kHasUsage != 0 {
		k.MemoryUsage = int64(min(w[kUsage], math.MaxInt64))
		if u := w[kUsage]; u > inUse && inUse > 0 {
			k.NotGo = int64(min(u-inUse, math.MaxInt64))
		}
	}
	if f&kHasPeak != 0 {
		k.MemoryPeak = int64(min(w[kPeak], math.MaxInt64))
	}
	psi := func(p *PSIReport, bit uint64, at int) {
		p.Available = f&bit != 0
		if !p.Available {
			p.SomeAvg10, p.FullAvg10, p.SomeTotal, p.FullTotal = 0, 0, 0, 0
			return
		}
		p.SomeAvg10, p.FullAvg10 = math.Float64frombits(w[at]), math.Float64frombits(w[at+1])
		p.SomeTotal, p.FullTotal = usDuration(w[at+2]), usDuration(w[at+3])
	}
	psi(&k.Memory, kHasMem, kMemSome10)
	psi(&k.CPU, kHasCPU, kCPUSome10)
	psi(&k.IO, kHasIO, kIOSome10)
	k.Events.Available = f&kHasEvents != 0
	k.Events.High, k.Events.Max, k.Events.OOM, k.Events.OOMKill = w[kHigh], w[kMax], w[kOOM], w[kOOMKill]
	return true
}

// usDuration turns a PSI total (microseconds) into a Duration, saturating.
func usDuration(us uint64) time.Duration {
	if us > math.MaxInt64/1000 {
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}
