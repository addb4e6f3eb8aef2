package tune

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// rediscoverTicks is how many ticks at least separate two rediscoveries
// when the limit files cannot be read any more.
const rediscoverTicks = 10

// maxLoggedErrors bounds the set of distinct refresh errors remembered so
// that each is logged once.
const maxLoggedErrors = 64

// refreshTicks and refreshErrs count the refresh ticks that ran and those
// that met an error, for the metrics.
var refreshTicks, refreshErrs atomic.Uint64

// refreshCounts returns how many refresh ticks ran and how many of them
// failed, for the metrics.
func refreshCounts() (ticks, errs uint64) { return refreshTicks.Load(), refreshErrs.Load() }

// refresher is the one background loop: each tick it re-reads the limit
// files through the reader discovery opened, feeds any change to the same
// policies Init uses, and measures the memory pressure. Only its goroutine
// touches it, except stopped.
type refresher struct {
	c      config
	rd     *cgroup.Reader // nil when discovery failed: pressure only
	last   cgroup.Limits  // the limits last applied (the last good ones)
	procs  int            // GOMAXPROCS as last recorded in state.report
	mem    int64          // GOMEMLIMIT as last recorded in state.report
	since  int            // ticks since the last rediscovery
	logged map[string]bool
	meter  *pressureMeter

	stopped atomic.Bool
	quit    chan struct{}
}

// startRefresh starts the background loop that follows limit changes and
// measures the memory pressure, and returns the function that stops it. rd
// (which the loop then owns and closes) may be nil: the loop then only
// measures the pressure. state.mu must be held.
func startRefresh(c config, rd *cgroup.Reader, last cgroup.Limits) (stop func()) {
	r := newRefresher(c, rd, last)
	t := time.NewTicker(c.refresh)
	go r.run(t)
	// The stop function does not wait for the goroutine: it runs with
	// state.mu held, which the loop may be waiting for. A stopped loop
	// applies nothing more (apply checks stopped under state.mu), calls
	// OnPressure no more, and exits at once; TestStopEndsLoop checks that
	// it does.
	return func() {
		if !r.stopped.Swap(true) {
			close(r.quit)
		}
	}
}

// newRefresher prepares a loop and takes the first pressure measurement
// (the start of the window). state.mu must be held.
func newRefresher(c config, rd *cgroup.Reader, last cgroup.Limits) *refresher {
	r := &refresher{
		c: c, rd: rd, last: last,
		// Init records its report after this: what is in effect is the runtime's.
		procs:  runtime.GOMAXPROCS(0),
		mem:    debug.SetMemoryLimit(-1),
		since:  rediscoverTicks,
		logged: map[string]bool{},
		meter:  newPressureMeter(c.refresh),
		quit:   make(chan struct{}),
	}
	if p := Pressure(); !p.Time.IsZero() {
		// Carry the level over from the loop this one replaces, so a
		// second Init does not announce the same pressure again.
		r.meter.level, r.meter.prev = p.Level, p.Previous
	}
	ev, _ := r.meter.measure(time.Now())
	setPressure(ev)
	return r
}

func (r *refresher) run(t *time.Ticker) {
	if r.rd != nil {
		r.rd.WatchMoves() // here, not in Init: only a loop needs it
	}
	defer func() {
		t.Stop()
		if r.rd != nil {
			r.rd.Close()
		}
		if p := recover(); p != nil {
			r.c.logger.Error(fmt.Sprintf("tune: the refresh loop stopped: panic: %v", p))
		}
	}()
	for {
		select {
		case <-r.quit:
			return
		case now := <-t.C:
			r.tick(now)
		}
	}
}

// tick is one refresh: limits, then pressure. In the steady state (nothing
// changed, nothing failed) it does not allocate.
func (r *refresher) tick(now time.Time) {
	refreshTicks.Add(1)
	if r.rd != nil {
		r.refreshLimits()
	}
	ev, changed := r.meter.measure(now)
	setPressure(ev)
	recordHistory(now, r.c.refresh, ev, r.last, r.procs)
	if changed {
		r.pressureChanged(ev)
	}
}

