package tune_test

import (
	"log/slog"

	"github.com/runtimehooks/tune"
)

// After Init, PreviousCrash hands the report of the previous run's crash
// (Init has already logged it once at Error level) to whatever ships the
// program's errors.
func ExamplePreviousCrash() {
	if _, err := tune.Init(tune.Options{CrashFile: "/var/crash/app.crash"}); err != nil {
		slog.Warn("tune", "err", err)
	}
	if c, ok := tune.PreviousCrash(); ok {
		// For example: errortracker.Capture(c.Message, c.Text, c.Time).
		slog.Error("previous run crashed", "message", c.Message, "at", c.Time, "report", c.Path, "executable", c.Executable)
	}
}
