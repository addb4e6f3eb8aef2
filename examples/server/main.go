// Command server is a small HTTP service that uses tune: it applies the
// container's limits at start (tune.Init), logs what was decided, and serves
//
//	/metrics  Prometheus metrics (tune.MetricsHandler)
//	/version  which build is running (tune.VersionHandler)
//	/healthz  "ok"
//
// It stops cleanly on SIGTERM or SIGINT.
//
//	go run ./examples/server -addr 127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/runtimehooks/tune"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `host:port`")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("server: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string) error {
	// Init logs its report (one Info line) and any problem itself; the
	// service runs either way.
	if _, err := tune.Init(tune.Options{}); err != nil {
		slog.Warn("server: tune could not apply everything", "err", err)
	}
	defer tune.Stop()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tune.MetricsHandler())
	mux.Handle("/version", tune.VersionHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("server: listening", "addr", ln.Addr().String())

	// Cancelled on the first SIGTERM or SIGINT (a second one exits at once).
	ctx := tune.ShutdownContext()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Hooks run last registered first: here there is only the server.
	tune.OnShutdown("http server", srv.Shutdown)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	slog.Info("server: shutting down", "cause", context.Cause(ctx))
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tune.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("server: stopped")
	return nil
}