func (r *refresher) refreshLimits() {
	lim := r.rd.Read()
	r.since++
	var layout *cgroup.Layout
	if lim.Stale && r.since >= rediscoverTicks {
		r.since = 0
		layout, lim = r.rediscover(lim)
	}
	failed := false
	if lim.MemoryErr != nil {
		failed = true
		r.logOnce(lim.MemoryErr)
		lim.Memory, lim.MemorySrc, lim.MemoryLevel, lim.MemoryErr = r.last.Memory, r.last.MemorySrc, r.last.MemoryLevel, r.last.MemoryErr
	}
	if lim.CPUErr != nil {
		failed = true
		r.logOnce(lim.CPUErr)
		lim.CPU, lim.CPUSrc, lim.CPULevel, lim.CPULeaf, lim.CPUErr = r.last.CPU, r.last.CPUSrc, r.last.CPULevel, r.last.CPULeaf, r.last.CPUErr
	}
	if failed {
		refreshErrs.Add(1)
	}
	if layout != nil || !sameLimits(lim, r.last) {
		r.apply(lim, layout)
		return
	}
	// Someone else may have moved them: the Go runtime following the quota
	// by itself, or the program calling runtime.GOMAXPROCS or
	// debug.SetMemoryLimit. The report follows.
	if runtime.GOMAXPROCS(0) != r.procs || r.meter.uint(mGOMEMLIMIT) != uint64(r.mem) {
		r.observe()
	}
}

// sameLimits reports whether a and b would lead to the same decisions.
func sameLimits(a, b cgroup.Limits) bool {
	return a.Memory == b.Memory && a.MemorySrc == b.MemorySrc && a.MemoryLevel == b.MemoryLevel &&
		(a.MemoryErr == nil) == (b.MemoryErr == nil) &&
		a.CPU == b.CPU && a.CPUSrc == b.CPUSrc && a.CPULevel == b.CPULevel && a.CPULeaf == b.CPULeaf &&
		(a.CPUErr == nil) == (b.CPUErr == nil)
}

// rediscover runs discovery again after a limit file could not be read
// (the group was removed) or the process was moved to other groups. On success the new
// reader replaces the old one.
func (r *refresher) rediscover(stale cgroup.Limits) (*cgroup.Layout, cgroup.Limits) {
	layout, err := cgroup.Discover(r.c.root)
	if err != nil {
		r.logOnce(fmt.Errorf("rediscovering the cgroups after a limit file went away: %w", err))
		return nil, stale
	}
	rd := layout.Open()
	lim := rd.Read()
	if lim.Stale {
		rd.Close()
		return nil, stale
	}
	rd.WatchMoves()
	r.rd.Close()
	r.rd = rd
	msg := "the process's cgroups changed (it was moved, or a limit file went away) and were discovered again: memory group " +
		dirOrNone(layout.Memory.Dirs) + ", cpu group " + dirOrNone(layout.CPU.Dirs)
	r.c.logger.Info("tune: " + msg)
	historyEvent(time.Now(), eventRediscovery, msg)
	return layout, lim
}

func dirOrNone(dirs []string) string {
	if len(dirs) == 0 {
		return "none"
	}
	return dirs[0]
}

// logOnce logs a refresh error the first time it is seen.
func (r *refresher) logOnce(err error) {
	msg := err.Error()
	if r.logged[msg] || len(r.logged) >= maxLoggedErrors {
		return
	}
	r.logged[msg] = true
	r.c.logger.Warn("tune: refresh: " + msg + "; keeping the last good values")
	historyEvent(time.Now(), eventError, msg)
}

