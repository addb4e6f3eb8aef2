package tune

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// isolate saves what Init changes in this process and restores it when the
// test ends, so tests that drive an owner by hand do not leak into others.
func isolate(t *testing.T) {
	t.Helper()
	old := current.Load()
	if old != nil {
		old.halt(context.Background(), false)
	}
	mem := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		if o := current.Load(); o != nil {
			o.halt(context.Background(), false)
		}
		current.Store(old)
		debug.SetMemoryLimit(mem)
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.SetDefaultGOMAXPROCS()
		}
	})
}

// logBuffer collects a logger's output while the test reads it.
type logBuffer = cgrouptest.Buffer

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// v2Tree writes a cgroup v2 snapshot with the process in /app and returns
// its root and the group's directory.
func v2Tree(t *testing.T, memMax, cpuMax string) (root, app string) {
	t.Helper()
	root = t.TempDir()
	app = filepath.Join(root, "sys/fs/cgroup/app")
	files := map[string]string{
		"proc/self/cgroup":                     "0::/app\n",
		"proc/self/mountinfo":                  "32 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
		"sys/fs/cgroup/cgroup.controllers":     "cpu memory\n",
		"sys/fs/cgroup/app/cgroup.controllers": "cpu memory\n",
		"sys/fs/cgroup/app/memory.max":         memMax,
		"sys/fs/cgroup/app/memory.high":        "max\n",
		"sys/fs/cgroup/app/cpu.max":            cpuMax,
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, app
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixtureLoop does what Init does, over the snapshot at root, with
// nothing applied before, and returns the owner as the current one without
// starting its goroutine: the test calls tick.
func fixtureLoop(t *testing.T, c config) *owner {
	t.Helper()
	o := build(c, true, true, applied{}, nil)
	if o.rd == nil {
		t.Fatalf("discovery over %s: %v", c.root, o.report().Errors)
	}
	if !o.prepare(time.Now()) {
		t.Fatalf("config %+v asks for no loop", c)
	}
	close(o.done) // no goroutine: nothing for halt to wait for
	o.startHistory(nil)
	current.Store(o)
	t.Cleanup(o.closeByHand)
	return o
}

// closeByHand ends an owner whose goroutine the test never started.
func (o *owner) closeByHand() {
	o.stop.Do(func() {
		o.state.Store(loopStopped)
		close(o.quit)
	})
	if o.calls != nil {
		o.calls.close()
		<-o.calls.done
	}
	if o.rd != nil {
		o.rd.Close()
	}
}

// logsOf waits until the queued log lines are written and returns them.
func logsOf(t *testing.T, logs *logBuffer) string {
	t.Helper()
	if !flushLogs(10 * time.Second) {
		t.Fatal("the log queue did not drain within 10s")
	}
	return logs.String()
}

// TestRefreshFollowsFiles drives the loop over a snapshot whose files the
// test rewrites: what real cgroups cannot show (garbage content) and the
// bookkeeping (report, counts, log lines) in detail. The real-kernel tests
// of the same are in cmd/tune (tune -watch).
func TestRefreshFollowsFiles(t *testing.T) {
	isolate(t)
	const before = 123456789 // a GOMEMLIMIT the program had before tune
	debug.SetMemoryLimit(before)
	root, app := v2Tree(t, "314572800\n", "100000 100000\n")
	var logs logBuffer
	c, errs := loadConfig(Options{Root: root, MaxProcs: ProcsFloor, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(string) string { return "" })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := fixtureLoop(t, c)
	if got := debug.SetMemoryLimit(-1); got != 283115520 {
		t.Fatalf("GOMEMLIMIT after the first apply = %d, want 283115520", got)
	}
	now := time.Now()
	tick := func() {
		now = now.Add(c.refresh)
		r.tick(now)
	}
	ticks0, errs0 := refreshCounts()

	write(t, filepath.Join(app, "memory.max"), "209715200\n")
	write(t, filepath.Join(app, "cpu.max"), "200000 100000\n")
	tick()
	if got := debug.SetMemoryLimit(-1); got != 188743680 {
		t.Errorf("GOMEMLIMIT after lowering memory.max = %d, want 188743680", got)
	}
	if got := runtime.GOMAXPROCS(0); got != min(2, runtime.NumCPU()) {
		t.Errorf("GOMAXPROCS after raising cpu.max to 2 = %d, want %d", got, min(2, runtime.NumCPU()))
	}
	cur := Current()
	if cur.Memory.Limit != 209715200 || cur.Memory.Before != 283115520 || cur.Memory.GOMEMLIMIT != 188743680 ||
		cur.Memory.Source != filepath.Join(app, "memory.max") {
		t.Errorf("report after the change: %+v", cur.Memory)
	}

	// Garbage: the last good values stay, every failed tick is counted,
	// the error is logged once.
	write(t, filepath.Join(app, "memory.max"), "garbage\n")
	for range 3 {
		tick()
	}
	if got := debug.SetMemoryLimit(-1); got != 188743680 {
		t.Errorf("GOMEMLIMIT after memory.max turned to garbage = %d, want the last good 188743680", got)
	}
	ticks, errs1 := refreshCounts()
	if ticks-ticks0 != 4 || errs1-errs0 != 3 {
		t.Errorf("refreshCounts moved by %d ticks, %d errors; want 4, 3", ticks-ticks0, errs1-errs0)
	}
	if n := strings.Count(logsOf(t, &logs), "is not a number; keeping the last good values"); n != 1 {
		t.Errorf("the memory.max error was logged %d times, want once:\n%s", n, logs.String())
	}
	// Fixed again, to the same value: nothing to change, nothing logged.
	lines := strings.Count(logsOf(t, &logs), "\n")
	write(t, filepath.Join(app, "memory.max"), "209715200\n")
	tick()
	if n := strings.Count(logsOf(t, &logs), "\n"); n != lines {
		t.Errorf("a tick with no change logged:\n%s", logs.String())
	}

	// Removed: back to what it was before tune set it.
	write(t, filepath.Join(app, "memory.max"), "max\n")
	tick()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("GOMEMLIMIT after the limit was removed = %d, want %d (from before tune)", got, before)
	}
	if cur := Current(); cur.Memory.Action != "restored" || cur.Memory.Limit != 0 {
		t.Errorf("report after removal: %+v", cur.Memory)
	}
	// And back again: tune sets it again, and would restore the same value.
	write(t, filepath.Join(app, "memory.max"), "104857600\n")
	tick()
	if got := debug.SetMemoryLimit(-1); got != 94371840 {
		t.Errorf("GOMEMLIMIT after a new limit = %d, want 94371840", got)
	}

	log := logsOf(t, &logs)
	for _, want := range []string{
		"memory limit 300MiB → 200MiB, GOMEMLIMIT 270MiB → 180MiB (set: 0.9 × own group's limit from " + filepath.Join(app, "memory.max"),
		"CPU quota 1 → 2, GOMAXPROCS 1 → 2",
		"memory limit 200MiB → none, GOMEMLIMIT 180MiB → 117.7MiB (restored",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestRefreshEnvironmentWins: GOMEMLIMIT and GOMAXPROCS in the environment
// are never overridden by the loop.
func TestRefreshEnvironmentWins(t *testing.T) {
	isolate(t)
	t.Setenv("GOMEMLIMIT", "100MiB")
	t.Setenv("GOMAXPROCS", "2")
	debug.SetMemoryLimit(100 << 20)
	root, app := v2Tree(t, "314572800\n", "100000 100000\n")
	c, _ := loadConfig(Options{Root: root, MaxProcs: ProcsFloor, Logger: discardLogger()}, func(string) string { return "" })
	r := fixtureLoop(t, c)
	procs := runtime.GOMAXPROCS(0)
	write(t, filepath.Join(app, "memory.max"), "209715200\n")
	write(t, filepath.Join(app, "cpu.max"), "300000 100000\n")
	r.tick(time.Now())
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Errorf("GOMEMLIMIT = %d, want the environment's %d", got, 100<<20)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS = %d, want it left at %d", got, procs)
	}
	if cur := Current(); cur.Memory.Limit != 209715200 || !strings.Contains(cur.Memory.Reason, "GOMEMLIMIT=100MiB") {
		t.Errorf("report: %+v", cur.Memory)
	}
}

// realLoop is a loop over this machine's cgroups (or, where there are none,
// a snapshot), ready to tick, with nothing to change.
func realLoop(tb testing.TB) *owner {
	tb.Helper()
	root := "/"
	layout, err := cgroup.Discover(root)
	if err != nil {
		tb.Logf("no cgroups here (%v): using a snapshot", err)
		root = "testdata/v2-child-tighter"
		if layout, err = cgroup.Discover(root); err != nil {
			tb.Fatal(err)
		}
	}
	_ = layout
	c, _ := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	o := build(c, root == "/", false, applied{}, nil)
	o.startHistory(nil) // as Init does: the tick records a sample
	o.prepare(time.Now())
	close(o.done)
	o.rd.WatchMoves() // as run does
	tb.Cleanup(o.closeByHand)
	return o
}

// TestRefreshTickAllocs: a tick with no change allocates nothing.
func TestRefreshTickAllocs(t *testing.T) {
	isolate(t)
	r := realLoop(t)
	if len(r.rd.Files()) == 0 {
		t.Fatal("the reader has no files open: nothing would be measured")
	}
	now := time.Now()
	r.tick(now)
	if n := testing.AllocsPerRun(200, func() {
		now = now.Add(time.Second)
		r.tick(now)
	}); n != 0 {
		t.Errorf("a refresh tick allocates %v times, want 0", n)
	}
	// Without cgroups the loop measures pressure only, also for free.
	p := &owner{c: r.c, logged: map[string]bool{}}
	p.publish(notInitialized)
	p.prepare(now)
	if n := testing.AllocsPerRun(200, func() {
		now = now.Add(time.Second)
		p.tick(now)
	}); n != 0 {
		t.Errorf("a pressure-only tick allocates %v times, want 0", n)
	}
}

// BenchmarkRefreshTick is one refresh tick with no change: re-reading the
// open limit files and the kernel's view of the group, measuring the
// memory pressure and recording a sample of the history.
func BenchmarkRefreshTick(b *testing.B) {
	r := realLoop(b)
	b.Logf("files: %v", r.rd.Files())
	stats := 0
	if r.sr != nil {
		stats = len(r.sr.Files())
		b.Logf("the kernel's view: %v", r.sr.Files())
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		r.tick(now)
	}
	// The tick reads the kernel's stats files too (bench/'s tick row
	// counts the stats read from this, not on top of it).
	b.ReportMetric(float64(stats), "stat-files")
}

// loopGoroutine reports whether a refresh goroutine exists.
func loopGoroutine() bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return bytes.Contains(buf[:n], []byte("(*owner).run"))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// TestStopEndsLoop: Init starts one loop, a second Init replaces it, Stop
// ends it, and no goroutine is left behind.
func TestStopEndsLoop(t *testing.T) {
	isolate(t)
	opts := Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh}
	for range 5 {
		if _, err := Init(opts); err != nil {
			t.Logf("Init: %v", err)
		}
	}
	ticks, _ := refreshCounts()
	waitFor(t, "the loop ticks", func() bool { n, _ := refreshCounts(); return n > ticks+3 })
	if p := Pressure(); p.Time.IsZero() || p.GOMEMLIMIT != debug.SetMemoryLimit(-1) {
		t.Errorf("Pressure() after Init = %+v, want a measurement with GOMEMLIMIT %d", p, debug.SetMemoryLimit(-1))
	}
	Stop()
	waitFor(t, "no refresh goroutine after Stop", func() bool { return !loopGoroutine() })

	// A disabled loop starts nothing.
	opts.RefreshInterval = -1
	Init(opts)
	if loopGoroutine() {
		t.Error("RefreshInterval -1 started a loop")
	}
	Stop()
}

// TestRefreshRace runs Init, Stop, the loop, Pressure and Current at once;
// its value is under the race detector (CI runs go test -race).
func TestRefreshRace(t *testing.T) {
	isolate(t)
	var calls atomic.Int64
	opts := Options{Logger: discardLogger(), CrashFile: "off", RefreshInterval: minRefresh,
		OnPressure: func(PressureEvent) { calls.Add(1) }}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				switch i {
				case 0:
					Init(opts)
				case 1:
					Stop()
					Init(opts)
				case 2:
					_ = Pressure().Level.String()
					refreshCounts()
				default:
					_ = Current().String()
				}
			}
		}()
	}
	wg.Wait()
	Stop()
	waitFor(t, "no refresh goroutine after Stop", func() bool { return !loopGoroutine() })
	if Current().CPU.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("Current() GOMAXPROCS %d, runtime %d", Current().CPU.GOMAXPROCS, runtime.GOMAXPROCS(0))
	}
}

