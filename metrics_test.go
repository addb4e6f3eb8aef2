package tune

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// families gathers g and indexes the result by name.
func families(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	m := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func TestRegisterSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatalf("Register on a fresh registry: %v", err)
	}
	fams := families(t, reg)
	want := []struct {
		name string
		typ  dto.MetricType
	}{
		// The classic names dashboards use.
		{"go_goroutines", dto.MetricType_GAUGE},
		{"go_gc_duration_seconds", dto.MetricType_SUMMARY},
		{"go_memstats_alloc_bytes", dto.MetricType_GAUGE},
		{"go_memstats_heap_inuse_bytes", dto.MetricType_GAUGE},
		{"go_info", dto.MetricType_GAUGE},
		// runtime/metrics: GC, memory, scheduler, CPU classes.
		{"go_gc_gomemlimit_bytes", dto.MetricType_GAUGE},
		{"go_gc_gogc_percent", dto.MetricType_GAUGE},
		{"go_gc_heap_goal_bytes", dto.MetricType_GAUGE},
		{"go_gc_pauses_seconds", dto.MetricType_HISTOGRAM},
		{"go_sched_pauses_total_gc_seconds", dto.MetricType_HISTOGRAM},
		{"go_sched_latencies_seconds", dto.MetricType_HISTOGRAM},
		{"go_sched_gomaxprocs_threads", dto.MetricType_GAUGE},
		{"go_memory_classes_total_bytes", dto.MetricType_GAUGE},
		{"go_memory_classes_heap_released_bytes", dto.MetricType_GAUGE},
		{"go_cpu_classes_gc_total_cpu_seconds_total", dto.MetricType_COUNTER},
		{"go_cpu_classes_total_cpu_seconds_total", dto.MetricType_COUNTER},
		// What client_golang's MetricsAll has beyond the groups above.
		{"go_sync_mutex_wait_total_seconds_total", dto.MetricType_COUNTER},
		{"go_cgo_go_to_c_calls_calls_total", dto.MetricType_COUNTER},
		// The build and tune's own counters, present before Init.
		{"gotune_build_info", dto.MetricType_GAUGE},
		{"gotune_refresh_total", dto.MetricType_COUNTER},
		{"gotune_refresh_errors_total", dto.MetricType_COUNTER},
	}
	if runtime.GOOS == "linux" {
		want = append(want, struct {
			name string
			typ  dto.MetricType
		}{"process_cpu_seconds_total", dto.MetricType_COUNTER}, struct {
			name string
			typ  dto.MetricType
		}{"process_resident_memory_bytes", dto.MetricType_GAUGE})
	}
	for _, w := range want {
		mf, ok := fams[w.name]
		if !ok {
			t.Errorf("%s missing", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s is a %v, want %v", w.name, mf.GetType(), w.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", w.name)
		}
	}
	godebug := 0
	for name := range fams {
		if strings.HasPrefix(name, "go_godebug_non_default_behavior_") {
			godebug++
		}
	}
	if godebug == 0 {
		t.Errorf("no go_godebug_non_default_behavior_* series (the /godebug/ rule)")
	}

	if got := fams["go_gc_gomemlimit_bytes"].GetMetric()[0].GetGauge().GetValue(); got != float64(debugMemLimit()) {
		t.Errorf("go_gc_gomemlimit_bytes = %v, want the runtime's %v", got, debugMemLimit())
	}
	if got := fams["go_sched_gomaxprocs_threads"].GetMetric()[0].GetGauge().GetValue(); got != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v, want %d", got, runtime.GOMAXPROCS(0))
	}

	b := labelsOf(fams["gotune_build_info"].GetMetric()[0])
	v, _ := readBuild()
	for _, l := range []string{"path", "version", "revision", "goversion", "modified"} {
		if _, ok := b[l]; !ok {
			t.Errorf("gotune_build_info has no %q label: %v", l, b)
		}
	}
	if b["goversion"] != runtime.Version() || b["modified"] != v.modifiedLabel() || b["revision"] != v.Revision {
		t.Errorf("gotune_build_info labels %v: want goversion %s, modified %q, revision %q", b, runtime.Version(), v.modifiedLabel(), v.Revision)
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	err := Register(reg)
	var are prometheus.AlreadyRegisteredError
	if err == nil || !errors.As(err, &are) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second Register = %v, want an error wrapping AlreadyRegisteredError that says so", err)
	}
	if len(families(t, reg)["go_goroutines"].GetMetric()) != 1 {
		t.Error("go_goroutines is not exported exactly once after the failed second Register")
	}
	if err := Register(nil); err == nil {
		t.Error("Register(nil) = nil, want an error")
	}
}

