package tune

// The owner: one value owns everything one Init starts: the open cgroup
// reader, the pressure meter, what tune applied before, the refresh loop
// and the goroutine that calls OnPressure. The package keeps one pointer to
// the current owner (the slog.Default pattern); Init builds a new owner and
// replaces the old one.
//
// The owner publishes what it knows: an immutable snapshot (the Report and
// what tune applied) through an atomic.Pointer after Init and after every
// tick that changes anything, and the pressure measurement of every tick
// through a sequence lock of atomic words. Current, Pressure, the
// collector and the status page read them without a lock and without
// waiting for the loop. User code (loggers, OnPressure) runs only with no
// tune lock held; see log.go.
//
// Package-level state besides the current owner: initMu (Init and Stop
// take turns), the process-wide counters in stats, the log queue (log.go),
// the crash file and last words (internal/postmortem, one recorder in
// crash.go), the leak counters (leak.go) and the shutdown hooks
// (shutdown.go), each with its own small lock.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

var (
	// current is the owner of the latest Init, nil before the first.
	current atomic.Pointer[owner]
	// initMu makes Init and Stop take turns. It is never held while user
	// code runs, nor by Detect.
	initMu sync.Mutex
)

// stats are the process-wide counters behind the metrics, monotonic across
// Inits.
var stats struct {
	ticks, errors atomic.Uint64
}

// snapshot is what an owner publishes; it is never modified once
// published.
type snapshot struct {
	report Report
	prev   applied
}

// The states of an owner's loop.
const (
	loopOff     int32 = iota // never started: RefreshOff, GOTUNE=off, no cgroups to follow and nothing to measure
	loopRunning              // ticking
	loopStopped              // Stop, Shutdown or a later Init ended it
	loopDead                 // it ended by itself: a bug; Pressure says Stale
)

type owner struct {
	c    config
	live bool // the process itself is the subject (not a snapshot)

	// Set before the loop starts, then the loop goroutine's alone.
	rd     *cgroup.Reader      // nil when discovery failed: pressure only
	sr     *cgroup.StatsReader // the kernel's view; nil with rd
	kcur   cgroup.Stats        // its latest reading
	kprev  cgroup.Stats        // the one before, for the pressure rules
	kAt    time.Time           // when kprev was read
	meter  *pressureMeter
	last   cgroup.Limits // the limits last decided on (the last good ones)
	prev   applied
	since  int             // ticks since the last rediscovery
	logged map[string]bool // refresh errors already logged

	snap   atomic.Pointer[snapshot]
	press  pressureCell
	kcell  seqCell // the kernel's numbers (kernel.go)
	state  atomic.Int32
	lastOK atomic.Int64 // unix ns of the last tick without an error

	quit chan struct{}
	done chan struct{} // closed when the loop goroutine has exited
	stop sync.Once

	calls *delivery // OnPressure, nil without one
	hist  *history  // the status page's history; nil but for a live Init's owner (history.go)
}

// build does what Init does before its loop starts: discovery, the
// decisions, applying them (when doApply is true) and the first snapshot,
// whose report lists errs and every error met.
func build(c config, live, doApply bool, prev applied, errs []error) *owner {
	o := &owner{c: c, live: live, logged: map[string]bool{}, since: rediscoverTicks,
		quit: make(chan struct{}), done: make(chan struct{})}
	var rep Report
	var lim cgroup.Limits
	if c.root == "/" && runtime.GOOS != "linux" {
		// No limits to find: the decisions say "none found".
		rep.Cgroup = CgroupReport{Mode: "none", Files: []string{}, Note: "no cgroups here (" + runtime.GOOS + ")"}
	} else if layout, err := cgroup.Discover(c.root); err != nil {
		rep.Cgroup = CgroupReport{Mode: "none", Files: []string{}}
		errs = append(errs, err)
		lim.Memory.Err, lim.CPU.Err = errNoCgroups, errNoCgroups
	} else {
		o.rd = layout.Open()
		lim = o.rd.Read()
		rep.Cgroup = cgroupReport(layout, o.rd)
		o.openStats(layout, time.Now())
		rep.Kernel = kernelNotes(&o.kcur)
		for _, e := range []error{lim.Memory.Err, lim.CPU.Err} {
			if e != nil {
				errs = append(errs, e)
			}
		}
	}
	rt := readRuntime(live)
	if !live {
		// A snapshot's process: what its runtime would have chosen, no
		// GOMEMLIMIT; this process's settings are not its business.
		rt.gomaxprocs, rt.gomemlimit = runtimeRule(lim.CPU.Own, rt.numCPU), noMemoryLimit
	}
	d := decide(lim, c, rt, prev)
	if doApply && !c.off {
		apply(&d)
		rep.Applied = true
	}
	o.prev, o.last = d.next, lim
	rep.Memory, rep.CPU = d.Memory, d.CPU
	rep.setErrors(append(errs, d.warnings...)...)
	o.publish(rep)
	return o
}

// openStats opens the kernel's view of the group and takes its first
// reading (the start of what the pressure rules compare).
func (o *owner) openStats(layout *cgroup.Layout, now time.Time) {
	if o.sr != nil {
		o.sr.Close()
	}
	o.sr = layout.OpenStatsWith(o.rd)
	o.kcur = cgroup.Stats{}
	if err := o.sr.Read(&o.kcur); err != nil && o.once(err.Error()) {
		logLater(o.c.logger, slog.LevelWarn, "tune: reading the kernel's view of the group: "+err.Error(), slog.String("error", err.Error()))
	}
	o.kprev, o.kAt = o.kcur, now
	o.kcell.storeKernel(&o.kcur)
}

