package tune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/runtimehooks/tune/internal/postmortem"
)

// Options configures Init and Detect. The zero value is the recommended
// production setting.
type Options struct {
	// MemoryRatio is the share of the memory limit given to GOMEMLIMIT.
	// 0 means 0.9; valid values are 0 < r <= 1, and MemoryOff, which
	// switches the GOMEMLIMIT policy off.
	MemoryRatio float64
	// MaxProcs is the GOMAXPROCS policy; "" means ProcsAuto.
	MaxProcs ProcsPolicy
	// Logger receives the start line, one line per change and warnings.
	// nil means slog.Default(), looked up each time a line is written, so
	// a later slog.SetDefault is honoured. A handler that panics is
	// contained (tune's lines then go to stderr); one that blocks stalls
	// only tune's logging.
	Logger *slog.Logger
	// Root is the file system root under which /proc/self/cgroup,
	// /proc/self/mountinfo and the cgroup files are read; "" means "/".
	// A snapshot copied out of another machine can be analyzed with Detect.
	// Init ignores Root: it only ever applies what the real root says.
	Root string
	// RefreshInterval is how often Init's background loop re-reads the
	// limits and measures the memory pressure. 0 means 1s; RefreshOff (or
	// any negative value) disables the loop; below 100ms it is raised to
	// 100ms, with a warning.
	RefreshInterval time.Duration
	// OnPressure, if set, is called on every change of the memory
	// pressure level, from a goroutine of its own: the loop never waits for
	// it. Changes that happen while a call runs are coalesced to the
	// latest. Calls of one Init never overlap; a panic is contained and
	// logged. It may call Stop (see Stop).
	OnPressure func(PressureEvent)
	// CrashFile is where the runtime writes the report of a crash (an
	// unrecovered panic, a fatal error, SIGQUIT), so that it outlives the
	// process: the next Init logs it at Error and PreviousCrash returns it.
	// "" means <os.TempDir()>/<executable name>-<8 hex digits>.crash, such
	// as /tmp/server-1f2e3d4c.crash (the digits hash the executable's path,
	// so two programs never share a file); "off" means no crash file, and
	// so does GOTUNE_CRASH_FILE=off (the variable, when set, wins). tune
	// creates the file 0600, never its directories, and touches only a file
	// that starts with its own header line. Shutdown removes it when no
	// crash was written. It is wired also under GOTUNE=off (it is not a
	// limit).
	CrashFile string
	// LastWordsInterval is the least time between two sets of last words:
	// when the memory pressure rises to Critical, tune writes a heap
	// profile, the goroutines and a one-line JSON summary beside the crash
	// file (keeping the newest 3 sets), and the summary line to the
	// termination message file (see TerminationLog), so that an OOM kill
	// leaves evidence. 0 means 1 minute; LastWordsOff disables them, and so
	// does GOTUNE_LAST_WORDS=off (the variable, a duration or off, wins).
	// The files need the crash file (CrashOff means none) and the refresh
	// loop, which measures the pressure.
	LastWordsInterval time.Duration
	// FlightRecorder, when positive, keeps the runtime's execution trace of
	// about the last FlightRecorder (runtime/trace.FlightRecorder, at most
	// about 16 MiB) and adds it to the last words. Tracing costs CPU all
	// the time (1-2% by the Go team's account), so it is off by default;
	// GOTUNE_FLIGHT_RECORDER=on (10s), a duration or off wins.
	FlightRecorder time.Duration
	// TerminationLog is the file the last words' summary line is written
	// to (overwritten) when the pressure rises to Critical: Kubernetes
	// shows it as the container's termination message in kubectl describe
	// pod, beside OOMKilled. "" means /dev/termination-log, the kubelet's
	// default terminationMessagePath; TerminationLogOff (or
	// GOTUNE_TERMINATION_LOG=off; the variable, a path or off, wins) means
	// none. tune writes only a regular file that exists: it never creates
	// it.
	TerminationLog string
}

