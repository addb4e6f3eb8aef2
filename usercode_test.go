package tune

// User code is foreign code: loggers and OnPressure that call back into
// tune, block, or panic must not deadlock, stall or end tune, and Stop must
// wait for what it started.

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// within fails the test if f has not returned within d (f keeps running;
// a hang is a failure, not a stuck CI run).
func within(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// callbackHandler is a slog handler that runs fn for each record.
type callbackHandler struct{ fn func(slog.Record) }

func (h callbackHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h callbackHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h callbackHandler) WithGroup(string) slog.Handler            { return h }
func (h callbackHandler) Handle(_ context.Context, r slog.Record) error {
	h.fn(r)
	return nil
}

// TestLoggerCallsBackIntoTune: a handler that adds tune.Current() to each
// record, as a user's might, does not deadlock Init, Stop or the loop.
func TestLoggerCallsBackIntoTune(t *testing.T) {
	isolate(t)
	var lines atomic.Int64
	var seen atomic.Int64
	logger := slog.New(callbackHandler{func(slog.Record) {
		seen.Store(int64(Current().CPU.GOMAXPROCS))
		_ = Pressure()
		lines.Add(1)
	}})
	within(t, "Init with a logger that reads Current", 10*time.Second, func() {
		Init(Options{Logger: logger, CrashFile: "off", RefreshInterval: minRefresh})
	})
	if lines.Load() == 0 || seen.Load() == 0 {
		t.Fatalf("the handler saw %d lines, GOMAXPROCS %d: want the start line with the published report", lines.Load(), seen.Load())
	}
	within(t, "Stop", 10*time.Second, Stop)
}

// blockingHandler blocks every record while blocked is set, until release
// is closed.
type blockingHandler struct {
	blocked *atomic.Bool
	release chan struct{}
	entered chan struct{}
	once    *sync.Once
}

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h blockingHandler) Handle(context.Context, slog.Record) error {
	if h.blocked.Load() {
		h.once.Do(func() { close(h.entered) })
		<-h.release
	}
	return nil
}

// TestSlowLoggerStallsNothing: while the handler is stuck on a line from
// the loop, the loop goes on ticking and applying, and Current, Pressure
// and a scrape answer at once.
func TestSlowLoggerStallsNothing(t *testing.T) {
	isolate(t)
	h := blockingHandler{blocked: new(atomic.Bool), release: make(chan struct{}), entered: make(chan struct{}), once: new(sync.Once)}
	root, app := v2Tree(t, "314572800\n", "100000 100000\n")
	c, _ := loadConfig(Options{Root: root, Logger: slog.New(h)}, func(string) string { return "" })
	o := fixtureLoop(t, c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector())
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
			flushLogs(10 * time.Second)
		}
	}
	t.Cleanup(release)

	h.blocked.Store(true)
	write(t, filepath.Join(app, "memory.max"), "209715200\n")
	o.tick(time.Now())
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the change line never reached the handler")
	}
	// The handler is stuck on the change line now.
	write(t, filepath.Join(app, "memory.max"), "104857600\n")
	within(t, "a tick while the logger is stuck", 5*time.Second, func() { o.tick(time.Now()) })
	if got := Current().Memory.Limit; got != 104857600 {
		t.Errorf("the loop did not apply the second change while the logger was stuck: limit %d", got)
	}
	within(t, "Current, Pressure and a scrape while the logger is stuck", 5*time.Second, func() {
		_ = Current()
		_ = Pressure()
		if _, err := reg.Gather(); err != nil {
			t.Errorf("Gather: %v", err)
		}
	})
	release()
}

