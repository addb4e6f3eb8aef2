// Package tune makes a Go program behave well inside a container: it sets
// GOMEMLIMIT and GOMAXPROCS from the cgroup limits, follows them while the
// program runs, and says what it decided and why.
//
//	import _ "github.com/runtimehooks/tune/auto" // the defaults, at start
//
// or, early in main, to choose Options or keep the Report:
//
//	tune.Init(tune.Options{}) // logs one line; its error names what could not be applied
//	defer tune.Stop()
//
// # Limits
//
// Init reads the memory and CPU limits of the process's cgroups (v1, v2 or
// hybrid; the tightest over the process's group and its ancestors, v2
// memory.high included), sets GOMEMLIMIT to 90% of the memory limit
// (Options.MemoryRatio) and GOMAXPROCS by the ProcsPolicy in
// Options.MaxProcs, logs one Info line and returns a Report. A background
// loop re-reads the limits every second (Options.RefreshInterval) and
// follows a change; Current returns the Report as it stands. Detect makes
// the same decisions and changes nothing; with Options.Root it reads a
// snapshot of another machine. Operators outrank code: the environment
// variables GOTUNE (off: report only), GOTUNE_MEMORY_RATIO, AUTOMEMLIMIT,
// GOTUNE_MAXPROCS, GOTUNE_REFRESH, GOTUNE_CRASH_FILE, GOTUNE_LAST_WORDS,
// GOTUNE_FLIGHT_RECORDER and GOTUNE_TERMINATION_LOG override Options, and a
// GOMEMLIMIT or GOMAXPROCS set in the environment is never touched.
// MemoryOff, ProcsOff, RefreshOff, CrashOff, LastWordsOff and
// TerminationLogOff switch each part off from code. Errors name the file, variable or value at fault; whatever can be
// applied is applied. tune never panics, and exits the program only in
// ShutdownContext's case of a second signal.
//
// # Memory pressure
//
// The loop also measures how close the program is to a GC death spiral:
// the GC's share of the CPU, Go memory in use against GOMEMLIMIT and the
// runtime's GC CPU limiter (from runtime/metrics, never stopping the
// world), and on Linux the kernel's view of the group: pressure stall
// information (cgroup v2 memory.pressure), memory.events (v2) or
// memory.failcnt (v1), and OOM kills in the group or a limited ancestor.
// Pressure returns the latest PressureEvent, for a health check or to shed
// load; Options.OnPressure is called on each change of the PressureLevel;
// PressureEvent.Signal says which PressureSignal set it. A rise is also one
// Warn line.
//
// # Metrics and /version
//
// MetricsHandler serves the default Prometheus registry with tune's
// metrics; Register adds them to a registry of your own (the Go runtime's
// from runtime/metrics, the process's, and tune's gotune_* series), and
// NewCollector is tune's gotune_* series alone, for a registry that already
// has a Go collector of its own. VersionHandler serves the running build
// as JSON, never its build flags; WithDependencies adds the module list.
//
// # Crash output
//
// Init sends the runtime's report of a fatal crash (an unrecovered panic, a
// fatal error, SIGQUIT) to a crash file as well as stderr
// (Options.CrashFile; by default in os.TempDir, named after the
// executable), and the next run logs it once at Error level and returns it
// from PreviousCrash. tune creates that file 0600, never its directories,
// and touches no file that does not start with its own header line.
//
// # Shutdown and leak tracking
//
// ShutdownContext is cancelled on the first SIGINT or SIGTERM; OnShutdown
// registers hooks, and Shutdown runs them, last registered first, within
// the deadline of its context, then stops the loop and removes an unused
// crash file. Track finds objects garbage collected without being closed:
// each one counts in gotune_leaked_objects_total and is logged with the
// line that created it.
//
// # Status page and per-route profiles
//
// The package github.com/runtimehooks/tune/status serves a live page (and
// its JSON) with the Report, how the previous run ended and the last 15
// minutes of what the loop sampled (RecentHistory: Sample, Event): the Go
// heap, GOMEMLIMIT and the cgroup limit on one plot, the GC's CPU share and
// the pressure level, GOMAXPROCS against the quota. Like net/http/pprof
// beside runtime/pprof it is a package of its own, mounted by choice, and
// belongs on an internal port. LabelRoutes labels each request with the
// ServeMux pattern that matched, so that a CPU profile can be cut by
// endpoint (go tool pprof -tagfocus route=...).
//
// # Logging
//
// Every line goes to Options.Logger, or when it is nil to slog.Default()
// as it is when the line is written, so a slog.SetDefault after the blank
// import is honoured. Each line has a readable message and attributes
// (gomemlimit, gomaxprocs, memory_limit, action, source...) for JSON
// handlers. No tune lock is held while a logger or any other user code
// runs, and its panics are contained.
package tune
