package tune

// The kernel's own view of the process's memory group, as tune reports
// it: the group's memory usage, pressure stall information (PSI) and
// memory events. internal/cgroup reads them (stats.go); the loop reads
// them each tick and publishes the numbers through a sequence lock, so
// Current, the collector and the status page read them without a lock.

import (
	"math"
	"runtime"
	"slices"
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
	for _, sig := range kernelSignals {
		if sig.note != nil {
			sig.note(&k, s)
		}
	}
	return k
}

// availNote is the note of a part: "" when it was read.
func availNote(a cgroup.Avail) string {
	if a.OK {
		return ""
	}
	return a.Reason
}

// kernelSignal is one part of the kernel's view of the group, and the one
// place that says everything about it: how it is read from a reading of
// internal/cgroup into the kernel cell's words (read), how those words are
// shown in the KernelReport (show: Current, the status page) and noted when
// the host lacks the part (note), and which metrics it is exported as.
// Adding a part is one entry in kernelSignals plus its parser in
// internal/cgroup; the cell's layout follows from the table.
type kernelSignal struct {
	name  string // for tests and messages
	words int    // how many of kwords' words it uses
	// read returns the part of s as words and whether the part was read
	// this time.
	read func(s *cgroup.Stats) (kwords, bool)
	// show returns k with the words put in; ok is read's answer, inUse the
	// Go memory in use. It must set every number of k that it owns, also
	// when !ok. k goes by value: a pointer through a func value escapes,
	// and Current must not allocate for it.
	show func(k KernelReport, w kwords, ok bool, inUse uint64) KernelReport
	// note sets the part's availability note in k from s (nil: none).
	note func(k *KernelReport, s *cgroup.Stats)
	// export lists the series the part is exported as when it was read.
	export []kernelSeries
}

// kernelSeries is one exported series of a kernel signal: a metric, the
// label values and how its value comes from the part's words.
type kernelSeries struct {
	metric *kernelMetric
	labels []string
	value  func(w kwords) float64
}

// kwords are one signal's words in the cell (up to four; floats as their
// bits). Passed by value, so the table's functions make nothing escape.
type kwords [4]uint64

// kernelMetric is one metric family the kernel's signals are exported as;
// several signals may share one (the PSI files, by resource).
type kernelMetric struct {
	name, help string
	labels     []string
	counter    bool
}

var (
	metricMemoryUsage = &kernelMetric{name: "gotune_cgroup_memory_usage_bytes",
		help: "The memory the kernel charges to the process's cgroup (memory.current, v1 memory.usage_in_bytes): Go's memory, page cache, cgo and other processes in the group."}
	metricPressure = &kernelMetric{name: "gotune_cgroup_pressure_seconds_total",
		help:   "Time tasks of the process's cgroup stalled waiting for a resource (cgroup v2 pressure stall information: memory.pressure, cpu.pressure, io.pressure); kind some: at least one task, full: all at once. Absent where the kernel does not give it (cgroup v1).",
		labels: []string{"resource", "kind"}, counter: true}
	metricMemoryEvents = &kernelMetric{name: "gotune_cgroup_memory_events_total",
		help:   "What the kernel did at the process's cgroup memory limits (cgroup v2 memory.events: high, max, oom, oom_kill; on v1 max is memory.failcnt and oom_kill memory.oom_control's).",
		labels: []string{"event"}, counter: true}
)

// kernelSignals is the table of the kernel's signals, in the order the
// cell stores them and the collector exports them.
var kernelSignals = [...]kernelSignal{
	{
		name: "memory_usage", words: 1,
		read: func(s *cgroup.Stats) (kwords, bool) { return kwords{s.Usage.Value}, s.Usage.OK },
		show: func(k KernelReport, w kwords, ok bool, inUse uint64) KernelReport {
			k.MemoryUsage, k.NotGo = 0, 0
			if ok {
				k.MemoryUsage = int64(min(w[0], math.MaxInt64))
				if w[0] > inUse && inUse > 0 {
					k.NotGo = int64(min(w[0]-inUse, math.MaxInt64))
				}
			}
			return k
		},
		note:   func(k *KernelReport, s *cgroup.Stats) { k.UsageNote = availNote(s.Usage.Avail) },
		export: []kernelSeries{{metricMemoryUsage, nil, func(w kwords) float64 { return float64(w[0]) }}},
	},
	{
		name: "memory_peak", words: 1,
		read: func(s *cgroup.Stats) (kwords, bool) { return kwords{s.Peak.Value}, s.Peak.OK },
		show: func(k KernelReport, w kwords, ok bool, _ uint64) KernelReport {
			k.MemoryPeak = 0
			if ok {
				k.MemoryPeak = int64(min(w[0], math.MaxInt64))
			}
			return k
		},
	},
	psiSignal("memory", func(s *cgroup.Stats) *cgroup.Pressure { return &s.Memory }),
	psiSignal("cpu", func(s *cgroup.Stats) *cgroup.Pressure { return &s.CPU }),
	psiSignal("io", func(s *cgroup.Stats) *cgroup.Pressure { return &s.IO }),
	{
		// The process's own group's counts; v1's failcnt stands for max.
		name: "memory_events", words: 4,
		read: func(s *cgroup.Stats) (kwords, bool) {
			g, ok := s.EventsAt(0)
			w := kwords{g.High, g.Max, g.OOM, g.OOMKill}
			if s.Version == 1 {
				w[1] = g.Failcnt
			}
			return w, ok
		},
		show: func(k KernelReport, w kwords, ok bool, _ uint64) KernelReport {
			k.Events.Available = ok
			k.Events.High, k.Events.Max, k.Events.OOM, k.Events.OOMKill = w[0], w[1], w[2], w[3]
			return k
		},
		note: func(k *KernelReport, s *cgroup.Stats) {
			k.Events.Available, k.Events.Note = s.Events.OK, availNote(s.Events)
		},
		export: []kernelSeries{
			{metricMemoryEvents, []string{"high"}, func(w kwords) float64 { return float64(w[0]) }},
			{metricMemoryEvents, []string{"max"}, func(w kwords) float64 { return float64(w[1]) }},
			{metricMemoryEvents, []string{"oom"}, func(w kwords) float64 { return float64(w[2]) }},
			{metricMemoryEvents, []string{"oom_kill"}, func(w kwords) float64 { return float64(w[3]) }},
		},
	},
}

