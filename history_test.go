package tune

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sampleAt is a sample whose every field is derived from i, so a reader
// can tell a torn sample (fields from two writes) from a whole one.
func sampleAt(i int) Sample {
	f := float64(i)
	return Sample{
		Time:          time.Unix(1_700_000_000+int64(i), 0).UTC(),
		HeapLive:      uint64(i) * 10,
		MemoryInUse:   uint64(i) * 11,
		GOMEMLIMIT:    int64(i) * 12,
		MemoryLimit:   int64(i) * 13,
		MemoryUsage:   int64(i) * 14,
		GCCPUFraction: f / 1000,
		GOMAXPROCS:    i,
		CPUQuota:      f / 2,
		Pressure:      PressureLevel(i % 3),
		PSIMemorySome: f + 0.25,
		PSIMemoryFull: f + 0.5,
		PSICPUSome:    f + 0.75,
		PSIIOSome:     -1,
	}
}

func TestRingWrapAround(t *testing.T) {
	r := newRing(5, time.Second)
	if got := r.samples(nil); len(got) != 0 {
		t.Fatalf("empty ring: %d samples", len(got))
	}
	for i := range 3 {
		s := sampleAt(i)
		r.record(&s)
	}
	check := func(first, n int) {
		t.Helper()
		got := r.samples(nil)
		if len(got) != n {
			t.Fatalf("%d samples, want %d", len(got), n)
		}
		for k, s := range got {
			if want := sampleAt(first + k); s != want {
				t.Errorf("sample %d = %+v, want %+v", k, s, want)
			}
		}
	}
	check(0, 3)
	for i := 3; i < 12; i++ { // past two wraps
		s := sampleAt(i)
		r.record(&s)
	}
	check(7, 5)
}

func TestRingCapacity(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		want     int
	}{
		{time.Second, 900},
		{500 * time.Millisecond, 1800},
		{100 * time.Millisecond, historyMaxSamples},
		{time.Millisecond, historyMaxSamples},
		{time.Minute, historyMinSamples},
		{0, historyMinSamples},
		{-1, historyMinSamples},
	} {
		if got := ringCapacity(c.interval); got != c.want {
			t.Errorf("ringCapacity(%v) = %d, want %d", c.interval, got, c.want)
		}
	}
}

func TestRingRecordAllocs(t *testing.T) {
	r := newRing(900, time.Second)
	s := sampleAt(1)
	if n := testing.AllocsPerRun(1000, func() { r.record(&s) }); n != 0 {
		t.Errorf("record allocates %v times, want 0", n)
	}
}

// TestRingConcurrentReads has readers copy the ring while one writer
// laps it many times: every sample a reader gets is whole (all its fields
// from one write) and in order. Run with -race.
func TestRingConcurrentReads(t *testing.T) {
	r := newRing(16, time.Second)
	const writes = 20000
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, got atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]Sample, 0, 16)
			for !done.Load() {
				ss := r.samples(buf[:0])
				reads.Add(1)
				got.Add(int64(len(ss)))
				last := -1
				for _, s := range ss {
					i := s.GOMAXPROCS
					if s != sampleAt(i) {
						t.Errorf("torn sample: %+v is not sampleAt(%d)", s, i)
						return
					}
					if i <= last {
						t.Errorf("samples out of order: %d after %d", i, last)
						return
					}
					last = i
				}
			}
		}()
	}
	for i := range writes {
		s := sampleAt(i)
		r.record(&s)
	}
	// Let the readers see the last state at least once.
	for n := reads.Load(); reads.Load() < n+8; {
		time.Sleep(time.Millisecond) // waiting for the readers to go round, bounded by their loop
	}
	done.Store(true)
	wg.Wait()
	if got.Load() == 0 {
		t.Fatal("the readers never saw a sample")
	}
	if ss := r.samples(nil); len(ss) != 16 || ss[15].GOMAXPROCS != writes-1 {
		t.Errorf("after the writes: %d samples, last %+v", len(ss), ss[len(ss)-1])
	}
	t.Logf("%d reads, %d samples copied", reads.Load(), got.Load())
}

func TestEventLogBound(t *testing.T) {
	l := eventLog{max: 100}
	if l.events() != nil {
		t.Fatal("a new log has events")
	}
	for i := range 250 {
		l.add(Event{Kind: eventError, Message: fmt.Sprint(i)})
	}
	ev := l.events()
	if len(ev) != 100 || ev[0].Message != "150" || ev[99].Message != "249" {
		t.Fatalf("%d events, first %q, last %q; want 100, 150, 249", len(ev), ev[0].Message, ev[len(ev)-1].Message)
	}
	// A slice handed out is never changed by later adds.
	l.add(Event{Message: "later"})
	if ev[0].Message != "150" || ev[99].Message != "249" {
		t.Error("an add changed a slice handed out before")
	}
}