// TestPanickingLogger: a handler that panics, at Init or later on a
// line of the loop, and a zero slog.Logger, never take the program down:
// Init returns an error saying so, the lines go to stderr, the loop goes on.
func TestPanickingLogger(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logger func(panicking *atomic.Bool) *slog.Logger
		atInit bool
	}{
		{"at Init", func(p *atomic.Bool) *slog.Logger {
			p.Store(true)
			return slog.New(callbackHandler{func(slog.Record) {
				if p.Load() {
					panic("handler broke")
				}
			}})
		}, true},
		{"zero Logger", func(*atomic.Bool) *slog.Logger { return new(slog.Logger) }, true},
		{"later, on a change", func(p *atomic.Bool) *slog.Logger {
			return slog.New(callbackHandler{func(slog.Record) {
				if p.Load() {
					panic("handler broke later")
				}
			}})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			var panicking atomic.Bool
			logger := tc.logger(&panicking)
			root, app := v2Tree(t, "314572800\n", "100000 100000\n")
			c, _ := loadConfig(Options{Root: root, Logger: logger}, func(string) string { return "" })
			// Init's own path, over the snapshot: what replace does.
			var err error
			within(t, "Init", 10*time.Second, func() {
				_, err = Init(Options{Logger: logger, CrashFile: "off", RefreshInterval: RefreshOff})
			})
			if tc.atInit && (err == nil || !strings.Contains(err.Error(), "log handler panicked")) {
				t.Errorf("Init error = %v, want one saying the log handler panicked", err)
			}
			if !tc.atInit && err != nil && strings.Contains(err.Error(), "panicked") {
				t.Errorf("Init error = %v before the handler broke", err)
			}
			o := fixtureLoop(t, c)
			panicking.Store(true)
			ticks, _ := refreshCounts()
			write(t, filepath.Join(app, "memory.max"), "209715200\n")
			o.tick(time.Now())
			if !flushLogs(10 * time.Second) {
				t.Fatal("the log writer is stuck after a panicking handler")
			}
			write(t, filepath.Join(app, "memory.max"), "104857600\n")
			o.tick(time.Now())
			if got := Current().Memory.Limit; got != 104857600 {
				t.Errorf("the loop stopped applying after the handler panicked: limit %d", got)
			}
			if n, _ := refreshCounts(); n != ticks+2 {
				t.Errorf("ticks moved by %d, want 2", n-ticks)
			}
			if !flushLogs(10 * time.Second) {
				t.Fatal("the log writer is stuck after a panicking handler")
			}
		})
	}
}

// TestOnPressureBadCallbacks: an OnPressure that panics or blocks forever
// does not stop the loop: it keeps ticking, Pressure keeps moving, later
// events are still delivered (after a panic), and a second Init works.
func TestOnPressureBadCallbacks(t *testing.T) {
	t.Run("panics", func(t *testing.T) {
		isolate(t)
		var calls atomic.Int64
		cb := func(PressureEvent) {
			calls.Add(1)
			panic("callback broke")
		}
		root, _ := v2Tree(t, "max\n", "max 100000\n")
		c, _ := loadConfig(Options{Root: root, Logger: discardLogger(), OnPressure: cb}, func(string) string { return "" })
		o := fixtureLoop(t, c)
		o.pressureChanged(PressureEvent{Level: PressureHigh})
		waitFor(t, "the first call", func() bool { return calls.Load() == 1 })
		o.pressureChanged(PressureEvent{Level: PressureCritical})
		waitFor(t, "a call after the panic", func() bool { return calls.Load() == 2 })
		t0 := Pressure().Time
		o.tick(t0.Add(time.Second))
		if !Pressure().Time.After(t0) {
			t.Error("Pressure did not move after OnPressure panicked")
		}
	})
	t.Run("blocks forever", func(t *testing.T) {
		isolate(t)
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		cb := func(PressureEvent) {
			entered <- struct{}{}
			<-release
		}
		defer close(release)
		root, _ := v2Tree(t, "max\n", "max 100000\n")
		c, _ := loadConfig(Options{Root: root, Logger: discardLogger(), OnPressure: cb}, func(string) string { return "" })
		o := fixtureLoop(t, c)
		o.pressureChanged(PressureEvent{Level: PressureHigh})
		<-entered
		t0 := Pressure().Time
		within(t, "ticks while OnPressure is stuck", 5*time.Second, func() {
			for i := 1; i <= 3; i++ {
				o.tick(t0.Add(time.Duration(i) * time.Second))
				o.pressureChanged(PressureEvent{Level: PressureCritical})
			}
		})
		if !Pressure().Time.After(t0) {
			t.Error("Pressure did not move while OnPressure was stuck")
		}
		within(t, "a second Init while the first loop's OnPressure is stuck", 10*time.Second, func() {
			Init(Options{Logger: discardLogger(), CrashFile: "off"})
		})
		within(t, "Stop of the second Init's loop", 10*time.Second, Stop)
	})
}

