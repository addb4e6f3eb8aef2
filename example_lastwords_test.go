package tune_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/runtimehooks/tune"
)

// After Init, PreviousExit says how the previous run ended: a run probably
// killed by the OOM killer (Init has already logged it at Error) points to
// the last words it left, whose heap profile go tool pprof -top reads. A
// program that ends main with Shutdown leaves nothing to report.
func ExamplePreviousExit() {
	tune.Init(tune.Options{
		CrashFile:         "/var/run/app/app.crash", // on a volume that outlives the container
		LastWordsInterval: 5 * time.Minute,
	})
	defer tune.Shutdown(context.Background())
	if e, ok := tune.PreviousExit(); ok && e.Kind == tune.ExitOOMKilled {
		// For example: errortracker.Capture("OOM-killed", e.Reason, e.LastWords).
		slog.Warn("previous run was probably OOM-killed", "reason", e.Reason, "pid", e.PID, "last_words", e.LastWords)
	}
}