func TestRegisterConflict(t *testing.T) {
	// A collector of someone else's with one of tune's names: the conflict
	// is reported and the registry is left as it was.
	reg := prometheus.NewRegistry()
	own := prometheus.NewGauge(prometheus.GaugeOpts{Name: "gotune_info", Help: "someone else's"})
	reg.MustRegister(own)
	err := Register(reg)
	if err == nil || !strings.Contains(err.Error(), "tune.Register") {
		t.Fatalf("Register over a conflicting collector = %v, want an error naming tune.Register", err)
	}
	if _, ok := families(t, reg)["go_goroutines"]; ok {
		t.Error("a refused Register left go_goroutines behind")
	}
}

// TestRegisterDefault registers on prometheus.DefaultRegisterer, which
// already holds the default Go and process collectors, and serves it
// through MetricsHandler. It puts the default registry back as it found it
// (tune's collectors out, the default ones in), so that it can run again in
// the same process (go test -count=2).
func TestRegisterDefault(t *testing.T) {
	t.Cleanup(func() {
		// Unregister matches by descriptors: a fresh set stands for the one
		// Register made.
		for _, c := range []prometheus.Collector{NewCollector(), newGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
			if !prometheus.DefaultRegisterer.Unregister(c) {
				t.Error("cleanup: tune's collectors were not on the default registry")
			}
		}
		prometheus.DefaultRegisterer.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	})
	before := families(t, prometheus.DefaultGatherer)
	if _, ok := before["go_goroutines"]; !ok {
		t.Fatal("the default registry has no Go collector to replace")
	}
	if _, ok := before["go_sched_latencies_seconds"]; ok {
		t.Fatal("the default registry already has tune's Go collector: was Register called before this test?")
	}
	if err := Register(prometheus.DefaultRegisterer); err != nil {
		t.Fatalf("Register(prometheus.DefaultRegisterer): %v", err)
	}
	after := families(t, prometheus.DefaultGatherer) // fails on duplicates
	for _, name := range []string{"go_goroutines", "go_sched_latencies_seconds", "gotune_build_info", "process_cpu_seconds_total"} {
		if name == "process_cpu_seconds_total" && runtime.GOOS != "linux" {
			continue
		}
		if mf := after[name]; mf == nil || len(mf.GetMetric()) != 1 {
			t.Errorf("%s: want exactly one series on the default registry, got %v", name, mf)
		}
	}
	err := Register(prometheus.DefaultRegisterer)
	if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Errorf("second Register on the default registry = %v, want AlreadyRegisteredError", err)
	}

	// MetricsHandler finds tune's metrics already there and serves them.
	rec := httptest.NewRecorder()
	MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "\ngotune_build_info{") ||
		strings.Count(rec.Body.String(), "\ngo_goroutines ") != 1 {
		t.Errorf("MetricsHandler: status %d, body without exactly one go_goroutines and a gotune_build_info:\n%.2000s", rec.Code, rec.Body.String())
	}
}