// TestStopWaits: Stop returns only once the loop has exited and the
// OnPressure call in progress has returned; after it, nothing runs.
func TestStopWaits(t *testing.T) {
	isolate(t)
	var inCall, finished atomic.Bool
	var calls atomic.Int64
	release := make(chan struct{})
	cb := func(PressureEvent) {
		calls.Add(1)
		inCall.Store(true)
		<-release
		finished.Store(true)
	}
	if _, err := Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh, OnPressure: cb}); err != nil {
		t.Logf("Init: %v", err)
	}
	o := current.Load()
	if o.calls == nil {
		t.Fatal("no OnPressure goroutine")
	}
	o.calls.post(PressureEvent{Level: PressureHigh})
	waitFor(t, "OnPressure entered", inCall.Load)

	stopped := make(chan bool)
	go func() {
		Stop()
		stopped <- finished.Load()
	}()
	waitFor(t, "the loop goroutine gone", func() bool { return !loopGoroutine() })
	close(release)
	select {
	case doneFirst := <-stopped:
		if !doneFirst {
			t.Error("Stop returned while OnPressure was still running")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return after OnPressure did")
	}
	ticks, _ := refreshCounts()
	n := calls.Load()
	o.calls.post(PressureEvent{Level: PressureCritical})
	if flushLogs(time.Second); calls.Load() != n {
		t.Error("OnPressure ran after Stop returned")
	}
	if now, _ := refreshCounts(); now != ticks {
		t.Error("the loop ticked after Stop returned")
	}
	if !Pressure().Stale {
		t.Error("Pressure after Stop is not marked Stale")
	}
}

// TestStopInsideOnPressure: OnPressure may call Stop: it stops the loop
// and returns, without waiting for the call it is part of.
func TestStopInsideOnPressure(t *testing.T) {
	isolate(t)
	returned := make(chan struct{})
	var once sync.Once
	cb := func(PressureEvent) {
		once.Do(func() {
			Stop()
			close(returned)
		})
	}
	Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh, OnPressure: cb})
	current.Load().calls.post(PressureEvent{Level: PressureHigh})
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop called inside OnPressure did not return")
	}
	waitFor(t, "the loop goroutine gone", func() bool { return !loopGoroutine() })
}

// TestDetectChangesNothingObservable: Detect, before and after Init,
// leaves every observable value as it was, and decides what Init decides.
func TestDetectChangesNothingObservable(t *testing.T) {
	isolate(t)
	current.Store(nil) // as in a process where Init has not run
	observe := func() string {
		rt := readRuntime(true)
		return fmt.Sprintf("%s | %+v | %d %d", Current(), Pressure(), rt.gomemlimit, rt.gomaxprocs)
	}
	same := func(what string, a, b Report) {
		t.Helper()
		if a.Memory.Limit != b.Memory.Limit || a.Memory.GOMEMLIMIT != b.Memory.GOMEMLIMIT || a.Memory.Action != b.Memory.Action ||
			a.CPU.Quota != b.CPU.Quota || a.CPU.GOMAXPROCS != b.CPU.GOMAXPROCS || a.CPU.Action != b.CPU.Action {
			t.Errorf("%s:\n %s\n %s", what, a, b)
		}
	}
	opts := Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: RefreshOff}
	before := observe()
	det, _ := Detect(opts)
	if after := observe(); after != before {
		t.Errorf("Detect before Init changed what is observable:\n before %s\n after  %s", before, after)
	}
	rep, _ := Init(opts)
	same("Detect before Init and Init decide otherwise", det, rep)
	before = observe()
	det, _ = Detect(opts)
	if after := observe(); after != before {
		t.Errorf("Detect after Init changed what is observable:\n before %s\n after  %s", before, after)
	}
	same("Detect after Init and Current disagree", det, Current())
}

