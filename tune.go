// Package tune makes a Go program behave well inside a container.
//
//	import _ "github.com/runtimehooks/tune/auto" // or: tune.Init(tune.Options{})
//
// Init reads the memory and CPU limits of the process's cgroups (v1, v2 or
// hybrid, parent groups included), sets GOMEMLIMIT to 90% of the memory
// limit and GOMAXPROCS from the CPU quota, and logs one line saying what it
// decided and why. Detect makes the same decisions without applying them.
//
// Operators outrank code: the environment variables GOTUNE=off,
// GOTUNE_MEMORY_RATIO, GOTUNE_MAXPROCS, GOTUNE_REFRESH, GOTUNE_CRASH_FILE and
// AUTOMEMLIMIT override Options, and GOMEMLIMIT or GOMAXPROCS set in the
// environment are never overridden.
package tune

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// Options configures Init and Detect. The zero value is the recommended
// production setting.
type Options struct {
	// MemoryRatio is the share of the memory limit given to GOMEMLIMIT.
	// 0 means 0.9; valid values are 0 < r <= 1.
	MemoryRatio float64
	// MaxProcs is the GOMAXPROCS policy; "" means ProcsAuto.
	MaxProcs ProcsPolicy
	// Logger receives the start line, one line per change and warnings.
	// nil means slog.Default().
	Logger *slog.Logger
	// Root is the file system root under which /proc/self/cgroup,
	// /proc/self/mountinfo and the cgroup files are read; "" means "/".
	// A snapshot copied out of another machine can be analyzed with Detect.
	// Init ignores Root: it only ever applies what the real root says.
	Root string
	// RefreshInterval is how often Init's background loop re-reads the
	// limits. 0 means 1s; a negative value disables the loop.
	RefreshInterval time.Duration
	// OnPressure, if set, is called on every change of the memory
	// pressure level, never concurrently with itself.
	OnPressure func(PressureEvent)
	// CrashFile is where fatal crash output is written. "" means
	// <os.TempDir()>/<executable name>.crash; "off" disables it. It is
	// wired also under GOTUNE=off (it is not a limit); the previous run's
	// crash, if any, is reported by PreviousCrash.
	CrashFile string
}

// state is everything Init has done, guarded by mu.
var state struct {
	mu         sync.Mutex
	report     Report
	inited     bool
	origMem    int64  // GOMEMLIMIT before tune first set it
	memSet     bool   // tune has set GOMEMLIMIT
	procsSet   bool   // tune has called runtime.GOMAXPROCS
	baseProcs  int    // GOMAXPROCS when tune first looked, before it set anything
	rtAware    bool   // the runtime follows the cgroup quota by itself (Go 1.25+ default)
	background func() // stops what Init started, or nil
}

// Init detects the process's limits and applies them to the runtime: it
// sets GOMEMLIMIT and GOMAXPROCS as Options and the environment say, wires
// the crash output and starts the refresh loop. It logs one Info line with
// the Report. Errors name the file, variable or value at fault; whatever can
// still be applied is applied. It may be called again (the later call
// replaces the earlier configuration) and from any goroutine. It never
// panics or exits the program.
func Init(opts Options) (rep Report, err error) {
	opts.Root = ""
	state.mu.Lock()
	defer state.mu.Unlock()
	defer func() {
		// A bug in tune must not take the program down with it.
		if p := recover(); p != nil {
			err = fmt.Errorf("tune.Init: internal error, please report it: %v", p)
			rep.setErrors(err)
			logger := opts.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Error(err.Error(), "stack", string(debug.Stack()))
		}
	}()
	return initLocked(opts)
}

// initLocked is Init's body; state.mu must be held.
func initLocked(opts Options) (Report, error) {
	stopLocked()

	c, errs := loadConfig(opts, os.Getenv)
	rep, rd, lim := detect(c, true)
	rep.Errors = nil // recomputed below with every error of this call
	if runtime.GOOS == "linux" && !c.off {
		applyLocked(&rep)
		rep.Applied = true
	}
	if err := initCrash(c); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, limitErrs(lim)...)
	if c.refresh > 0 && !c.off {
		// Without a reader (no cgroups here) the loop measures the memory
		// pressure only.
		state.background = startRefresh(c, rd, lim)
	} else if rd != nil {
		rd.Close()
	}
	rep.setErrors(append(errs, rep.discoverErr)...)
	state.report, state.inited = rep, true
	recordInit(rep)

	c.logger.Info(rep.String())
	for _, e := range rep.errs {
		c.logger.Warn("tune: " + e.Error())
	}
	return rep, errors.Join(rep.errs...)
}

// Detect makes the decisions Init would make, from Options and the
// environment, and changes nothing. With Options.Root set it analyzes a
// snapshot of another machine's /proc and /sys/fs/cgroup.
func Detect(opts Options) (Report, error) {
	c, errs := loadConfig(opts, os.Getenv)
	state.mu.Lock()
	rep, rd, lim := detect(c, false)
	state.mu.Unlock()
	if rd != nil {
		rd.Close()
	}
	rep.setErrors(append(append(errs, limitErrs(lim)...), rep.discoverErr)...)
	return rep, errors.Join(rep.errs...)
}

