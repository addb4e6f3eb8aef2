package tune

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register adds tune's metrics to reg: the Go runtime's (from
// runtime/metrics: GC, memory, scheduler, CPU classes, mutex wait, cgo
// calls, non-default GODEBUG behaviour, plus the classic go_goroutines,
// go_gc_duration_seconds and go_memstats_* names), the process's
// (process_*), and tune's own (NewCollector: gotune_build_info and the
// gotune_* series). Nothing in it stops the world: runtime.ReadMemStats is
// never called.
//
// A Go or process collector registered with default options, as
// prometheus.DefaultRegisterer has, is replaced rather than duplicated. One
// registered with other options (collectors.WithGoCollectorRuntimeMetrics,
// say) is kept as it is: tune's own series are registered beside it and
// the error says which collector was kept. Registering on the same
// registry twice is an error that wraps prometheus.AlreadyRegisteredError;
// nothing is changed then.
func Register(reg prometheus.Registerer) error {
	if reg == nil {
		return errors.New("tune.Register: the registerer is nil")
	}
	if err := reg.Register(NewCollector()); err != nil {
		if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
			return fmt.Errorf("tune.Register: tune's metrics are already registered on this registry: %w", err)
		}
		return fmt.Errorf("tune.Register: tune's own gotune_* series: %w (a collector registered earlier exports some of the same metrics)", err)
	}
	var kept []error
	for _, p := range []struct {
		name      string
		def, ours prometheus.Collector
	}{
		{"Go runtime", collectors.NewGoCollector(), newGoCollector()},
		{"process", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
	} {
		had := reg.Unregister(p.def)
		if err := reg.Register(p.ours); err != nil {
			if had {
				reg.Register(p.def) // put back what was there
			}
			kept = append(kept, fmt.Errorf("the %s collector registered earlier was kept as it is (%w)", p.name, err))
		}
	}
	if len(kept) > 0 {
		return fmt.Errorf("tune.Register: tune's own gotune_* series are registered, but %w; to add tune's series alone to such a registry, register tune.NewCollector() instead", errors.Join(kept...))
	}
	return nil
}

// MetricsHandler returns the /metrics handler for
// prometheus.DefaultGatherer (as promhttp.Handler does) after making sure
// tune's metrics are registered there (Register). A conflict with a
// collector registered earlier is logged as a warning and the registry is
// served as it is. For a registry of your own, call Register (or register
// NewCollector) and serve it with promhttp.HandlerFor.
func MetricsHandler() http.Handler {
	err := Register(prometheus.DefaultRegisterer)
	if are := (prometheus.AlreadyRegisteredError{}); err != nil && !errors.As(err, &are) {
		logLater(currentLogger(), slog.LevelWarn, "tune: "+err.Error(), slog.String("error", err.Error()))
	}
	return promhttp.Handler()
}

// NewCollector returns a collector of tune's own series alone: the
// build (gotune_build_info), what tune found and decided, the memory
// pressure, the refresh loop and leak counters (gotune_*). It reads what
// the latest Init published, without a lock, and touches no registry:
// register it on any registry, beside any Go collector.
func NewCollector() prometheus.Collector { return newTuneCollector() }

// newGoCollector is client_golang's Go collector with the runtime/metrics
// rules tune serves: client_golang's MetricsAll but the /gc/ and /memory/
// rules' siblings it does not name are matched explicitly, so that a
// future runtime metric does not appear unannounced.
func newGoCollector() prometheus.Collector {
	return collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.MetricsGC,
		collectors.MetricsMemory,
		collectors.MetricsScheduler,
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/(cpu/classes|sync|cgo)/`)},
		collectors.MetricsDebug,
	))
}

// currentLogger is the logger of the latest Init (nil: slog.Default()).
func currentLogger() *slog.Logger {
	if o := current.Load(); o != nil {
		return o.c.logger
	}
	return nil
}

// tuneCollector exports what tune found and decided. Its descriptors are
// built once; the metrics that depend only on the published report are
// rebuilt only when a new one is published.
type tuneCollector struct {
	buildInfo, info, memLimit, cpuQuota, ratio      *prometheus.Desc
	gcCPU, pressure, refreshes, refreshErrs, leaked *prometheus.Desc
	lastSuccess                                     *prometheus.Desc
	kernel                                          []*prometheus.Desc                     // kernelMetrics(), in order
	kernelDesc                                      [len(kernelSignals)][]*prometheus.Desc // each signal's series' descriptors

	build prometheus.Metric // constant for the life of the process
	exit  exitMetric        // gotune_previous_exit (below)

	mu     sync.Mutex // the collector's own: guards the cache
	from   *snapshot
	cached []prometheus.Metric // metrics derived from the report in from
}

func newTuneCollector() *tuneCollector {
	v, _ := readBuild()
	c := &tuneCollector{
		buildInfo: prometheus.NewDesc("gotune_build_info",
			"The running binary's build, from its embedded build information (always 1).",
			nil, prometheus.Labels{
				"path": v.Path, "version": v.Version, "revision": v.Revision,
				"goversion": v.GoVersion, "modified": v.modifiedLabel(),
			}),
		info: prometheus.NewDesc("gotune_info",
			"What tune found and decided at Init or the latest refresh (always 1).",
			[]string{"cgroup_version", "cgroup_mode", "maxprocs_policy", "gomemlimit_action", "gomaxprocs_action"}, nil),
		memLimit: prometheus.NewDesc("gotune_cgroup_memory_limit_bytes",
			"The tightest memory limit of the process's cgroup and its ancestors; absent when there is none.",
			nil, nil),
		cpuQuota: prometheus.NewDesc("gotune_cgroup_cpu_quota_cores",
			"The tightest CPU quota of the process's cgroup and its ancestors, in CPUs; absent when there is none.",
			nil, nil),
		ratio: prometheus.NewDesc("gotune_memory_ratio",
			"The share of the memory limit given to GOMEMLIMIT; 0 when the memory policy is off.",
			nil, nil),
		gcCPU: prometheus.NewDesc("gotune_gc_cpu_fraction",
			"The share of CPU time spent in the garbage collector over tune's sliding window.",
			nil, nil),
		pressure: prometheus.NewDesc("gotune_memory_pressure",
			"The memory pressure level: 0 none, 1 high, 2 critical.",
			nil, nil),
		refreshes: prometheus.NewDesc("gotune_refresh_total",
			"Refresh ticks run: times the cgroup limits were re-read.",
			nil, nil),
		refreshErrs: prometheus.NewDesc("gotune_refresh_errors_total",
			"Refresh ticks that failed to read the limits, or panicked.",
			nil, nil),
		lastSuccess: prometheus.NewDesc("gotune_refresh_last_success_timestamp_seconds",
			"When the refresh loop last completed a tick without error (Unix time); absent without a loop. A value falling behind means the loop stopped or fails.",
			nil, nil),
		leaked: prometheus.NewDesc("gotune_leaked_objects_total",
			"Tracked objects that were not released, by kind.",
			[]string{"kind"}, nil),
	}
	c.build = prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1)
	ms := kernelMetrics()
	for _, m := range ms {
		c.kernel = append(c.kernel, prometheus.NewDesc(m.name, m.help, m.labels, nil))
	}
	for i, sig := range kernelSignals {
		for _, e := range sig.export {
			c.kernelDesc[i] = append(c.kernelDesc[i], c.kernel[slices.Index(ms, e.metric)])
		}
	}
	c.exit = newExitMetric()
	return c
}

func (c *tuneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.info, c.memLimit, c.cpuQuota, c.ratio,
		c.gcCPU, c.pressure, c.refreshes, c.refreshErrs, c.lastSuccess, c.leaked} {
		ch <- d
	}
	for _, d := range c.kernel {
		ch <- d
	}
	ch <- c.exit.desc
}

func (c *tuneCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- c.build
	o := current.Load()
	if o != nil {
		for _, m := range c.fromReport(o.snap.Load()) {
			ch <- m
		}
		if p := o.press.load(); !p.Time.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.gcCPU, prometheus.GaugeValue, p.GCCPUFraction)
			ch <- prometheus.MustNewConstMetric(c.pressure, prometheus.GaugeValue, float64(p.Level))
		}
		if t := o.lastOK.Load(); t != 0 {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(t)/1e9)
		}
		c.collectKernel(ch, &o.kcell)
	}
	ticks, errs := refreshCounts()
	ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(ticks))
	ch <- prometheus.MustNewConstMetric(c.refreshErrs, prometheus.CounterValue, float64(errs))
	leakCounts(func(kind string, n uint64) {
		ch <- prometheus.MustNewConstMetric(c.leaked, prometheus.CounterValue, float64(n), kind)
	})
	c.exit.collect(ch)
}

// collectKernel sends the kernel's numbers the loop last published, as
// kernelSignals says.
func (c *tuneCollector) collectKernel(ch chan<- prometheus.Metric, cell *seqCell) {
	var w [cellWords]uint64
	if !cell.loadKernel(&w) {
		return
	}
	for i, sig := range kernelSignals {
		words, ok := kernelWordsOf(&w, i)
		if !ok {
			continue
		}
		for j, e := range sig.export {
			t := prometheus.GaugeValue
			if e.metric.counter {
				t = prometheus.CounterValue
			}
			ch <- prometheus.MustNewConstMetric(c.kernelDesc[i][j], t, e.value(words), e.labels...)
		}
	}
}

// fromReport returns the metrics that depend only on the published
// report, rebuilding them when a new one was published. The returned
// slice is never modified afterwards, so it may be used without the lock.
func (c *tuneCollector) fromReport(s *snapshot) []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == c.from {
		return c.cached
	}
	r := &s.report
	ms := []prometheus.Metric{
		prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1,
			strconv.Itoa(r.Cgroup.Version), r.Cgroup.Mode, string(r.CPU.Policy), string(r.Memory.Action), string(r.CPU.Action)),
		prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, r.Memory.Ratio),
	}
	if r.Memory.Limit > 0 {
		ms = append(ms, prometheus.MustNewConstMetric(c.memLimit, prometheus.GaugeValue, float64(r.Memory.Limit)))
	}
	if r.CPU.Quota > 0 {
		ms = append(ms, prometheus.MustNewConstMetric(c.cpuQuota, prometheus.GaugeValue, r.CPU.Quota))
	}
	c.from, c.cached = s, ms
	return ms
}

// The previous run's end: gotune_previous_exit.

// exitMetric exports how the previous run ended (PreviousExit), so that an
// alert can tell a restart after a crash or an OOM kill from a deploy.
type exitMetric struct{ desc *prometheus.Desc }

func newExitMetric() exitMetric {
	return exitMetric{prometheus.NewDesc("gotune_previous_exit",
		"How the previous run of the program ended, as Init found it in the crash file (always 1): kind crashed, oom-killed or unreported. Absent when no earlier run left its crash file (the first run, one that ended with tune.Shutdown, or crash output off).",
		[]string{"kind"}, nil)}
}

func (m exitMetric) collect(ch chan<- prometheus.Metric) {
	if e, ok := PreviousExit(); ok {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, 1, string(e.Kind))
	}
}
