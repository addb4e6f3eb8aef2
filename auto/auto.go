// Package auto applies tune's defaults when it is imported:
//
//	import _ "github.com/runtimehooks/tune/auto"
//
// It calls tune.Init with the zero Options, so only the environment
// (GOTUNE, GOTUNE_MEMORY_RATIO, GOTUNE_MAXPROCS, GOTUNE_REFRESH,
// GOTUNE_CRASH_FILE, AUTOMEMLIMIT) configures it. It never panics and never
// exits the program: problems are logged through slog.Default().
package auto

import "github.com/runtimehooks/tune"

func init() {
	// Init logs its report and every error itself; there is nothing more
	// to do with them here.
	_, _ = tune.Init(tune.Options{})
}
