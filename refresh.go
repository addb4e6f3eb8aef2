package tune

// The refresh loop: each tick re-reads the limit files through the reader
// discovery opened, feeds a change to the same decision function Init uses,
// and measures the memory pressure. Everything here runs on the owner's
// loop goroutine.

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// rediscoverTicks is how many ticks at least separate two rediscoveries
// when the limit files cannot be read any more.
const rediscoverTicks = 10

// maxLoggedErrors bounds the set of distinct refresh errors remembered so
// that each is logged once.
const maxLoggedErrors = 64

// staleAfter is how old a measurement may grow before Pressure calls it
// Stale: three intervals, saturated where that overflows a Duration.
func staleAfter(interval time.Duration) time.Duration {
	if interval > math.MaxInt64/3 {
		return math.MaxInt64
	}
	return 3 * interval
}

// refreshCounts returns how many refresh ticks ran and how many of them
// failed, in this process, for the metrics.
func refreshCounts() (ticks, errs uint64) { return stats.ticks.Load(), stats.errors.Load() }

// tick is one refresh: limits, then pressure. In the steady state (nothing
// changed, nothing failed) it does not allocate. A panic inside it is
// logged once, counted as a refresh error, and the loop goes on.
func (o *owner) tick(now time.Time) {
	defer o.recoverTick()
	stats.ticks.Add(1)
	ok := true
	if o.rd != nil {
		ok = o.refreshLimits()
	}
	kl, ks := PressureNone, PressureSignal("")
	if o.sr != nil {
		if err := o.sr.Read(&o.kcur); err != nil && o.once(err.Error()) {
			logLater(o.c.logger, slog.LevelWarn, "tune: reading the kernel's view of the group: "+err.Error(), slog.String("error", err.Error()))
		}
		kl, ks = kernelPressure(&o.kprev, &o.kcur, now.Sub(o.kAt), defaultKernelThresholds)
		o.kprev, o.kAt = o.kcur, now
		o.kcell.storeKernel(&o.kcur)
	}
	ev := o.meter.measure(now, kl, ks)
	o.press.store(ev)
	o.hist.sample(now, ev, &o.snap.Load().report, o.sr != nil, &o.kcur)
	if ok {
		o.lastOK.Store(now.UnixNano())
	}
	if o.meter.changed {
		o.pressureChanged(ev)
	}
}

func (o *owner) recoverTick() {
	if p := recover(); p != nil {
		stats.errors.Add(1)
		msg := fmt.Sprint(p)
		if o.once("panic: " + msg) {
			logLater(o.c.logger, slog.LevelError, "tune: a refresh tick panicked; it was skipped and the loop goes on (please report this bug)",
				slog.String("panic", msg), slog.String("stack", string(debug.Stack())))
		}
	}
}

// refreshLimits re-reads the limits and acts on a change. It reports
// whether the tick went without error.
func (o *owner) refreshLimits() bool {
	lim := o.rd.Read()
	o.since++
	var layout *cgroup.Layout
	if lim.Stale && o.since >= rediscoverTicks {
		// The group went away or the process was moved: expected events,
		// handled by discovering the groups again.
		o.since = 0
		layout, lim = o.rediscover(lim)
	}
	ok := true
	keep := func(err error) {
		if lim.Stale && cgroup.IsIOError(err) {
			// A file of a group that went away: an expected event, which
			// rediscovery handles (and reports when it fails).
			return
		}
		ok = false
		if o.once(err.Error()) {
			logLater(o.c.logger, slog.LevelWarn, "tune: refresh: "+err.Error()+"; keeping the last good values", slog.String("error", err.Error()))
		}
	}
	if lim.Memory.Err != nil {
		keep(lim.Memory.Err)
		lim.Memory = o.last.Memory
	}
	if lim.CPU.Err != nil {
		keep(lim.CPU.Err)
		lim.CPU = o.last.CPU
	}
	if !ok {
		stats.errors.Add(1)
	}
	if layout != nil || !lim.Same(o.last) {
		o.change(lim, layout)
		return ok
	}
	// Someone else may have moved them: the Go runtime following the quota
	// by itself, or the program calling runtime.GOMAXPROCS or
	// debug.SetMemoryLimit. The report follows.
	rep := &o.snap.Load().report
	if runtime.GOMAXPROCS(0) != rep.CPU.GOMAXPROCS || debug.SetMemoryLimit(-1) != rep.Memory.GOMEMLIMIT {
		o.observe()
	}
	return ok
}

// once reports whether msg is new, remembering it (up to a bound).
func (o *owner) once(msg string) bool {
	if o.logged[msg] || len(o.logged) >= maxLoggedErrors {
		return false
	}
	o.logged[msg] = true
	o.hist.event(time.Now(), eventError, msg)
	return true
}

// rediscover runs discovery again after a limit file could not be read
// (the group was removed) or the process was moved to other groups. On
// success the new reader replaces the old one.
func (o *owner) rediscover(stale cgroup.Limits) (*cgroup.Layout, cgroup.Limits) {
	layout, err := cgroup.Discover(o.c.root)
	if err != nil {
		stats.errors.Add(1)
		if e := fmt.Errorf("rediscovering the cgroups after a limit file went away: %w", err); o.once(e.Error()) {
			logLater(o.c.logger, slog.LevelWarn, "tune: "+e.Error(), slog.String("error", err.Error()))
		}
		return nil, stale
	}
	rd := layout.Open()
	lim := rd.Read()
	if lim.Stale {
		rd.Close()
		return nil, stale
	}
	rd.WatchMoves()
	o.rd.Close()
	o.rd = rd
	o.openStats(layout, time.Now())
	const msg = "the process's cgroups changed (it was moved, or its group went away) and were discovered again"
	mem, cpu := dirOrNone(layout.Memory.Dirs), dirOrNone(layout.CPU.Dirs)
	logLater(o.c.logger, slog.LevelInfo, "tune: "+msg, slog.String("memory_group", mem), slog.String("cpu_group", cpu))
	o.hist.event(time.Now(), eventRediscovery, msg+": memory group "+mem+", cpu group "+cpu)
	return layout, lim
}

