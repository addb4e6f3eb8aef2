package tune_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runtimehooks/tune"
)

// MetricsHandler serves the default registry with tune's metrics in place
// of the default Go and process collectors.
func ExampleMetricsHandler() {
	http.Handle("GET /metrics", tune.MetricsHandler())
	http.Handle("/version", tune.VersionHandler())
	// log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
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
