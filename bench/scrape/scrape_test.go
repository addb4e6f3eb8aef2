package scrape

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runtimehooks/tune"
)

// registries are the two sides: tune's registry, and what a user would
// wire by hand with client_golang: the Go collector with the same runtime
// metric rules as tune's (metrics.go) and a process collector.
var registries = []struct {
	name string
	make func(testing.TB) *prometheus.Registry
	want string // a series the page must hold
}{
	{"tune", func(tb testing.TB) *prometheus.Registry {
		// A program that exports tune's metrics has run Init.
		quiet := slog.New(slog.DiscardHandler)
		if _, err := tune.Init(tune.Options{Logger: quiet, RefreshInterval: -1, CrashFile: "off"}); err != nil {
			tb.Logf("tune.Init: %v", err)
		}
		tb.Cleanup(tune.Stop)
		reg := prometheus.NewRegistry()
		if err := tune.Register(reg); err != nil {
			tb.Fatal(err)
		}
		return reg
	}, "gotune_info"},
	{"baseline", func(testing.TB) *prometheus.Registry {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
				collectors.MetricsGC,
				collectors.MetricsMemory,
				collectors.MetricsScheduler,
				collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)},
				collectors.MetricsDebug,
			)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		return reg
	}, "go_gc_gomemlimit_bytes"},
}

// scrape renders the whole page once, as Prometheus asks for it (the text
// format, no compression), and returns the body.
func scrape(tb testing.TB, h http.Handler) string {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// BenchmarkScrape renders /metrics through promhttp. It also reports
// stw/scrape: stop-the-world pauses other than the GC's (runtime.ReadMemStats
// makes one) per scrape, from runtime/metrics.
func BenchmarkScrape(b *testing.B) {
	for _, r := range registries {
		b.Run(r.name, func(b *testing.B) {
			h := promhttp.HandlerFor(r.make(b), promhttp.HandlerOpts{})
			scrape(b, h) // the first scrape builds caches; users scrape for hours
			b.ReportAllocs()
			for b.Loop() {
				scrape(b, h)
			}
			// Counted apart from the timed loop: the benchmark's own timer
			// calls runtime.ReadMemStats when it starts and stops.
			const n = 10
			before := otherPauses()
			for range n {
				scrape(b, h)
			}
			b.ReportMetric(float64(otherPauses()-before)/n, "stw/scrape")
		})
	}
}

// otherPauses counts the stop-the-world pauses not made by the GC since the
// program started: /sched/pauses/total/other:seconds (Go 1.22+) records
// each one, runtime.ReadMemStats included.
func otherPauses() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		panic("runtime/metrics lacks /sched/pauses/total/other:seconds")
	}
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// TestScrapeDoesNotStopTheWorld asserts that a scrape of either registry
// never stops the world, which is what runtime.ReadMemStats does (client
// Golang v1.24's Go collector reads runtime/metrics instead; tune's own
// collector reads tune's recorded state). Method: with the GC off, so that
// no GC pause can interfere, count the non-GC stop-the-world pauses around
// 20 scrapes. The control run proves the counter sees ReadMemStats.
func TestScrapeDoesNotStopTheWorld(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	before := otherPauses()
	var ms runtime.MemStats
	for range 5 {
		runtime.ReadMemStats(&ms)
	}
	if got := otherPauses() - before; got < 5 {
		t.Fatalf("control: 5 runtime.ReadMemStats calls made %d stop-the-world pauses, want at least 5: the method cannot see them", got)
	}

	for _, r := range registries {
		h := promhttp.HandlerFor(r.make(t), promhttp.HandlerOpts{})
		page := scrape(t, h)
		if !strings.Contains(page, "\n"+r.want) {
			t.Errorf("%s: the page lacks %s:\n%.2000s", r.name, r.want, page)
		}
		before := otherPauses()
		for range 20 {
			io.WriteString(io.Discard, scrape(t, h))
		}
		if got := otherPauses() - before; got != 0 {
			t.Errorf("%s: 20 scrapes stopped the world %d times, want 0", r.name, got)
		}
	}
}