// Stop ends whatever Init started in the background (the refresh loop).
// The limits Init set stay in effect, and so does the crash output, since
// a panic after Stop in a deferred call must still be recorded.
func Stop() {
	state.mu.Lock()
	defer state.mu.Unlock()
	stopLocked()
}

func stopLocked() {
	if state.background != nil {
		state.background()
		state.background = nil
	}
}

// detect discovers the cgroups under c.root, reads the limits and decides.
// The returned reader is open (nil if discovery failed); live says the
// process itself is the subject (the real root), not a snapshot.
// state.mu must be held.
func detect(c config, live bool) (Report, *cgroup.Reader, cgroup.Limits) {
	var rep Report
	var lim cgroup.Limits
	live = live || c.root == "/"
	if c.root == "/" && runtime.GOOS != "linux" {
		rep.Cgroup.Mode = "none"
		rep.Cgroup.Note = "no cgroups here (" + runtime.GOOS + ")"
		cur, procs := debug.SetMemoryLimit(-1), runtime.GOMAXPROCS(0)
		rep.Memory = MemoryReport{Ratio: c.ratio, Before: cur, GOMEMLIMIT: cur, Action: "unchanged", Reason: rep.Cgroup.Note}
		rep.CPU = CPUReport{Policy: c.procs, NumCPU: runtime.NumCPU(), RuntimeDefault: procs,
			Before: procs, GOMAXPROCS: procs, Action: "unchanged", Reason: rep.Cgroup.Note}
		return rep, nil, lim
	}
	layout, err := cgroup.Discover(c.root)
	var rd *cgroup.Reader
	if err != nil {
		rep.discoverErr = err
		rep.Cgroup.Mode = "none"
		lim.MemoryErr, lim.CPUErr = errSkipped, errSkipped
	} else {
		rd = layout.Open()
		lim = rd.Read()
		rep.Cgroup = cgroupReport(layout, rd)
	}
	rep.Memory = decideMemory(lim, c, debug.SetMemoryLimit(-1), getenvIf(live, "GOMEMLIMIT"))
	rep.CPU = decideProcs(lim, c, runtimeProcs(lim, live))
	if c.off {
		rep.Memory.Action, rep.CPU.Action = "unchanged", "unchanged"
		rep.Memory.Reason = "GOTUNE=off: would " + rep.Memory.Reason
		rep.CPU.Reason = "GOTUNE=off: would " + rep.CPU.Reason
		rep.Memory.GOMEMLIMIT, rep.CPU.GOMAXPROCS = rep.Memory.Before, rep.CPU.Before
	}
	return rep, rd, lim
}

// errSkipped stands for a part that was not read because discovery failed
// (the discovery error is reported on its own).
var errSkipped = errors.New("not read")

func limitErrs(lim cgroup.Limits) []error {
	var errs []error
	for _, e := range []error{lim.MemoryErr, lim.CPUErr} {
		if e != nil && e != errSkipped {
			errs = append(errs, e)
		}
	}
	return errs
}

func getenvIf(live bool, name string) string {
	if !live {
		return ""
	}
	return os.Getenv(name)
}

// runtimeProcs gathers what the GOMAXPROCS policy needs to know about the
// runtime. For a snapshot (live false) the runtime default is the Go
// runtime's rule over the snapshot's own group. state.mu must be held.
func runtimeProcs(lim cgroup.Limits, live bool) procsState {
	s := procsState{current: runtime.GOMAXPROCS(0), numCPU: runtime.NumCPU()}
	if !live {
		s.runtimeDefault = runtimeRule(lim.CPULeaf, s.numCPU)
		return s
	}
	s.env = os.Getenv("GOMAXPROCS")
	if state.baseProcs == 0 {
		state.baseProcs = s.current
		state.rtAware = s.current == runtimeRule(lim.CPULeaf, s.numCPU)
	}
	switch {
	case !state.procsSet:
		s.runtimeDefault = s.current
	case state.rtAware:
		s.runtimeDefault = runtimeRule(lim.CPULeaf, s.numCPU)
	default:
		s.runtimeDefault = state.baseProcs
	}
	return s
}

// applyLocked carries out the decisions in rep and records what is in
// effect afterwards. state.mu must be held.
func applyLocked(rep *Report) {
	switch rep.Memory.Action {
	case "set":
		if !state.memSet {
			state.origMem, state.memSet = rep.Memory.Before, true
		}
		debug.SetMemoryLimit(rep.Memory.GOMEMLIMIT)
	case "restored": // the refresh loop: the limit is gone, undo what tune set
		debug.SetMemoryLimit(state.origMem)
		state.memSet = false
	}
	rep.Memory.GOMEMLIMIT = debug.SetMemoryLimit(-1)

	switch rep.CPU.Action {
	case "set":
		if rep.CPU.GOMAXPROCS != runtime.GOMAXPROCS(0) || !state.procsSet {
			runtime.GOMAXPROCS(rep.CPU.GOMAXPROCS)
		}
		state.procsSet = true
	case "runtime":
		if state.procsSet {
			runtime.SetDefaultGOMAXPROCS()
			state.procsSet = false
		}
	}
	rep.CPU.GOMAXPROCS = runtime.GOMAXPROCS(0)
}