// reportNow is the published report with the kernel's latest numbers.
func (o *owner) reportNow() Report {
	rep := o.report()
	o.kcell.kernelNumbers(&rep.Kernel, o.press.load().MemoryInUse)
	return rep
}

// closeReaders closes the files the loop kept open.
func (o *owner) closeReaders() {
	if o.rd != nil {
		o.rd.Close()
	}
	if o.sr != nil {
		o.sr.Close()
	}
}

// errNoCgroups stands for a part that was not read because discovery
// failed (its error is reported on its own).
var errNoCgroups = fmt.Errorf("no cgroups")

// publish makes rep (and what tune has applied) what readers see.
func (o *owner) publish(rep Report) {
	o.snap.Store(&snapshot{report: rep, prev: o.prev})
}

// report is the latest published report.
func (o *owner) report() Report { return o.snap.Load().report }

// start starts the loop (and the OnPressure goroutine) when the
// configuration asks for one, at the pressure level old left off (old may
// be nil).
func (o *owner) start(old *owner) {
	if !o.prepare(time.Now()) {
		o.closeReaders()
		close(o.done)
		return
	}
	o.carryLevel(old)
	go o.run()
}

// prepare readies the loop, taking the first pressure measurement (the
// start of the window), and reports whether there is to be one.
func (o *owner) prepare(now time.Time) bool {
	if o.c.refresh <= 0 || o.c.off {
		return false
	}
	o.meter = newPressureMeter(o.c.refresh)
	o.press.store(o.meter.measure(now, PressureNone, ""))
	o.lastOK.Store(now.UnixNano())
	if f := o.c.opts.OnPressure; f != nil {
		o.calls = newDelivery(f, o.c.logger)
	}
	o.state.Store(loopRunning)
	return true
}

// carryLevel starts this owner's pressure level where old's was, so that
// a second Init does not announce the same pressure again.
func (o *owner) carryLevel(old *owner) {
	if o.meter == nil || old == nil || old.meter == nil {
		return
	}
	p := old.press.load()
	o.meter.level, o.meter.prev, o.meter.signal = p.Level, p.Previous, p.Signal
	ev := o.press.load()
	ev.Level, ev.Previous, ev.Signal = p.Level, p.Previous, p.Signal
	o.press.store(ev)
}

// halt ends the loop and waits until its goroutine has exited. With
// waitCalls it also waits, until ctx is done, for an OnPressure call in
// progress, unless halt runs inside that call. After it returns the loop
// writes nothing more, and no OnPressure call starts.
func (o *owner) halt(ctx context.Context, waitCalls bool) error {
	o.stop.Do(func() {
		o.state.CompareAndSwap(loopRunning, loopStopped)
		close(o.quit)
	})
	<-o.done
	if o.calls == nil {
		return nil
	}
	o.calls.close()
	if !waitCalls || o.calls.isCaller() {
		return nil
	}
	select {
	case <-o.calls.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tune: an OnPressure call still running, no longer waited for: %w", context.Cause(ctx))
	}
}

func (o *owner) run() {
	t := time.NewTicker(o.c.refresh)
	defer func() {
		t.Stop()
		o.closeReaders()
		if p := recover(); p != nil {
			// Not reached by a panic in a tick (tick recovers); a bug here
			// must still not take the program down, and must show.
			o.state.Store(loopDead)
			logLater(o.c.logger, slog.LevelError, "tune: the refresh loop died; limits are no longer followed",
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		}
		close(o.done)
	}()
	if o.rd != nil {
		o.rd.WatchMoves() // here, not in Init: only a loop needs it
	}
	for {
		select {
		case <-o.quit:
			return
		case now := <-t.C:
			o.tick(now)
		}
	}
}

// delivery calls OnPressure from its own goroutine, so that the loop never
// waits for it: the loop leaves the latest event and goes on; events that
// arrive while a call runs are coalesced to the latest.
type delivery struct {
	f      func(PressureEvent)
	logger *slog.Logger
	gid    atomic.Uint64 // the goroutine's id

	mu      sync.Mutex // guards pending and has; never held while f runs
	pending PressureEvent
	has     bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func newDelivery(f func(PressureEvent), logger *slog.Logger) *delivery {
	d := &delivery{f: f, logger: logger, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	go d.run(ready)
	<-ready
	return d
}

// post leaves ev for the goroutine; it never blocks.
func (d *delivery) post(ev PressureEvent) {
	d.mu.Lock()
	d.pending, d.has = ev, true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *delivery) close() { d.once.Do(func() { close(d.quit) }) }

// isCaller reports whether the calling goroutine is the one running f.
func (d *delivery) isCaller() bool { return goid() == d.gid.Load() }

func (d *delivery) run(ready chan<- struct{}) {
	defer close(d.done)
	d.gid.Store(goid())
	close(ready)
	for {
		select {
		case <-d.quit:
			return
		case <-d.wake:
		}
		d.mu.Lock()
		ev, has := d.pending, d.has
		d.has = false
		d.mu.Unlock()
		select {
		case <-d.quit:
			return // stopped while waiting: call nothing more
		default:
		}
		if has {
			d.call(ev)
		}
	}
}

// call runs f, containing its panic.
func (d *delivery) call(ev PressureEvent) {
	defer func() {
		if p := recover(); p != nil {
			logLater(d.logger, slog.LevelError, "tune: OnPressure panicked; tune goes on",
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		}
	}()
	d.f(ev)
}

// goid returns the calling goroutine's id, from the first line of its
// stack ("goroutine 18 [running]:"). Only Stop needs it, to know whether
// it runs inside OnPressure.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}
