package tune_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runtimehooks/tune"
)

// MetricsHandler serves the default registry with tune's metrics in place
// of the default Go and process collectors.
func ExampleMetricsHandler() {
	http.Handle("GET /metrics", tune.MetricsHandler())
	http.Handle("/version", tune.VersionHandler())
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}

// Register adds tune's metrics to a registry of your own; registering twice
// is an error, not a panic.
func ExampleRegister() {
	reg := prometheus.NewRegistry()
	if err := tune.Register(reg); err != nil {
		log.Fatal(err)
	}
	fmt.Println("again:", tune.Register(reg) != nil)

	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads", "gotune_build_info":
			fmt.Println(mf.GetName())
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Output:
	// again: true
	// go_gc_gomemlimit_bytes
	// go_sched_gomaxprocs_threads
	// gotune_build_info
}

// VersionHandler answers GET and HEAD only.
func ExampleVersionHandler() {
	h := tune.VersionHandler() // tune.VersionHandler(tune.WithDependencies()) adds the module list
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/version", nil))
	fmt.Println(rec.Code, rec.Header().Get("Allow"))
	// Output: 405 GET, HEAD
}

// A registry that already has a Go collector of its own (here one with
// only the scheduler's runtime metrics) keeps it: NewCollector adds tune's
// gotune_* series beside it. (Register on such a registry registers the
// same and returns an error saying which collector it kept.)
func ExampleNewCollector() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)))
	reg.MustRegister(tune.NewCollector())

	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "go_sched_gomaxprocs_threads", "gotune_build_info", "gotune_refresh_total":
			fmt.Println(mf.GetName())
		}
	}
	// Output:
	// go_sched_gomaxprocs_threads
	// gotune_build_info
	// gotune_refresh_total
}

// WithDependencies adds the module list (path and version of each) to
// /version. Serve it only where an attacker cannot read it, since it tells
// which known vulnerabilities to try: here on a listener for operators.
// (A binary built by go test carries no module list.)
func ExampleWithDependencies() {
	debug := http.NewServeMux()
	debug.Handle("/version", tune.VersionHandler(tune.WithDependencies()))
	log.Fatal(http.ListenAndServe("127.0.0.1:6060", debug))
}

// VersionOption values configure VersionHandler; they can be chosen at
// run time, here by an environment variable of the program's own.
func ExampleVersionOption() {
	var opts []tune.VersionOption
	if os.Getenv("APP_VERSION_DEPENDENCIES") == "1" {
		opts = append(opts, tune.WithDependencies())
	}
	rec := httptest.NewRecorder()
	tune.VersionHandler(opts...).ServeHTTP(rec, httptest.NewRequest("HEAD", "/version", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/json
}