func TestPressureLevelThresholds(t *testing.T) {
	tests := []struct {
		inUse, gc float64
		limiter   bool
		want      PressureLevel
	}{
		{0, 0, false, PressureNone},
		{0.5, 0.25, false, PressureNone},      // a busy allocator with room
		{0.99, 0.10, false, PressureNone},     // GOGC=off against the limit, cheap GC
		{0.89, 0.45, false, PressureNone},     // heavy GC, room left
		{0.90, 0.30, false, PressureHigh},     // against the limit, GC heavy
		{0.10, 0.50, false, PressureHigh},     // GC takes half the CPU
		{0.20, 0.05, true, PressureHigh},      // the limiter engaged, heap has room
		{0.89, 0.60, true, PressureHigh},      // both, just below the limit
		{0.90, 0.50, false, PressureCritical}, // at the limit, GC takes half
		{0.95, 0.10, true, PressureCritical},  // at the limit, the limiter engaged
		{1.20, 0.30, true, PressureCritical},  // past it: the limiter let the heap overshoot
		{1.40, 0.31, false, PressureCritical}, // past it, GC near 30% on a loaded machine (seen under Go 1.25 in CI)
		{1.05, 0.10, false, PressureNone},     // past it but the GC is cheap (GOGC=off overshoot): no spiral
		{1.80, 0.17, false, PressureHigh},     // far past it with a cheap GC: the limit cannot be held (seen at 170-190%)
		{1.10, 0.00, false, PressureHigh},     // 10% past it: the limit is not held
		{0.99, 0.31, false, PressureHigh},     // at it, not past it
	}
	for _, tt := range tests {
		if got := pressureLevel(tt.inUse, tt.gc, tt.limiter); got != tt.want {
			t.Errorf("pressureLevel(in use %v, gc %v, limiter %v) = %v, want %v", tt.inUse, tt.gc, tt.limiter, got, tt.want)
		}
	}
}