// TestTuneSeries pins which gotune_ series exist for which Report, through
// one collector, so that its cache must follow each published report.
func TestTuneSeries(t *testing.T) {
	saved := current.Load()
	t.Cleanup(func() { current.Store(saved) })

	limited := Report{
		Cgroup: CgroupReport{Version: 2, Mode: "v2"},
		Memory: MemoryReport{Limit: 512 << 20, Ratio: 0.9, Action: "set"},
		CPU:    CPUReport{Quota: 1.5, Policy: ProcsFloor, Action: "set"},
	}
	unlimited := Report{
		Cgroup: CgroupReport{Version: 1, Mode: "hybrid"},
		Memory: MemoryReport{Ratio: 0.8, Action: "unchanged"},
		CPU:    CPUReport{Policy: ProcsAuto, Action: "runtime"},
	}
	cases := []struct {
		name   string
		inited bool
		rep    Report
		values map[string]float64 // gotune_ gauges that must exist, with their values
		absent []string
		info   map[string]string // gotune_info's labels; nil: absent
	}{
		{
			name: "before Init", inited: false, rep: limited,
			absent: []string{"gotune_info", "gotune_memory_ratio", "gotune_cgroup_memory_limit_bytes", "gotune_cgroup_cpu_quota_cores"},
		},
		{
			name: "limits", inited: true, rep: limited,
			values: map[string]float64{"gotune_cgroup_memory_limit_bytes": 512 << 20, "gotune_cgroup_cpu_quota_cores": 1.5, "gotune_memory_ratio": 0.9},
			info:   map[string]string{"cgroup_version": "2", "cgroup_mode": "v2", "maxprocs_policy": "floor", "gomemlimit_action": "set", "gomaxprocs_action": "set"},
		},
		{
			name: "no limits", inited: true, rep: unlimited,
			values: map[string]float64{"gotune_memory_ratio": 0.8},
			absent: []string{"gotune_cgroup_memory_limit_bytes", "gotune_cgroup_cpu_quota_cores"},
			info:   map[string]string{"cgroup_version": "1", "cgroup_mode": "hybrid", "maxprocs_policy": "auto", "gomemlimit_action": "unchanged", "gomaxprocs_action": "runtime"},
		},
		{
			name: "limits again", inited: true, rep: limited,
			values: map[string]float64{"gotune_cgroup_memory_limit_bytes": 512 << 20, "gotune_cgroup_cpu_quota_cores": 1.5},
			info:   map[string]string{"cgroup_version": "2", "cgroup_mode": "v2", "maxprocs_policy": "floor", "gomemlimit_action": "set", "gomaxprocs_action": "set"},
		},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newTuneCollector())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.inited {
				o := &owner{}
				o.publish(tc.rep)
				current.Store(o)
			} else {
				current.Store(nil)
			}
			fams := families(t, reg)
			for name, want := range tc.values {
				mf := fams[name]
				if mf == nil {
					t.Errorf("%s missing", name)
					continue
				}
				if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			for _, name := range tc.absent {
				if _, ok := fams[name]; ok {
					t.Errorf("%s present, want it absent", name)
				}
			}
			if tc.info != nil {
				mf := fams["gotune_info"]
				if mf == nil || len(mf.GetMetric()) != 1 {
					t.Fatalf("gotune_info: want one series, got %v", mf)
				}
				if got := labelsOf(mf.GetMetric()[0]); !mapsEqual(got, tc.info) || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
					t.Errorf("gotune_info %v = %v, want %v = 1", got, mf.GetMetric()[0].GetGauge().GetValue(), tc.info)
				}
			}
			for _, name := range []string{"gotune_refresh_total", "gotune_refresh_errors_total", "gotune_build_info"} {
				if _, ok := fams[name]; !ok {
					t.Errorf("%s missing", name)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func debugMemLimit() int64 {
	s := []metrics.Sample{{Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// otherPauses is the number of stop-the-world pauses not caused by the GC
// so far (runtime.ReadMemStats is one of them).
func otherPauses() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// TestGatherDoesNotStopTheWorld checks that gathering everything Register
// adds causes no stop-the-world pause. The runtime counts every non-GC
// pause in /sched/pauses/total/other:seconds; runtime.ReadMemStats, which
// older Go collectors called, is one, as the control step shows. Another
// goroutine of the test binary could pause the world in the same moment,
// so a window with pauses is retried; a collector that paused on each
// Gather would fail every attempt.
func TestGatherDoesNotStopTheWorld(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	before := otherPauses()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if otherPauses() == before {
		t.Fatal("control: runtime.ReadMemStats did not show in /sched/pauses/total/other:seconds; the check would prove nothing")
	}
	const gathers = 5
	var got []uint64
	for range 3 {
		before := otherPauses()
		for range gathers {
			if _, err := reg.Gather(); err != nil {
				t.Fatal(err)
			}
		}
		d := otherPauses() - before
		if d == 0 {
			return
		}
		got = append(got, d)
	}
	t.Fatalf("stop-the-world pauses during %d Gathers, in 3 attempts: %v; want 0", gathers, got)
}

// TestPromtoolCheckMetrics runs `promtool check metrics` (Debian's
// prometheus package) over the whole /metrics output after a real Init. It
// skips without promtool, except in CI (CI=true), where it fails.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found in CI: %v", err)
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	if _, err := Init(Options{RefreshInterval: -1, CrashFile: "off", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Logf("Init: %v", err)
	}
	t.Cleanup(Stop)
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	if !bytes.Contains(body, []byte("\ngotune_info{")) {
		t.Fatalf("no gotune_info after Init:\n%.2000s", body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// BenchmarkCollect measures tune's own collector: what a scrape adds on top
// of client_golang's collectors.
func BenchmarkCollect(b *testing.B) {
	c := newTuneCollector()
	ch := make(chan prometheus.Metric, 64)
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}

// BenchmarkGather measures a whole Gather of everything Register adds.
func BenchmarkGather(b *testing.B) {
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLeakedObjectsSeries leaks a tracked object for real (collected
// without its done being called) and waits for the counter to show it.
func TestLeakedObjectsSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newTuneCollector())
	const closedKind, leakedKind = "metrics-test-closed", "metrics-test-leaked"
	count := func() map[string]float64 {
		got := map[string]float64{}
		for _, m := range families(t, reg)["gotune_leaked_objects_total"].GetMetric() {
			got[labelsOf(m)["kind"]] = m.GetCounter().GetValue()
		}
		return got
	}
	// The counters are process-wide: an earlier run of this test in the
	// same process (go test -count=2) has already counted its own leak
	// (it waited for it below), so the counts before this run's objects
	// exist are settled.
	start := count()
	closed := new([64]byte)
	Track(closed, closedKind)()
	func() {
		obj := new([64]byte)
		Track(obj, leakedKind)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for count()[leakedKind] != start[leakedKind]+1 {
		if time.Now().After(deadline) {
			t.Fatalf("gotune_leaked_objects_total{kind=%q} did not rise from %v to %v within 10s: %v",
				leakedKind, start[leakedKind], start[leakedKind]+1, count())
		}
		runtime.GC() // the leak shows when the collector finds the object
		time.Sleep(10 * time.Millisecond)
	}
	if n, ok := count()[closedKind]; !ok || n != 0 {
		t.Errorf("gotune_leaked_objects_total{kind=%q} = %v (present %v), want 0", closedKind, n, ok)
	}
	runtime.KeepAlive(closed)
}

// customGoCollector is a Go collector with options of a user's own, which
// Register cannot replace.
func customGoCollector() prometheus.Collector {
	return collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/`)}))
}

// TestRegisterBesideCustomGoCollector: a registry that already holds a
// customised Go collector keeps it, and still gets tune's own series;
// Register's error says what was kept and names NewCollector. The other
// order (tune first, then the user's collector) fails only the user's
// registration, as client_golang does for any duplicate.
func TestRegisterBesideCustomGoCollector(t *testing.T) {
	t.Run("custom first", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(customGoCollector())
		err := Register(reg)
		if err == nil || !strings.Contains(err.Error(), "Go runtime collector registered earlier was kept") ||
			!strings.Contains(err.Error(), "tune.NewCollector") {
			t.Errorf("Register = %v, want an error saying the Go collector was kept and naming NewCollector", err)
		}
		fams := families(t, reg) // fails on duplicates
		for _, name := range []string{"gotune_build_info", "gotune_refresh_total", "go_sched_gomaxprocs_threads", "process_cpu_seconds_total"} {
			if _, ok := fams[name]; !ok && (name != "process_cpu_seconds_total" || runtime.GOOS == "linux") {
				t.Errorf("%s missing", name)
			}
		}
		if _, ok := fams["go_cpu_classes_gc_total_cpu_seconds_total"]; ok {
			t.Error("tune's Go collector was registered beside the user's")
		}
	})
	t.Run("tune first", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if err := Register(reg); err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(customGoCollector()); err == nil {
			t.Error("a second Go collector registered beside tune's, want client_golang's duplicate error")
		}
		fams := families(t, reg)
		for _, name := range []string{"gotune_build_info", "go_cpu_classes_gc_total_cpu_seconds_total"} {
			if _, ok := fams[name]; !ok {
				t.Errorf("%s missing", name)
			}
		}
	})
	t.Run("NewCollector beside the custom one", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(customGoCollector(), NewCollector())
		if _, ok := families(t, reg)["gotune_build_info"]; !ok {
			t.Error("gotune_build_info missing")
		}
	})
}

// TestNewCollectorPromtool: tune's own series alone, on a registry of
// their own, pass promtool's lint.
func TestNewCollectorPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("GOTUNE_TEST_REQUIRE_CGROUPS") == "1" {
			t.Fatalf("promtool not found: %v", err)
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	if _, err := Init(Options{RefreshInterval: minRefresh, CrashFile: "off", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Logf("Init: %v", err)
	}
	t.Cleanup(Stop)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector())
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	for _, want := range []string{"\ngotune_info{", "\ngotune_build_info{", "\ngotune_refresh_last_success_timestamp_seconds "} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("no %q:\n%.3000s", want, body)
		}
	}
	if bytes.Contains(body, []byte("\ngo_")) {
		t.Errorf("NewCollector exports go_ series:\n%.2000s", body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
