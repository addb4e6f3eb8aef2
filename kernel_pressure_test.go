package tune

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// stats builds a Stats: PSI full (avg10 in percent, total in µs; avg10 < 0
// for no memory.pressure) and the groups' events.
func kstats(avg10 float64, total uint64, groups ...cgroup.GroupEvents) cgroup.Stats {
	s := cgroup.Stats{Version: 2}
	if avg10 >= 0 {
		s.Memory.OK, s.Memory.HasFull = true, true
		s.Memory.Full = cgroup.PSILine{Avg10: avg10, Total: total}
	}
	s.Events.OK = len(groups) > 0
	s.NGroups = copy(s.Group[:], groups)
	return s
}

// ev is a group's events as read.
func ev(level int, e cgroup.MemoryEventCounts) cgroup.GroupEvents {
	return cgroup.GroupEvents{Level: level, OK: true, MemoryEventCounts: e}
}

func TestKernelPressure(t *testing.T) {
	noPSI := -1.0
	v1 := func(level int, kills, failcnt uint64) cgroup.GroupEvents {
		return cgroup.GroupEvents{Level: level, OK: true, MemoryEventCounts: cgroup.MemoryEventCounts{OOMKill: kills}, Failcnt: failcnt}
	}
	pod := ev(1, cgroup.MemoryEventCounts{Max: 41, OOM: 1, OOMKill: 1})
	podKilled := ev(1, cgroup.MemoryEventCounts{Max: 42, OOM: 2, OOMKill: 2})
	ctr := ev(0, cgroup.MemoryEventCounts{})
	tests := []struct {
		name      string
		prev, cur cgroup.Stats
		interval  time.Duration
		level     PressureLevel
		signal    PressureSignal
	}{
		{"nothing read", cgroup.Stats{}, cgroup.Stats{}, time.Second, PressureNone, ""},
		{"calm", kstats(0, 100, ctr, pod), kstats(0, 100, ctr, pod), time.Second, PressureNone, ""},

		// PSI full
		{"full avg10 just below", kstats(0, 0), kstats(9.99, 0), time.Second, PressureNone, ""},
		{"full avg10 at the threshold", kstats(0, 0), kstats(10, 0), time.Second, PressureHigh, SignalPSIMemoryFull},
		{"full avg10 on the first reading", cgroup.Stats{}, kstats(35.5, 1e9), time.Second, PressureHigh, SignalPSIMemoryFull},
		{"full avg10 high, no full line (HasFull false)", cgroup.Stats{}, func() cgroup.Stats { s := kstats(50, 0); s.Memory.HasFull = false; return s }(), time.Second, PressureNone, ""},
		{"no memory.pressure", kstats(noPSI, 0), kstats(noPSI, 0), time.Second, PressureNone, ""},
		{"stall since the last tick: 100 ms of 1 s", kstats(0, 5e6), kstats(2, 5e6+100000), time.Second, PressureHigh, SignalPSIMemoryFull},
		{"stall since the last tick: 99.999 ms of 1 s", kstats(0, 5e6), kstats(2, 5e6+99999), time.Second, PressureNone, ""},
		{"stall over a slow tick: 3 s of 30 s, avg10 decayed", kstats(0, 0), kstats(1, 3e6), 30 * time.Second, PressureHigh, SignalPSIMemoryFull},
		{"stall total, but no interval", kstats(0, 0), kstats(0, 3e6), 0, PressureNone, ""},
		{"stall total, but no previous reading", kstats(noPSI, 0), kstats(0, 3e6), time.Second, PressureNone, ""},
		{"total fell (the group was made anew)", kstats(0, 9e6), kstats(0, 1e6), time.Second, PressureNone, ""},

		// memory events, v2
		{"kills before this process started", cgroup.Stats{}, kstats(0, 0, ctr, pod), time.Second, PressureNone, ""},
		{"the pod's oom_kill rose", kstats(0, 0, ctr, pod), kstats(0, 0, ctr, podKilled), time.Second, PressureCritical, SignalOOMKill},
		{"the group's own oom_kill rose", kstats(0, 0, ctr, pod), kstats(0, 0, ev(0, cgroup.MemoryEventCounts{OOMKill: 1}), pod), time.Second, PressureCritical, SignalOOMKill},
		{"oom_kill over a PSI stall", kstats(0, 0, ctr, pod), kstats(80, 0, ctr, podKilled), time.Second, PressureCritical, SignalOOMKill},
		{"oom_kill fell (the group was made anew)", kstats(0, 0, ctr, podKilled), kstats(0, 0, ctr, pod), time.Second, PressureNone, ""},
		{"max rose", kstats(0, 0, ctr, pod), kstats(0, 0, ctr, ev(1, cgroup.MemoryEventCounts{Max: 50, OOM: 1, OOMKill: 1})), time.Second, PressureHigh, SignalMemoryEventsMax},
		{"high rose", kstats(0, 0, ctr), kstats(0, 0, ev(0, cgroup.MemoryEventCounts{High: 3})), time.Second, PressureHigh, SignalMemoryEventsHigh},
		{"high and max rose: max named", kstats(0, 0, ctr), kstats(0, 0, ev(0, cgroup.MemoryEventCounts{High: 3, Max: 1})), time.Second, PressureHigh, SignalMemoryEventsMax},
		{"PSI and max: PSI named", kstats(0, 0, ctr), kstats(12, 0, ev(0, cgroup.MemoryEventCounts{Max: 1})), time.Second, PressureHigh, SignalPSIMemoryFull},
		{"low and oom rose, nothing else: no level", kstats(0, 0, ctr), kstats(0, 0, ev(0, cgroup.MemoryEventCounts{Low: 9, OOM: 1})), time.Second, PressureNone, ""},
		{"an ancestor not read before", kstats(0, 0, ctr), kstats(0, 0, ctr, podKilled), time.Second, PressureNone, ""},
		{"a group read before, failing now", kstats(0, 0, ctr, pod), kstats(0, 0, ctr, func() cgroup.GroupEvents { g := podKilled; g.OK = false; return g }()), time.Second, PressureNone, ""},
		{"the groups read changed (a new discovery)", kstats(0, 0, ctr, pod), kstats(0, 0, ctr, ev(2, cgroup.MemoryEventCounts{OOMKill: 7})), time.Second, PressureNone, ""},

		// v1
		{"v1 failcnt rose", kstats(noPSI, 0, v1(0, 0, 10)), kstats(noPSI, 0, v1(0, 0, 11)), time.Second, PressureHigh, SignalMemoryFailcnt},
		{"v1 the parent's failcnt rose", kstats(noPSI, 0, v1(0, 0, 0), v1(1, 0, 5)), kstats(noPSI, 0, v1(0, 0, 0), v1(1, 0, 6)), time.Second, PressureHigh, SignalMemoryFailcnt},
		{"v1 oom_kill rose", kstats(noPSI, 0, v1(0, 2, 10)), kstats(noPSI, 0, v1(0, 3, 90)), time.Second, PressureCritical, SignalOOMKill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level, signal := kernelPressure(&tt.prev, &tt.cur, tt.interval, defaultKernelThresholds)
			if level != tt.level || signal != tt.signal {
				t.Errorf("kernelPressure = %v, %q; want %v, %q", level, signal, tt.level, tt.signal)
			}
			if (level == PressureNone) != (signal == "") {
				t.Errorf("level %v with signal %q", level, signal)
			}
		})
	}
}