// Init detects the process's limits and applies them to the runtime: it
// sets GOMEMLIMIT and GOMAXPROCS as Options and the environment say, wires
// the crash output and starts the refresh loop. It logs one Info line with
// the Report. Errors name the file, variable or value at fault; whatever can
// still be applied is applied. It may be called again (the later call
// replaces the earlier configuration and loop) and from any goroutine. It
// never panics or exits the program, and it holds no lock while the logger
// runs.
func Init(opts Options) (rep Report, err error) {
	defer func() {
		// A bug in tune must not take the program down with it.
		if p := recover(); p != nil {
			err = fmt.Errorf("tune.Init: internal error, please report it: %v", p)
			rep.setErrors(err)
			logNow(opts.Logger, slog.LevelError, err.Error(), slog.String("stack", string(debug.Stack())))
		}
	}()
	opts.Root = ""
	c, errs := loadConfig(opts, os.Getenv)
	o, lines := replace(c, errs)
	rep = o.reportNow()
	prevExit, hasPrev := PreviousExit()
	o.hist.recordInit(rep, prevExit, hasPrev)

	// The report is published and no lock is held: the logger may call
	// into tune.
	bad := logNow(c.logger, slog.LevelInfo, rep.String(), reportAttrs(rep)...)
	for _, e := range rep.errs {
		bad = errors.Join(bad, logNow(c.logger, slog.LevelWarn, "tune: "+e.Error(), slog.String("error", e.Error())))
	}
	for _, l := range lines {
		l.logger = c.logger
		bad = errors.Join(bad, l.write())
	}
	if bad != nil {
		rep.setErrors(append(rep.errs, bad)...)
	}
	return rep.clone(), errors.Join(rep.errs...)
}

// replace builds the owner for c, replacing (and stopping) the current one,
// and starts its loop. It returns the lines the crash output asks to log.
// Init and Stop take turns on initMu; no user code runs under it.
func replace(c config, errs []error) (*owner, []logLine) {
	initMu.Lock()
	defer initMu.Unlock()
	old := current.Load()
	var prev applied
	if old != nil {
		// Its loop must have exited before this Init applies anything; an
		// OnPressure call of it still running is not waited for.
		old.halt(context.Background(), false)
		prev = old.snap.Load().prev
	}
	o := build(c, true, runtime.GOOS == "linux", prev, errs)
	lines, crashErr := initCrash(c.crashFile, func() []postmortem.GroupCount {
		if o.sr == nil {
			return nil
		}
		return postmortem.OOMCounts(o.sr, &o.kcur)
	})
	rep := o.report()
	if crashErr != nil {
		rep.setErrors(append(rep.errs, crashErr)...)
	}
	rep.CrashFile = crashFileInUse()
	o.publish(rep)
	o.startHistory(old)
	o.start(old)
	current.Store(o)
	lines = append(lines, setFlight(c)...) // the flight recorder follows the configuration (lastwords)
	return o, lines
}

// reportAttrs are the start line's attributes, for JSON handlers.
func reportAttrs(r Report) []slog.Attr {
	return []slog.Attr{
		slog.String("cgroup", r.Cgroup.Mode),
		slog.Int64("memory_limit", r.Memory.Limit), slog.Int64("gomemlimit", r.Memory.GOMEMLIMIT),
		slog.String("memory_action", string(r.Memory.Action)), slog.String("memory_source", r.Memory.Source),
		slog.Float64("cpu_quota", r.CPU.Quota), slog.Int("gomaxprocs", r.CPU.GOMAXPROCS),
		slog.String("cpu_action", string(r.CPU.Action)), slog.String("cpu_source", r.CPU.Source),
		slog.String("crash_file", r.CrashFile), slog.Int("errors", len(r.Errors)),
	}
}

// Detect makes the decisions Init would make, from Options and the
// environment, and changes nothing. With Options.Root set it analyzes a
// snapshot of another machine's /proc and /sys/fs/cgroup. It takes no lock
// that Init, Current, Stop or a metrics scrape need, so a slow snapshot
// delays only the caller.
func Detect(opts Options) (Report, error) {
	c, errs := loadConfig(opts, os.Getenv)
	live := c.root == "/"
	var prev applied
	if o := current.Load(); o != nil && live {
		prev = o.snap.Load().prev
	}
	o := build(c, live, false, prev, errs)
	o.closeReaders()
	rep := o.reportNow()
	return rep, errors.Join(rep.errs...)
}

// Stop ends whatever Init started in the background: the refresh loop,
// the goroutine that calls OnPressure and the flight recorder. It returns
// once the loop has exited and no OnPressure call is running; after it
// returns, nothing of that loop runs or changes anything. Called from
// inside OnPressure, it stops the loop and returns without waiting for the
// call it is part of. The limits Init set stay in effect, and so does the
// crash output, since a panic after Stop in a deferred call must still be
// recorded. Current and Pressure keep their last values (Pressure with
// Stale set).
func Stop() {
	stop(context.Background())
}

// stop is Stop with a deadline for an OnPressure call still running.
func stop(ctx context.Context) error {
	defer stopFlight() // after the loop, whose last words may be writing its trace
	initMu.Lock()
	o := current.Load()
	initMu.Unlock()
	if o == nil {
		return nil
	}
	return o.halt(ctx, true)
}

// Current returns the Report of the latest Init as it stands now: the
// refresh loop updates it with every change it applies or sees. Before any
// Init it says that Init has not run. It takes no lock; the Report is the
// caller's own copy.
func Current() Report {
	o := current.Load()
	if o == nil {
		return notInitialized.clone()
	}
	return o.reportNow().clone()
}
