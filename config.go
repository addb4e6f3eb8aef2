package tune

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// config is Options merged with the environment: what Init and Detect act on.
type config struct {
	off       bool // GOTUNE=off: report, change nothing
	ratio     float64
	ratioFrom string // where ratio came from, for the report
	procs     ProcsPolicy
	refresh   time.Duration // <0: no refresh loop
	crashFile string        // "off": no crash output
	lastWords time.Duration // the least time between two sets of last words; <0: none
	flight    time.Duration // the flight recorder's window; 0: off
	termLog   string        // the termination message file; "off": none; "": the kubelet's default
	root      string
	logger    *slog.Logger // nil: slog.Default(), looked up at each line
	opts      Options
}

const (
	defaultRatio   = 0.9
	defaultRefresh = time.Second
	// minRefresh is the shortest refresh interval: below it the loop would
	// spend a core re-reading files that change far less often.
	minRefresh = 100 * time.Millisecond
	// defaultLastWords is the least time between two sets of last words.
	defaultLastWords = time.Minute
	// defaultFlight is the flight recorder's window for
	// GOTUNE_FLIGHT_RECORDER=on.
	defaultFlight = 10 * time.Second
)

// MemoryOff, as Options.MemoryRatio, switches the GOMEMLIMIT policy off:
// tune never sets GOMEMLIMIT (GOTUNE_MEMORY_RATIO=off and AUTOMEMLIMIT=off
// do the same from the environment).
const MemoryOff = -1.0

// RefreshOff, as Options.RefreshInterval, disables the refresh loop
// (GOTUNE_REFRESH=off does the same): limits are read once, at Init, and
// the memory pressure is not measured.
const RefreshOff time.Duration = -1

// CrashOff, as Options.CrashFile, disables the crash output
// (GOTUNE_CRASH_FILE=off does the same).
const CrashOff = "off"

// LastWordsOff, as Options.LastWordsInterval, disables the last words
// (GOTUNE_LAST_WORDS=off does the same): nothing is written when the memory
// pressure reaches Critical.
const LastWordsOff time.Duration = -1

// TerminationLogOff, as Options.TerminationLog, stops tune writing the
// termination message (GOTUNE_TERMINATION_LOG=off does the same).
const TerminationLogOff = "off"