func TestPressureSettle(t *testing.T) {
	const N, H, C = PressureNone, PressureHigh, PressureCritical
	tests := []struct {
		name string
		raw  []PressureLevel
		want []PressureLevel
	}{
		{"up at once", []PressureLevel{N, H, C}, []PressureLevel{N, H, C}},
		{"down after a whole window (3 here)", []PressureLevel{C, N, N, N, N}, []PressureLevel{C, C, C, N, N}},
		{"a relapse restarts the count", []PressureLevel{H, N, N, H, N, N, N}, []PressureLevel{H, H, H, H, H, H, N}},
		{"down one step", []PressureLevel{C, H, H, H}, []PressureLevel{C, C, C, H}},
	}
	for _, tt := range tests {
		m := &pressureMeter{calm: 3}
		var got []PressureLevel
		for _, raw := range tt.raw {
			m.settle(raw, SignalRuntime)
			got = append(got, m.level)
		}
		if !equal(got, tt.want) {
			t.Errorf("%s: levels %v, want %v", tt.name, got, tt.want)
		}
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOnPressureSerialized: events posted from many goroutines reach
// OnPressure one call at a time, the latest one last, and once the
// delivery is closed no call starts.
func TestOnPressureSerialized(t *testing.T) {
	var inside, most, calls atomic.Int64
	var last atomic.Uint64
	cb := func(ev PressureEvent) {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		for range 100 {
			runtime.Gosched()
		}
		last.Store(ev.MemoryInUse)
		calls.Add(1)
		inside.Add(-1)
	}
	d := newDelivery(cb, discardLogger())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				d.post(PressureEvent{Level: PressureHigh, MemoryInUse: uint64(i*100 + j)})
			}
		}()
	}
	wg.Wait()
	d.post(PressureEvent{Level: PressureCritical, MemoryInUse: 99999})
	waitFor(t, "the latest event delivered", func() bool { return last.Load() == 99999 })
	if most.Load() != 1 {
		t.Errorf("OnPressure ran %d at once, want 1", most.Load())
	}
	n := calls.Load()
	if n < 1 || n > 401 {
		t.Errorf("OnPressure called %d times for 401 posts", n)
	}
	d.close()
	<-d.done
	d.post(PressureEvent{Level: PressureHigh})
	if calls.Load() != n {
		t.Errorf("OnPressure called after the delivery was closed")
	}
}