// TestTickPanicIsContained: a panic inside a tick (here a bug: no meter)
// is logged once, counted as a refresh error, and the loop goes on.
func TestTickPanicIsContained(t *testing.T) {
	isolate(t)
	var logs logBuffer
	root, _ := v2Tree(t, "max\n", "max 100000\n")
	c, _ := loadConfig(Options{Root: root, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(string) string { return "" })
	o := fixtureLoop(t, c)
	meter := o.meter
	o.meter = nil
	ticks, errs := refreshCounts()
	for range 3 {
		within(t, "a panicking tick", 5*time.Second, func() { o.tick(time.Now()) })
	}
	nt, ne := refreshCounts()
	if nt-ticks != 3 || ne-errs != 3 {
		t.Errorf("three panicking ticks counted as %d ticks, %d errors; want 3, 3", nt-ticks, ne-errs)
	}
	if n := strings.Count(logsOf(t, &logs), "level=ERROR msg=\"tune: a refresh tick panicked"); n != 1 {
		t.Errorf("the panic was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "stack=") {
		t.Error("the panic's line has no stack")
	}
	o.meter = meter
	t0 := Pressure().Time
	o.tick(t0.Add(time.Second))
	if !Pressure().Time.After(t0) {
		t.Error("the loop did not go on after the panics")
	}
	o.state.Store(loopDead)
	if !Pressure().Stale {
		t.Error("a dead loop's Pressure is not Stale")
	}
}

// TestReadsDoNotAllocate: reading the published pressure, and a tick that
// publishes nothing new, allocate nothing; Current makes the caller's own
// copy of the report's slices in one allocation.
func TestReadsDoNotAllocate(t *testing.T) {
	isolate(t)
	Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh})
	if n := testing.AllocsPerRun(100, func() { _ = Pressure() }); n != 0 {
		t.Errorf("Pressure allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Current() }); n > 1 {
		t.Errorf("Current allocates %v times, want at most 1 (the caller's copy of the slices)", n)
	}
	cur := Current()
	if len(cur.Cgroup.Files) > 0 {
		cur.Cgroup.Files[0] = "changed by the caller"
		if Current().Cgroup.Files[0] == "changed by the caller" {
			t.Error("Current's slices alias the published report")
		}
	}
}

// TestLoopKernelSignals: the loop reads the kernel's view of the group
// each tick: memory events and PSI raise the pressure level, naming the
// signal; Current and the metrics show the kernel's numbers.
func TestLoopKernelSignals(t *testing.T) {
	isolate(t)
	root, app := v2Tree(t, "314572800\n", "max 100000\n")
	events := filepath.Join(app, "memory.events")
	psi := filepath.Join(app, "memory.pressure")
	write(t, events, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
	write(t, psi, "some avg10=0.00 avg60=0.00 avg300=0.00 total=100\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=50\n")
	write(t, filepath.Join(app, "memory.current"), "104857600\n")
	c, _ := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	o := fixtureLoop(t, c)
	now := time.Now()
	tick := func() PressureEvent {
		now = now.Add(c.refresh)
		o.tick(now)
		return Pressure()
	}
	if p := tick(); p.Level != PressureNone {
		t.Fatalf("a quiet group: %+v", p)
	}
	k := Current().Kernel
	if !k.Memory.Available || k.Memory.SomeTotal != 100*time.Microsecond || k.MemoryUsage != 104857600 || !k.Events.Available {
		t.Errorf("Current().Kernel = %+v", k)
	}

	write(t, events, "low 0\nhigh 3\nmax 0\noom 0\noom_kill 0\n")
	if p := tick(); p.Level != PressureHigh || p.Signal != SignalMemoryEventsHigh {
		t.Errorf("memory.events high rose: level %v signal %q, want high memory_events_high", p.Level, p.Signal)
	}
	write(t, events, "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\n")
	if p := tick(); p.Level != PressureCritical || p.Signal != SignalOOMKill {
		t.Errorf("oom_kill rose: level %v signal %q, want critical oom_kill", p.Level, p.Signal)
	}
	if got := Current().Kernel.Events; got.OOMKill != 1 || got.Max != 2 || got.High != 3 {
		t.Errorf("Current().Kernel.Events = %+v", got)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`gotune_cgroup_memory_events_total{event="oom_kill"}`:                 1,
		`gotune_cgroup_memory_events_total{event="high"}`:                     3,
		`gotune_cgroup_pressure_seconds_total{kind="full",resource="memory"}`: 50e-6,
		`gotune_cgroup_memory_usage_bytes`:                                    104857600,
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[name] = v
		}
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
}

// TestCurrentBeforeInit: before any Init, Current says so in words, with
// no half-empty figures.
func TestCurrentBeforeInit(t *testing.T) {
	isolate(t)
	current.Store(nil)
	r := Current()
	if got := r.String(); got != "tune: Init has not run: no limits read, nothing applied" {
		t.Errorf("Current().String() before Init = %q", got)
	}
	if r.Applied || r.Cgroup.Note != "tune.Init has not run" || r.Errors == nil {
		t.Errorf("Current() before Init = %+v", r)
	}
	if p := Pressure(); !p.Time.IsZero() || p.Stale {
		t.Errorf("Pressure() before Init = %+v, want the zero event", p)
	}
}

// TestLoopSeesOutsideChangeAtOnce: a GOMEMLIMIT the program sets itself
// shows in the report at the next tick, not one tick later.
func TestLoopSeesOutsideChangeAtOnce(t *testing.T) {
	isolate(t)
	root, _ := v2Tree(t, "314572800\n", "max 100000\n")
	c, _ := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	o := fixtureLoop(t, c)
	now := time.Now()
	o.tick(now)
	debug.SetMemoryLimit(123 << 20)
	o.tick(now.Add(time.Second))
	if got := Current().Memory.GOMEMLIMIT; got != 123<<20 {
		t.Errorf("after the program set GOMEMLIMIT and one tick: report says %d, want %d", got, 123<<20)
	}
}

// BenchmarkPressureRead is what a health check pays for Pressure().
func BenchmarkPressureRead(b *testing.B) {
	Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh})
	b.Cleanup(Stop)
	b.ReportAllocs()
	for b.Loop() {
		_ = Pressure()
	}
}

// BenchmarkCurrent is a read of the latest report: the caller's own copy.
func BenchmarkCurrent(b *testing.B) {
	Init(Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh})
	b.Cleanup(Stop)
	b.ReportAllocs()
	for b.Loop() {
		_ = Current()
	}
}

// TestPressureHugeInterval: a refresh interval so long that three of them
// do not fit in a time.Duration must not make a fresh measurement Stale,
// from Options or from GOTUNE_REFRESH.
func TestPressureHugeInterval(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  string
		opts Options
	}{
		{"Options", "", Options{RefreshInterval: 1000000 * time.Hour}},
		{"GOTUNE_REFRESH", "1000000h", Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			if tt.env != "" {
				t.Setenv("GOTUNE_REFRESH", tt.env)
			}
			tt.opts.Logger, tt.opts.CrashFile = discardLogger(), CrashOff
			if _, err := Init(tt.opts); err != nil {
				t.Logf("Init: %v", err)
			}
			p := Pressure()
			if p.Time.IsZero() {
				t.Fatal("no measurement after Init: the loop did not start")
			}
			if p.Stale {
				t.Errorf("Pressure right after Init is Stale with a refresh interval of %v", current.Load().c.refresh)
			}
		})
	}
}