// psiOf is k's report of the pressure file of resource (a direct call, so
// k does not escape).
func psiOf(k *KernelReport, resource string) *PSIReport {
	switch resource {
	case "cpu":
		return &k.CPU
	case "io":
		return &k.IO
	}
	return &k.Memory
}

// psiSignal is the entry of one pressure file: avg10 of some and full,
// then their totals (microseconds).
func psiSignal(resource string, part func(*cgroup.Stats) *cgroup.Pressure) kernelSignal {
	return kernelSignal{
		name: "psi_" + resource, words: 4,
		read: func(s *cgroup.Stats) (kwords, bool) {
			p := part(s)
			return kwords{math.Float64bits(p.Some.Avg10), math.Float64bits(p.Full.Avg10), p.Some.Total, p.Full.Total}, p.OK
		},
		show: func(k KernelReport, w kwords, ok bool, _ uint64) KernelReport {
			p := psiOf(&k, resource)
			p.Available = ok
			p.SomeAvg10, p.FullAvg10, p.SomeTotal, p.FullTotal = 0, 0, 0, 0
			if ok {
				p.SomeAvg10, p.FullAvg10 = math.Float64frombits(w[0]), math.Float64frombits(w[1])
				p.SomeTotal, p.FullTotal = usDuration(w[2]), usDuration(w[3])
			}
			return k
		},
		note: func(k *KernelReport, s *cgroup.Stats) {
			p := psiOf(k, resource)
			p.Available, p.Note = part(s).OK, availNote(part(s).Avail)
		},
		export: []kernelSeries{
			{metricPressure, []string{resource, "some"}, func(w kwords) float64 { return float64(w[2]) / 1e6 }},
			{metricPressure, []string{resource, "full"}, func(w kwords) float64 { return float64(w[3]) / 1e6 }},
		},
	}
}

// kernelAt[i] is where kernelSignals[i]'s words start in the cell; word 0
// holds a bit per signal that was read. kernelWords is the cell's length.
var kernelAt, kernelWords = kernelLayout()

func kernelLayout() ([len(kernelSignals)]int, int) {
	var at [len(kernelSignals)]int
	n := 1
	for i, s := range kernelSignals {
		if s.words < 1 || s.words > len(kwords{}) {
			panic("tune: kernel signal " + s.name + ": words out of range")
		}
		at[i] = n
		n += s.words
	}
	if n > cellWords || len(kernelSignals) > 64 {
		panic("tune: the kernel signals take more words than a seqCell holds")
	}
	return at, n
}

// kernelMetrics lists the metric families of kernelSignals, once each, in
// the order they first appear.
func kernelMetrics() []*kernelMetric {
	var ms []*kernelMetric
	for _, s := range kernelSignals {
		for _, e := range s.export {
			if !slices.Contains(ms, e.metric) {
				ms = append(ms, e.metric)
			}
		}
	}
	return ms
}

// cellWords is how many words a seqCell holds.
const cellWords = 24

// seqCell publishes up to cellWords words from one writer to any number
// of readers without a lock: a sequence lock whose words are all atomic.
type seqCell struct {
	seq atomic.Uint64 // odd while a write is in progress
	w   [cellWords]atomic.Uint64
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
	var w [cellWords]uint64
	for i, sig := range kernelSignals {
		v, ok := sig.read(s)
		copy(w[kernelAt[i]:kernelAt[i]+sig.words], v[:])
		if ok {
			w[0] |= 1 << i
		}
	}
	c.store(w[:kernelWords])
}

// loadKernel fills w with the latest published words; false when nothing
// was published.
func (c *seqCell) loadKernel(w *[cellWords]uint64) bool { return c.load(w[:kernelWords]) }

// kernelWordsOf returns signal i's words in w and whether it was read.
func kernelWordsOf(w *[cellWords]uint64, i int) (kwords, bool) {
	var v kwords
	copy(v[:], w[kernelAt[i]:kernelAt[i]+kernelSignals[i].words])
	return v, w[0]&(1<<i) != 0
}

// kernelNumbers puts the latest published numbers into k (whose notes the
// snapshot holds), with inUse, the Go memory in use, for NotGo. It reports
// whether anything was published.
func (c *seqCell) kernelNumbers(k *KernelReport, inUse uint64) bool {
	var w [cellWords]uint64
	if !c.loadKernel(&w) {
		return false
	}
	for i, sig := range kernelSignals {
		words, ok := kernelWordsOf(&w, i)
		*k = sig.show(*k, words, ok, inUse)
	}
	return true
}

// usDuration turns a PSI total (microseconds) into a Duration, saturating.
func usDuration(us uint64) time.Duration {
	if us > math.MaxInt64/1000 {
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}