func TestPressureEventString(t *testing.T) {
	ev := PressureEvent{Level: PressureCritical, Previous: PressureHigh, GCCPUFraction: 0.52,
		MemoryInUse: 260 << 20, GOMEMLIMIT: 270 << 20, LimiterEngaged: true}
	want := "memory pressure critical (was high): Go memory in use 260MiB of GOMEMLIMIT 270MiB (96%), GC CPU 52% over 10s, GC CPU limiter engaged: true"
	if got := ev.String(); got != want {
		t.Errorf("String() = %q\nwant        %q", got, want)
	}
	for _, l := range []PressureLevel{PressureNone, PressureHigh, PressureCritical} {
		b, _ := l.MarshalText()
		var back PressureLevel
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("%v: MarshalText %q, UnmarshalText → %v, %v", l, b, back, err)
		}
	}
	var l PressureLevel
	if err := l.UnmarshalText([]byte("severe")); err == nil || !strings.Contains(err.Error(), "severe") {
		t.Errorf("UnmarshalText(severe) = %v, want an error naming the value", err)
	}
}

// BenchmarkPressureMeasure is the pressure part of a tick alone: one
// runtime/metrics read and the window arithmetic.
func BenchmarkPressureMeasure(b *testing.B) {
	m := newPressureMeter(time.Second)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		m.measure(now, PressureNone, "")
	}
}

