package tune

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register adds tune's metrics to reg: the Go runtime's (from
// runtime/metrics: GC, memory, scheduler, CPU classes, non-default GODEBUG
// behaviour, plus the classic go_goroutines, go_gc_duration_seconds and
// go_memstats_* names), the process's (process_*), the build's
// (gotune_build_info) and tune's own (gotune_*: the cgroup limits, what
// tune decided, memory pressure, refresh and leak counters). Nothing in it
// stops the world: runtime.ReadMemStats is never called.
//
// A Go or process collector registered with default options, as
// prometheus.DefaultRegisterer has, is replaced rather than duplicated.
// Registering on the same registry twice is an error that wraps
// prometheus.AlreadyRegisteredError; nothing is changed then.
func Register(reg prometheus.Registerer) error {
	if reg == nil {
		return errors.New("tune.Register: the registerer is nil")
	}
	c := newCollectorSet()
	defGo := collectors.NewGoCollector()
	defProc := collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	hadGo, hadProc := reg.Unregister(defGo), reg.Unregister(defProc)
	err := reg.Register(c)
	if err == nil {
		return nil
	}
	// Put back what was there.
	if hadGo {
		reg.Register(defGo)
	}
	if hadProc {
		reg.Register(defProc)
	}
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return fmt.Errorf("tune.Register: tune's metrics are already registered on this registry: %w", err)
	}
	return fmt.Errorf("tune.Register: %w (a collector registered earlier exports some of the same metrics)", err)
}

// MetricsHandler returns the /metrics handler for
// prometheus.DefaultGatherer (as promhttp.Handler does) after making sure
// tune's metrics are registered there, replacing the default Go and
// process collectors. A conflict with a collector registered earlier is
// logged as a warning and the registry is served as it is. For a registry
// of your own, call Register and serve it with promhttp.HandlerFor.
func MetricsHandler() http.Handler {
	err := Register(prometheus.DefaultRegisterer)
	if are := (prometheus.AlreadyRegisteredError{}); err != nil && !errors.As(err, &are) {
		slog.Warn("tune: " + err.Error())
	}
	return promhttp.Handler()
}

// collectorSet is everything Register adds, as one collector so that it is
// registered (or refused) as a whole.
type collectorSet []prometheus.Collector

func newCollectorSet() collectorSet {
	goc := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.MetricsGC,
		collectors.MetricsMemory,
		collectors.MetricsScheduler,
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)},
		collectors.MetricsDebug,
	))
	return collectorSet{
		goc,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newTuneCollector(),
	}
}

func (s collectorSet) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s {
		c.Describe(ch)
	}
}

func (s collectorSet) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s {
		c.Collect(ch)
	}
}

// tuneCollector exports what tune found and decided. Its descriptors are
// built once; metrics that depend only on the Report are rebuilt only when
// the Report changes.
type tuneCollector struct {
	buildInfo, info, memLimit, cpuQuota, ratio      *prometheus.Desc
	gcCPU, pressure, refreshes, refreshErrs, leaked *prometheus.Desc

	build prometheus.Metric // constant for the life of the process

	mu     sync.Mutex
	key    reportKey
	cached []prometheus.Metric // metrics derived from key
}

// reportKey is the part of the Report the metrics show.
type reportKey struct {
	inited                 bool
	version                int
	mode                   string
	policy                 ProcsPolicy
	memAction, procsAction string
	memLimit               int64
	cpuQuota, ratio        float64
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
			"Refresh ticks that failed to read the limits.",
			nil, nil),
		leaked: prometheus.NewDesc("gotune_leaked_objects_total",
			"Tracked objects that were not released, by kind.",
			[]string{"kind"}, nil),
	}
	c.build = prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1)
	return c
}

func (c *tuneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.info, c.memLimit, c.cpuQuota, c.ratio,
		c.gcCPU, c.pressure, c.refreshes, c.refreshErrs, c.leaked} {
		ch <- d
	}
}

func (c *tuneCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- c.build
	for _, m := range c.fromReport() {
		ch <- m
	}
	if p := Pressure(); !p.Time.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.gcCPU, prometheus.GaugeValue, p.GCCPUFraction)
		ch <- prometheus.MustNewConstMetric(c.pressure, prometheus.GaugeValue, float64(p.Level))
	}
	ticks, errs := refreshCounts()
	ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(ticks))
	ch <- prometheus.MustNewConstMetric(c.refreshErrs, prometheus.CounterValue, float64(errs))
	leakCounts(func(kind string, n uint64) {
		ch <- prometheus.MustNewConstMetric(c.leaked, prometheus.CounterValue, float64(n), kind)
	})
}

// fromReport returns the metrics that depend only on the recorded Report,
// rebuilding them when it has changed. The returned slice is never
// modified afterwards, so it may be used without the lock.
func (c *tuneCollector) fromReport() []prometheus.Metric {
	state.mu.Lock()
	r := &state.report
	k := reportKey{
		inited: state.inited, version: r.Cgroup.Version, mode: r.Cgroup.Mode, policy: r.CPU.Policy,
		memAction: r.Memory.Action, procsAction: r.CPU.Action,
		memLimit: r.Memory.Limit, cpuQuota: r.CPU.Quota, ratio: r.Memory.Ratio,
	}
	state.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	if k == c.key && c.cached != nil {
		return c.cached
	}
	ms := []prometheus.Metric{} // non-nil: marks the cache as filled
	if k.inited {
		ms = append(ms,
			prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1,
				strconv.Itoa(k.version), k.mode, string(k.policy), k.memAction, k.procsAction),
			prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, k.ratio))
		if k.memLimit > 0 {
			ms = append(ms, prometheus.MustNewConstMetric(c.memLimit, prometheus.GaugeValue, float64(k.memLimit)))
		}
		if k.cpuQuota > 0 {
			ms = append(ms, prometheus.MustNewConstMetric(c.cpuQuota, prometheus.GaugeValue, k.cpuQuota))
		}
	}
	c.key, c.cached = k, ms
	return ms
}