// apply feeds changed limits to the policies, carries out their decisions
// and records the new report, logging one line per part that changed.
func (r *refresher) apply(lim cgroup.Limits, layout *cgroup.Layout) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if r.stopped.Load() {
		return // replaced or stopped while this tick ran
	}
	old := state.report
	rep := old
	if layout != nil {
		rep.Cgroup = cgroupReport(layout, r.rd)
	}
	env := os.Getenv("GOMEMLIMIT")
	rep.Memory = decideMemory(lim, r.c, debug.SetMemoryLimit(-1), env)
	if rep.Memory.Action == "unchanged" && env == "" && r.c.ratio != 0 &&
		lim.Memory == 0 && lim.MemoryErr == nil && state.memSet {
		rep.Memory.Action, rep.Memory.GOMEMLIMIT = "restored", state.origMem
		rep.Memory.Reason = "the memory limit was removed: back to GOMEMLIMIT from before tune set it"
	}
	s := runtimeProcs(lim, true)
	if state.rtAware {
		// The runtime follows its own group's quota by itself: what it
		// will choose is its rule over that quota, even if it has not
		// caught up yet.
		s.runtimeDefault = runtimeRule(lim.CPULeaf, s.numCPU)
	}
	rep.CPU = decideProcs(lim, r.c, s)
	applyLocked(&rep)
	state.report = rep
	r.last, r.procs, r.mem = lim, rep.CPU.GOMAXPROCS, rep.Memory.GOMEMLIMIT

	if old.Memory.Limit != rep.Memory.Limit || old.Memory.GOMEMLIMIT != rep.Memory.GOMEMLIMIT || old.Memory.Source != rep.Memory.Source {
		r.c.logger.Info(fmt.Sprintf("tune: memory limit %s → %s, GOMEMLIMIT %s → %s (%s: %s)",
			bytesOrNone(old.Memory.Limit), bytesOrNone(rep.Memory.Limit),
			bytesOrNone(old.Memory.GOMEMLIMIT), bytesOrNone(rep.Memory.GOMEMLIMIT), rep.Memory.Action, rep.Memory.Reason))
	}
	if old.CPU.Quota != rep.CPU.Quota || old.CPU.GOMAXPROCS != rep.CPU.GOMAXPROCS || old.CPU.Source != rep.CPU.Source {
		r.c.logger.Info(fmt.Sprintf("tune: CPU quota %s → %s, GOMAXPROCS %d → %d (%s: %s)",
			quotaOrNone(old.CPU.Quota), quotaOrNone(rep.CPU.Quota),
			old.CPU.GOMAXPROCS, rep.CPU.GOMAXPROCS, rep.CPU.Action, rep.CPU.Reason))
	}
}

// observe records a GOMAXPROCS or GOMEMLIMIT that changed without tune.
func (r *refresher) observe() {
	state.mu.Lock()
	defer state.mu.Unlock()
	if r.stopped.Load() {
		return
	}
	procs, mem := runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1)
	if procs != state.report.CPU.GOMAXPROCS {
		r.c.logger.Info(fmt.Sprintf("tune: GOMAXPROCS %d → %d (changed by the Go runtime or the program, not by tune)",
			state.report.CPU.GOMAXPROCS, procs))
		state.report.CPU.Before, state.report.CPU.GOMAXPROCS = state.report.CPU.GOMAXPROCS, procs
	}
	if mem != state.report.Memory.GOMEMLIMIT {
		r.c.logger.Info(fmt.Sprintf("tune: GOMEMLIMIT %s → %s (changed by the program, not by tune)",
			bytesOrNone(state.report.Memory.GOMEMLIMIT), bytesOrNone(mem)))
		state.report.Memory.Before, state.report.Memory.GOMEMLIMIT = state.report.Memory.GOMEMLIMIT, mem
	}
	r.procs, r.mem = procs, mem
}

func quotaOrNone(q float64) string {
	if q <= 0 {
		return "none"
	}
	return fmt.Sprintf("%.4g", q)
}

// pressureChanged announces a new pressure level: a Warn line when it
// rises to High or Critical, an Info line when it falls, and OnPressure.
func (r *refresher) pressureChanged(ev PressureEvent) {
	if ev.Level > ev.Previous && ev.Level >= PressureHigh {
		r.c.logger.Warn("tune: " + ev.String())
	} else {
		r.c.logger.Info("tune: " + ev.String())
	}
	if f := r.c.opts.OnPressure; f != nil {
		pressureCallMu.Lock()
		defer pressureCallMu.Unlock()
		if !r.stopped.Load() {
			f(ev)
		}
	}
}

// Current returns the Report of the latest Init as it stands now: the
// refresh loop updates it with every change it applies or sees. Before any
// Init it is the zero Report.
func Current() Report {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.report
}