func TestKernelPressureThreshold(t *testing.T) {
	prev, cur := kstats(0, 0), kstats(4.5, 0)
	for _, tt := range []struct {
		share float64
		want  PressureLevel
	}{{0.05, PressureNone}, {0.045, PressureHigh}, {0.01, PressureHigh}} {
		if got, _ := kernelPressure(&prev, &cur, time.Second, kernelThresholds{memoryFull: tt.share}); got != tt.want {
			t.Errorf("avg10 4.5%% against %v: %v, want %v", tt.share, got, tt.want)
		}
	}
}

func TestCombinePressure(t *testing.T) {
	tests := []struct {
		rt, kernel PressureLevel
		signal     PressureSignal
		inUse      float64
		level      PressureLevel
		named      PressureSignal
	}{
		{PressureNone, PressureNone, "", 0.5, PressureNone, ""},
		{PressureHigh, PressureNone, "", 0.5, PressureHigh, SignalRuntime},
		{PressureNone, PressureHigh, SignalMemoryEventsMax, 0.5, PressureHigh, SignalMemoryEventsMax},
		{PressureHigh, PressureHigh, SignalPSIMemoryFull, 0.5, PressureHigh, SignalRuntime},
		{PressureHigh, PressureCritical, SignalOOMKill, 0.5, PressureCritical, SignalOOMKill},
		{PressureCritical, PressureHigh, SignalPSIMemoryFull, 0.5, PressureCritical, SignalRuntime},
		// At the hard limit with Go's heap at its soft one: Critical.
		{PressureHigh, PressureHigh, SignalMemoryFailcnt, 1.09, PressureCritical, SignalMemoryFailcnt},
		{PressureNone, PressureHigh, SignalMemoryEventsMax, 1.0, PressureCritical, SignalMemoryEventsMax},
		{PressureHigh, PressureHigh, SignalMemoryFailcnt, 0.97, PressureCritical, SignalMemoryFailcnt},
		{PressureNone, PressureHigh, SignalMemoryFailcnt, 0.89, PressureHigh, SignalMemoryFailcnt},
		// The page cache at the limit, Go below GOMEMLIMIT: High.
		{PressureNone, PressureHigh, SignalMemoryFailcnt, 0.6, PressureHigh, SignalMemoryFailcnt},
		// memory.high throttling is not the hard limit: High.
		{PressureHigh, PressureHigh, SignalMemoryEventsHigh, 1.2, PressureHigh, SignalRuntime},
	}
	for _, tt := range tests {
		level, named := combinePressure(tt.rt, tt.kernel, tt.signal, tt.inUse)
		if level != tt.level || named != tt.named {
			t.Errorf("combinePressure(%v, %v, %q, %v) = %v, %q; want %v, %q", tt.rt, tt.kernel, tt.signal, tt.inUse, level, named, tt.level, tt.named)
		}
	}
}