func dirOrNone(dirs []string) string {
	if len(dirs) == 0 {
		return "none"
	}
	return dirs[0]
}

// change feeds changed limits to the decision function, carries out its
// decision, publishes the new report and logs one line per part that
// changed.
func (o *owner) change(lim cgroup.Limits, layout *cgroup.Layout) {
	old := o.report()
	rep := old
	if layout != nil {
		rep.Cgroup = cgroupReport(layout, o.rd)
		rep.Kernel = kernelNotes(&o.kcur)
	}
	d := decide(lim, o.c, readRuntime(o.live), o.prev)
	apply(&d)
	o.prev, o.last = d.next, lim
	rep.Memory, rep.CPU = d.Memory, d.CPU
	o.publish(rep)
	for _, w := range d.warnings {
		if o.once(w.Error()) {
			logLater(o.c.logger, slog.LevelWarn, "tune: "+w.Error())
		}
	}
	if m, n := old.Memory, rep.Memory; m.Limit != n.Limit || m.GOMEMLIMIT != n.GOMEMLIMIT || m.Source != n.Source {
		logLater(o.c.logger, slog.LevelInfo,
			fmt.Sprintf("tune: memory limit %s → %s, GOMEMLIMIT %s → %s (%s: %s)",
				bytesOrNone(m.Limit), bytesOrNone(n.Limit), bytesOrNone(m.GOMEMLIMIT), bytesOrNone(n.GOMEMLIMIT), n.Action, n.Reason),
			slog.Int64("memory_limit", n.Limit), slog.Int64("gomemlimit", n.GOMEMLIMIT),
			slog.String("source", n.Source), slog.String("action", string(n.Action)))
	}
	if c, n := old.CPU, rep.CPU; c.Quota != n.Quota || c.GOMAXPROCS != n.GOMAXPROCS || c.Source != n.Source {
		logLater(o.c.logger, slog.LevelInfo,
			fmt.Sprintf("tune: CPU quota %s → %s, GOMAXPROCS %d → %d (%s: %s)",
				quotaOrNone(c.Quota), quotaOrNone(n.Quota), c.GOMAXPROCS, n.GOMAXPROCS, n.Action, n.Reason),
			slog.Float64("cpu_quota", n.Quota), slog.Int("gomaxprocs", n.GOMAXPROCS),
			slog.String("source", n.Source), slog.String("action", string(n.Action)))
	}
}

// observe records a GOMAXPROCS or GOMEMLIMIT that changed without tune.
func (o *owner) observe() {
	rep := o.report()
	procs, mem := runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1)
	if procs != rep.CPU.GOMAXPROCS {
		logLater(o.c.logger, slog.LevelInfo,
			fmt.Sprintf("tune: GOMAXPROCS %d → %d (changed by the Go runtime or the program, not by tune)", rep.CPU.GOMAXPROCS, procs),
			slog.Int("gomaxprocs", procs))
		rep.CPU.Before, rep.CPU.GOMAXPROCS = rep.CPU.GOMAXPROCS, procs
	}
	if mem != rep.Memory.GOMEMLIMIT {
		logLater(o.c.logger, slog.LevelInfo,
			fmt.Sprintf("tune: GOMEMLIMIT %s → %s (changed by the program, not by tune)", bytesOrNone(rep.Memory.GOMEMLIMIT), bytesOrNone(mem)),
			slog.Int64("gomemlimit", mem))
		rep.Memory.Before, rep.Memory.GOMEMLIMIT = rep.Memory.GOMEMLIMIT, mem
	}
	o.publish(rep)
}

func quotaOrNone(q float64) string {
	if q <= 0 {
		return "none"
	}
	return fmt.Sprintf("%.4g", q)
}

// pressureChanged announces a new pressure level: a Warn line when it
// rises to High or Critical, an Info line when it falls, and OnPressure.
func (o *owner) pressureChanged(ev PressureEvent) {
	level := slog.LevelInfo
	if ev.Level > ev.Previous && ev.Level >= PressureHigh {
		level = slog.LevelWarn
	}
	logLater(o.c.logger, level, "tune: "+ev.String(),
		slog.String("pressure", ev.Level.String()), slog.String("previous_pressure", ev.Previous.String()),
		slog.String("signal", string(ev.Signal)), slog.Float64("gc_cpu_fraction", ev.GCCPUFraction),
		slog.Uint64("memory_in_use", ev.MemoryInUse), slog.Int64("gomemlimit", ev.GOMEMLIMIT))
	if ev.Level == PressureCritical && ev.Previous < PressureCritical {
		in := lastWordsInput{Event: ev, Report: &o.snap.Load().report}
		if o.sr != nil {
			in.Stats = &o.kcur
		}
		o.lastWords(in)
	} else if ev.Previous == PressureCritical && ev.Level < PressureCritical {
		o.leftCritical() // lastwords.go: a run that ends from here on did not end at Critical
	}
	if o.calls != nil {
		o.calls.post(ev)
	}
}