// TestRefreshProcsAutoHandsBack: under ProcsAuto a quota change the runtime
// follows by itself is left to it, and where tune had set GOMAXPROCS it
// hands the choice back with runtime.SetDefaultGOMAXPROCS.
func TestRefreshProcsAutoHandsBack(t *testing.T) {
	isolate(t)
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set in the environment: it wins, nothing to hand back")
	}
	root, app := v2Tree(t, "max\n", "100000 100000\n")
	c, _ := loadConfig(Options{Root: root, Logger: discardLogger()}, func(string) string { return "" })
	r := fixtureLoop(t, c)

	// As if tune had taken over earlier, for a tighter ancestor.
	r.prev.procsSet, r.prev.procsFrom = true, originRuntime
	r.prev.procsLeft, r.prev.procsWant = 1, 1 // tune's own 1, not the program's
	runtime.GOMAXPROCS(1)

	write(t, filepath.Join(app, "cpu.max"), "150000 100000\n")
	r.tick(time.Now())
	cur := Current()
	if cur.CPU.Action != "runtime" || cur.CPU.Quota != 1.5 {
		t.Errorf("report after the quota change: %+v", cur.CPU)
	}
	if r.prev.procsSet {
		t.Error("tune still holds GOMAXPROCS: not handed back to the runtime")
	}
	if got := runtime.GOMAXPROCS(0); got == 1 && runtime.NumCPU() > 1 {
		t.Errorf("GOMAXPROCS still 1 after handing back to the runtime")
	}
}