// reportWith is a report with a memory limit, a CPU quota and GOMAXPROCS.
func reportWith(limit int64, quota float64, procs int) Report {
	var r Report
	r.Memory.Limit, r.CPU.Quota, r.CPU.GOMAXPROCS = limit, quota, procs
	return r
}

// read is what RecentHistory returns for h.
func (h *history) read() History {
	o := &owner{hist: h}
	old := current.Swap(o)
	defer current.Store(old)
	return RecentHistory()
}

// TestRecordHistory: the loop's samples carry what it measured, changes
// become events, and the next owner's history, at a new interval, keeps
// the newest samples and the events.
func TestRecordHistory(t *testing.T) {
	isolate(t)
	runtime.GC() // /gc/heap/live is 0 before the first collection
	h := newHistory(nil, time.Second)
	now := time.Unix(1_700_000_000, 0)
	ev := PressureEvent{MemoryInUse: 100 << 20, GOMEMLIMIT: math.MaxInt64, GCCPUFraction: 0.03}
	rep := reportWith(256<<20, 1.5, 2)
	for i := range 5 {
		h.sample(now.Add(time.Duration(i)*time.Second), ev, &rep, false, nil)
	}
	got := h.read()
	ss, evs := got.Samples, got.Events
	if len(ss) != 5 || got.Interval != time.Second {
		t.Fatalf("%d samples at %v, want 5 at 1s", len(ss), got.Interval)
	}
	s := ss[4]
	if !s.Time.Equal(now.Add(4*time.Second)) || s.MemoryInUse != 100<<20 || s.GOMEMLIMIT != 0 || s.MemoryLimit != 256<<20 ||
		s.CPUQuota != 1.5 || s.GOMAXPROCS != 2 || s.GCCPUFraction != 0.03 || s.HeapLive == 0 || s.PSIMemorySome != -1 {
		t.Errorf("sample: %+v", s)
	}
	if len(evs) != 0 {
		t.Errorf("events without a change: %+v", evs)
	}

	rep = reportWith(128<<20, 0, 1)
	ev.GOMEMLIMIT, ev.Level, ev.Previous = 115<<20, PressureHigh, PressureNone
	h.sample(now.Add(5*time.Second), ev, &rep, false, nil)
	var kinds []string
	for _, e := range h.read().Events {
		kinds = append(kinds, e.Kind+": "+e.Message)
	}
	all := strings.Join(kinds, "\n")
	for _, want := range []string{
		"limit: memory limit 256MiB → 128MiB, GOMEMLIMIT none → 115MiB",
		"limit: CPU quota 1.5 → none",
		"gomaxprocs: GOMAXPROCS 2 → 1",
		"pressure: memory pressure high (was none)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("events lack %q:\n%s", want, all)
		}
	}

	// The next Init's loop, at another interval: a new ring, the samples
	// and events carried over.
	next := newHistory(h, 2*time.Second)
	next.sample(now.Add(6*time.Second), ev, &rep, false, nil)
	got = next.read()
	ss = got.Samples
	if len(ss) != 7 || got.Interval != 2*time.Second || ss[0].MemoryLimit != 256<<20 || ss[6].MemoryLimit != 128<<20 || len(got.Events) != 4 {
		t.Errorf("after a new interval: %d samples at %v, %d events", len(ss), got.Interval, len(got.Events))
	}
	// An Init without a loop keeps what there is.
	if got := newHistory(next, 0).read(); len(got.Samples) != 7 || got.Interval != 2*time.Second {
		t.Errorf("without a loop: %d samples at %v", len(got.Samples), got.Interval)
	}
	// A copy is the caller's own.
	got.Events[0].Message = "changed"
	if next.read().Events[0].Message == "changed" {
		t.Error("RecentHistory hands out the events it keeps")
	}
}

// TestRecentHistoryBeforeInit: nothing before Init; a nil history (the
// owner Detect builds) records nothing.
func TestRecentHistoryBeforeInit(t *testing.T) {
	isolate(t)
	current.Store(nil)
	if h := RecentHistory(); h.Interval != 0 || h.Samples != nil || h.Events != nil {
		t.Errorf("before Init: %+v", h)
	}
	var h *history
	h.event(time.Now(), eventError, "x")
	h.sample(time.Now(), PressureEvent{}, &Report{}, false, nil)
	h.recordInit(Report{}, Exit{Kind: ExitCrashed}, true)
}

