// Package service is a typical small service, for the blank-import rows
// (BenchmarkBlankService in bench/startup): net/http with a ServeMux, a
// JSON handler, client_golang's Go and process collectors on a registry
// of its own, and a JSON slog logger. cmd/servicetune runs it with
// tune's blank import, cmd/serviceplain without, so that the two
// binaries differ by the import alone.
package service

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/runtimehooks/tune/bench/internal/rss"
)

type item struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Added time.Time `json:"added"`
}

// Run sets the service up and prints its resident set size ("rss_kib
// N"), as a service's main would before it serves. With SERVICE_ADDR set
// it then serves there: the benchmark never sets it, but the server's
// code is linked as in a real service.
func Run() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(item{ID: r.PathValue("id"), Name: "an item", Added: time.Now()}); err != nil {
			logger.Warn("encoding an item", "error", err)
		}
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var it item
		if err := json.NewDecoder(r.Body).Decode(&it); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	rss.Print()
	if addr := os.Getenv("SERVICE_ADDR"); addr != "" {
		srv.Addr = addr
		logger.Info("listening", "addr", addr)
		if err := srv.ListenAndServe(); err != nil {
			logger.Error("serving", "error", err)
			os.Exit(1)
		}
	}
}
