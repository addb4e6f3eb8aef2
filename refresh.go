package tune

import "github.com/runtimehooks/tune/internal/cgroup"

// startRefresh starts the background loop that follows limit changes and
// returns the function that stops it. (Stub: the live-limits issue fills it
// in; until then the reader is closed and nothing runs.)
func startRefresh(c config, rd *cgroup.Reader, last cgroup.Limits) (stop func()) {
	rd.Close()
	return func() {}
}

// refreshCounts returns how many refresh ticks ran and how many of them
// failed, for the metrics. (Stub.)
func refreshCounts() (ticks, errs uint64) { return 0, 0 }
