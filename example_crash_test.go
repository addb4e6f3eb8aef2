package tune_test

import (
	"log/slog"
	"time"

	"github.com/runtimehooks/tune"
)

// After Init, PreviousCrash hands the report of the previous run's crash
// to whatever ships the program's errors. Init has already logged it once
// at Error level, and logged any problem with the crash file at Warn.
func ExamplePreviousCrash() {
	tune.Init(tune.Options{CrashFile: "/var/crash/app.crash"}) // a volume that outlives the container
	if c, ok := tune.PreviousCrash(); ok {
		// For example: errortracker.Capture(c.Message, c.Text, c.Time).
		slog.Error("previous run crashed", "message", c.Message, "at", c.Time, "report", c.Path, "executable", c.Executable)
	}
}

// tracker stands for an error tracker's client.
type tracker interface {
	Capture(title, body string, at time.Time, tags map[string]string)
}

// A Crash carries the runtime's whole report (Text) and its most telling
// line (Message): a title and a body for an error tracker.
func ExampleCrash() {
	var t tracker // your error tracker
	c, ok := tune.PreviousCrash()
	if !ok {
		return
	}
	t.Capture(c.Message, c.Text, c.Time, map[string]string{
		"executable": c.Executable, // which program crashed
		"report":     c.Path,       // where the report is kept: the crash file's .1
	})
}
