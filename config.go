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
	root      string
	logger    *slog.Logger
	opts      Options
}

const (
	defaultRatio   = 0.9
	defaultRefresh = time.Second
)

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
		root:      opts.Root,
		logger:    opts.Logger,
		opts:      opts,
	}
	if c.root == "" {
		c.root = "/"
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}

	switch v := getenv("GOTUNE"); strings.ToLower(strings.TrimSpace(v)) {
	case "", "on":
	case "off":
		c.off = true
	default:
		errs = append(errs, fmt.Errorf("GOTUNE=%q: want \"off\" (or unset)", v))
	}

	switch {
	case opts.MemoryRatio == 0:
	case opts.MemoryRatio > 0 && opts.MemoryRatio <= 1:
		c.ratio, c.ratioFrom = opts.MemoryRatio, "Options.MemoryRatio"
	default:
		errs = append(errs, fmt.Errorf("Options.MemoryRatio %v: want 0 < ratio <= 1; using %v", opts.MemoryRatio, defaultRatio))
	}
	if v, ok := lookup(getenv, "GOTUNE_MEMORY_RATIO"); ok {
		if r, err := parseRatio(v); err != nil {
			errs = append(errs, fmt.Errorf("GOTUNE_MEMORY_RATIO=%q: %w; using %v", v, err, c.ratio))
		} else {
			c.ratio, c.ratioFrom = r, "GOTUNE_MEMORY_RATIO"
		}
	} else if v, ok := lookup(getenv, "AUTOMEMLIMIT"); ok {
		if strings.EqualFold(v, "off") {
			c.ratio, c.ratioFrom = 0, "AUTOMEMLIMIT=off"
		} else if r, err := parseRatio(v); err != nil {
			errs = append(errs, fmt.Errorf("AUTOMEMLIMIT=%q: %w; using %v", v, err, c.ratio))
		} else {
			c.ratio, c.ratioFrom = r, "AUTOMEMLIMIT"
		}
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

	if opts.RefreshInterval < 0 {
		c.refresh = -1
	} else if opts.RefreshInterval > 0 {
		c.refresh = opts.RefreshInterval
	}
	if v, ok := lookup(getenv, "GOTUNE_REFRESH"); ok {
		if strings.EqualFold(v, "off") {
			c.refresh = -1
		} else if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("GOTUNE_REFRESH=%q: want a positive duration such as 1s, or off; using %v", v, c.refresh))
		} else {
			c.refresh = d
		}
	}

	if v, ok := lookup(getenv, "GOTUNE_CRASH_FILE"); ok {
		c.crashFile = v
	}
	return c, errs
}

// lookup returns the trimmed value of an environment variable and whether
// it is set to something other than blanks.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

func parseRatio(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !(r > 0 && r <= 1) {
		return 0, fmt.Errorf("want a number with 0 < ratio <= 1")
	}
	return r, nil
}