// loadConfig merges opts with the environment (getenv), which outranks it:
// operators outrank code. An invalid value, in Options or the environment,
// is an error that names it; that one setting falls back to its default and
// everything else still applies.
func loadConfig(opts Options, getenv func(string) string) (config, []error) {
	var errs []error
	c := config{
		ratio:     defaultRatio,
		ratioFrom: "default",
		procs:     ProcsAuto,
		refresh:   defaultRefresh,
		crashFile: opts.CrashFile,
		lastWords: defaultLastWords,
		termLog:   opts.TerminationLog,
		root:      opts.Root,
		logger:    opts.Logger,
		opts:      opts,
	}
	if c.root == "" {
		c.root = "/"
	}

	if v, ok := lookup(getenv, "GOTUNE"); ok {
		switch on, err := parseSwitch(v); {
		case err != nil:
			errs = append(errs, fmt.Errorf("GOTUNE=%q: %w; tune stays on", v, err))
		default:
			c.off = !on
		}
	}

	switch r := opts.MemoryRatio; {
	case r == 0:
	case r == MemoryOff:
		c.ratio, c.ratioFrom = 0, "Options.MemoryRatio is MemoryOff"
	case r > 0 && r <= 1:
		c.ratio, c.ratioFrom = r, "Options.MemoryRatio"
	default:
		errs = append(errs, fmt.Errorf("Options.MemoryRatio %v: want 0 < ratio <= 1, or MemoryOff; using %v", r, defaultRatio))
	}
	if v, ok := lookup(getenv, "GOTUNE_MEMORY_RATIO"); ok {
		c.ratio, c.ratioFrom, errs = envRatio("GOTUNE_MEMORY_RATIO", v, c, errs)
	} else if v, ok := lookup(getenv, "AUTOMEMLIMIT"); ok {
		c.ratio, c.ratioFrom, errs = envRatio("AUTOMEMLIMIT", v, c, errs)
	}

	switch opts.MaxProcs {
	case "", ProcsAuto:
	case ProcsFloor, ProcsOff:
		c.procs = opts.MaxProcs
	default:
		errs = append(errs, fmt.Errorf("Options.MaxProcs %q: want auto, floor or off; using auto", opts.MaxProcs))
	}
	if v, ok := lookup(getenv, "GOTUNE_MAXPROCS"); ok {
		switch p := ProcsPolicy(strings.ToLower(v)); p {
		case ProcsAuto, ProcsFloor, ProcsOff:
			c.procs = p
		default:
			errs = append(errs, fmt.Errorf("GOTUNE_MAXPROCS=%q: want auto, floor or off; using %s", v, c.procs))
		}
	}

	switch d := opts.RefreshInterval; {
	case d < 0:
		c.refresh = RefreshOff
	case d > 0 && d < minRefresh:
		errs = append(errs, fmt.Errorf("Options.RefreshInterval %v is below the minimum: using %v", d, minRefresh))
		c.refresh = minRefresh
	case d > 0:
		c.refresh = d
	}
	if v, ok := lookup(getenv, "GOTUNE_REFRESH"); ok {
		d, err := time.ParseDuration(v)
		switch {
		case strings.EqualFold(v, "off"):
			c.refresh = RefreshOff
		case err != nil || d <= 0:
			errs = append(errs, fmt.Errorf("GOTUNE_REFRESH=%q: want a positive duration such as 1s, or off; using %v", v, refreshName(c.refresh)))
		case d < minRefresh:
			errs = append(errs, fmt.Errorf("GOTUNE_REFRESH=%q is below the minimum: using %v", v, minRefresh))
			c.refresh = minRefresh
		default:
			c.refresh = d
		}
	}

	if v, ok := lookup(getenv, "GOTUNE_CRASH_FILE"); ok {
		c.crashFile = v
	}

	if d := opts.LastWordsInterval; d < 0 {
		c.lastWords = LastWordsOff
	} else if d > 0 {
		c.lastWords = d
	}
	if v, ok := lookup(getenv, "GOTUNE_LAST_WORDS"); ok {
		c.lastWords, errs = envOffDuration("GOTUNE_LAST_WORDS", v, c.lastWords, LastWordsOff, errs)
	}
	if d := opts.FlightRecorder; d > 0 {
		c.flight = d
	}
	if v, ok := lookup(getenv, "GOTUNE_FLIGHT_RECORDER"); ok {
		switch on, err := parseSwitch(v); {
		case err == nil && on:
			c.flight = defaultFlight
		case err == nil:
			c.flight = 0
		default:
			c.flight, errs = envOffDuration("GOTUNE_FLIGHT_RECORDER", v, c.flight, 0, errs)
		}
	}
	if v, ok := lookup(getenv, "GOTUNE_TERMINATION_LOG"); ok {
		c.termLog = v
	}
	return c, errs
}

// envOffDuration reads a variable that holds a positive duration or off
// (which gives off). On a bad value d stays as it is.
func envOffDuration(name, v string, d, off time.Duration, errs []error) (time.Duration, []error) {
	if strings.EqualFold(v, "off") {
		return off, errs
	}
	n, err := time.ParseDuration(v)
	if err != nil || n <= 0 {
		return d, append(errs, fmt.Errorf("%s=%q: want a positive duration (such as 1m) or off; using %v", name, v, durationName(d)))
	}
	return n, errs
}

// durationName is how a duration setting reads in a message: "off" for
// none.
func durationName(d time.Duration) string {
	if d <= 0 {
		return "off"
	}
	return d.String()
}

// envRatio reads a memory ratio variable: a ratio, or off. On a bad value
// the ratio stays as c has it.
func envRatio(name, v string, c config, errs []error) (float64, string, []error) {
	if strings.EqualFold(v, "off") {
		return 0, name + "=off", errs
	}
	r, err := parseRatio(v)
	if err != nil {
		return c.ratio, c.ratioFrom, append(errs, fmt.Errorf("%s=%q: %w; using %v", name, v, err, c.ratio))
	}
	return r, name, errs
}

// refreshName is how an interval reads in a message: "off" for no loop.
func refreshName(d time.Duration) string {
	if d < 0 {
		return "off"
	}
	return d.String()
}

// lookup returns the trimmed value of an environment variable and whether
// it is set to something other than blanks.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// parseSwitch reads the usual spellings of on and off.
func parseSwitch(s string) (on bool, err error) {
	switch strings.ToLower(s) {
	case "on", "1", "true", "yes", "enabled":
		return true, nil
	case "off", "0", "false", "no", "disabled":
		return false, nil
	}
	return true, fmt.Errorf("want off (or 0, false, no) or on (or 1, true, yes)")
}

func parseRatio(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !(r > 0 && r <= 1) {
		return 0, fmt.Errorf("want a number with 0 < ratio <= 1, or off")
	}
	return r, nil
}