// TestKernelPressureReadings runs the rule over real readings of a
// snapshot whose files change, as the loop would: the pod's earlier kill
// does not count, a new one does once, and a read plus the rule allocates
// nothing.
func TestKernelPressureReadings(t *testing.T) {
	root := filepath.Join(t.TempDir(), "snap")
	if err := os.CopyFS(root, os.DirFS(filepath.Join("internal", "cgroup", "testdata", "stats-v2-psi"))); err != nil {
		t.Fatal(err)
	}
	l, err := cgroup.Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	sr := l.OpenStats()
	defer sr.Close()
	pod := filepath.Join(sr.Dir(1), "memory.events")
	psi := filepath.Join(sr.Dir(0), "memory.pressure")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var prev, cur cgroup.Stats
	steps := []struct {
		file, content string
		level         PressureLevel
		signal        PressureSignal
	}{
		{"", "", PressureNone, ""}, // the first reading: the pod's old kill does not count
		{"", "", PressureNone, ""},
		{pod, "low 0\nhigh 0\nmax 41\noom 2\noom_kill 2\noom_group_kill 0\n", PressureCritical, SignalOOMKill},
		{"", "", PressureNone, ""},
		{pod, "low 0\nhigh 0\nmax 60\noom 2\noom_kill 2\noom_group_kill 0\n", PressureHigh, SignalMemoryEventsMax},
		{psi, "some avg10=40.00 avg60=10.00 avg300=2.00 total=9460012\nfull avg10=22.00 avg60=8.00 avg300=1.50 total=7870232\n", PressureHigh, SignalPSIMemoryFull},
		{psi, "some avg10=4.00 avg60=10.00 avg300=2.00 total=9460012\nfull avg10=2.00 avg60=8.00 avg300=1.50 total=7870232\n", PressureNone, ""},
	}
	for i, st := range steps {
		if st.file != "" {
			write(st.file, st.content)
		}
		if err := sr.Read(&cur); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		level, signal := kernelPressure(&prev, &cur, time.Second, defaultKernelThresholds)
		if level != st.level || signal != st.signal {
			t.Errorf("step %d: %v, %q; want %v, %q", i, level, signal, st.level, st.signal)
		}
		prev = cur
	}
	n := testing.AllocsPerRun(100, func() {
		sr.Read(&cur)
		kernelPressure(&prev, &cur, time.Second, defaultKernelThresholds)
		prev = cur
	})
	if n != 0 {
		t.Errorf("a read and the rule allocate %v times", n)
	}
}