// TestRecordHistoryAllocs: a steady sample allocates nothing.
func TestRecordHistoryAllocs(t *testing.T) {
	h := newHistory(nil, time.Second)
	now := time.Now()
	ev := PressureEvent{MemoryInUse: 1 << 20, GOMEMLIMIT: 1 << 30}
	rep := reportWith(2<<30, 2, 2)
	h.sample(now, ev, &rep, false, nil)
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		h.sample(now, ev, &rep, false, nil)
	}); n != 0 {
		t.Errorf("recording a sample allocates %v times, want 0", n)
	}
}

// BenchmarkRecordHistory is the history's share of a refresh tick.
func BenchmarkRecordHistory(b *testing.B) {
	h := newHistory(nil, time.Second)
	now := time.Now()
	ev := PressureEvent{MemoryInUse: 1 << 20, GOMEMLIMIT: 1 << 30}
	rep := reportWith(2<<30, 2, 2)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		h.sample(now, ev, &rep, false, nil)
	}
}

// TestHistoryFromLoop drives the refresh loop over a snapshot: each tick
// is a sample, a limit change and a file that turned to garbage are
// events, and Init's report is one.
func TestHistoryFromLoop(t *testing.T) {
	isolate(t)
	root, app := v2Tree(t, "314572800\n", "100000 100000\n")
	c, errs := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := fixtureLoop(t, c)
	r.hist.recordInit(Current(), Exit{}, false)
	now := time.Now()
	tick := func() {
		now = now.Add(c.refresh)
		r.tick(now)
	}
	tick()
	write(t, filepath.Join(app, "memory.max"), "209715200\n")
	tick()
	write(t, filepath.Join(app, "memory.max"), "garbage\n")
	tick()
	tick()

	h := RecentHistory()
	ss, evs := h.Samples, h.Events
	if len(ss) != 4 || ss[0].MemoryLimit != 314572800 || ss[1].MemoryLimit != 209715200 || ss[3].MemoryLimit != 209715200 {
		t.Errorf("%d samples: %+v", len(ss), ss)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Kind+": "+e.Message)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"init: tune: cgroup v2; memory limit 300MiB",
		"limit: memory limit 300MiB → 200MiB, GOMEMLIMIT 270MiB → 180MiB",
		"error: " + filepath.Join(app, "memory.max"),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("events lack %q:\n%s", want, all)
		}
	}
	if n := strings.Count(all, "error: "); n != 1 {
		t.Errorf("the garbage file is %d events, want 1 (as it is logged once):\n%s", n, all)
	}
}

// TestHistoryPreviousExit: Init records how the previous run ended as an
// event, once per previous run.
func TestHistoryPreviousExit(t *testing.T) {
	isolate(t)
	h := newHistory(nil, time.Second)
	e := Exit{Kind: ExitOOMKilled, Reason: "the OOM kill count rose", PID: 42, Executable: "/bin/app", LastWords: []string{"/tmp/app.heap"}}
	h.recordInit(Report{}, e, true)
	h.recordInit(Report{}, e, true) // a second Init: the same previous run
	h = newHistory(h, time.Second)
	h.recordInit(Report{}, e, true)
	var exits []string
	for _, ev := range h.read().Events {
		if ev.Kind == eventPreviousExit {
			exits = append(exits, ev.Message)
		}
	}
	want := "the previous run (pid 42, /bin/app) ended oom-killed: the OOM kill count rose; its last words: /tmp/app.heap"
	if len(exits) != 1 || exits[0] != want {
		t.Errorf("previous-exit events %q, want one: %q", exits, want)
	}
}

// TestDetectWritesNoHistory: a Detect whose kernel stats read fails
// leaves the live history as it was; the same failure at Init is an
// event (the control: the check can fail).
func TestDetectWritesNoHistory(t *testing.T) {
	isolate(t)
	root, app := v2Tree(t, "314572800\n", "max 100000\n")
	write(t, filepath.Join(app, "memory.current"), "garbage\n")
	c, errs := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	errorEvents := func() (n int) {
		for _, e := range RecentHistory().Events {
			if e.Kind == eventError && strings.Contains(e.Message, "memory.current") {
				n++
			}
		}
		return n
	}
	fixtureLoop(t, c) // Init's path
	if n := errorEvents(); n != 1 {
		t.Fatalf("control: the failing memory.current at Init is %d events, want 1: %+v", n, RecentHistory().Events)
	}
	before := RecentHistory()
	Detect(Options{Root: root, Logger: discardLogger()})
	after := RecentHistory()
	if len(after.Events) != len(before.Events) || len(after.Samples) != len(before.Samples) {
		t.Errorf("Detect changed the history: %d events, %d samples before; %d, %d after:\n%+v",
			len(before.Events), len(before.Samples), len(after.Events), len(after.Samples), after.Events)
	}
}
