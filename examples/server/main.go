// Command server is a small HTTP service that uses tune: it applies the
// container's limits at start (tune.Init), logs what was decided, and serves
//
//	/metrics      Prometheus metrics (tune.MetricsHandler)
//	/version      which build is running (tune.VersionHandler)
//	/debug/tune   the live status page (package tune/status), and its JSON
//	              at /debug/tune.json
//	/healthz      "ok"
//
// Every request runs inside a pprof label naming its route
// (tune.LabelRoutes). It stops cleanly on SIGTERM or SIGINT.
//
//	go run ./examples/server -addr 127.0.0.1:8080
//	go run ./examples/server -churn 64   # and watch /debug/tune move
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
	"github.com/runtimehooks/tune/status"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `host:port`")
	churnMiB := flag.Int("churn", 0, "demo load: keep a live heap that grows to `MiB` and is dropped, over and over, so the status page has something to show (0: off)")
	flag.Parse()
	if err := run(*addr, *churnMiB); err != nil {
		slog.Error("server: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string, churnMiB int) error {
	// Init logs its report (one Info line) and each problem (at Warn)
	// itself; the service runs either way.
	tune.Init(tune.Options{})
	defer tune.Stop()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tune.MetricsHandler())
	mux.Handle("/version", tune.VersionHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// The status page tells what the process runs in (limits, cgroup
	// paths). Like net/http/pprof, it belongs on an internal port: a real
	// service serves /debug/ from a second listener that only the
	// operators reach. This example has one, on localhost.
	mux.Handle("/debug/tune", status.Handler())
	mux.Handle("/debug/tune.json", status.Handler())

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// CPU profiles (go tool pprof -tagfocus route=/metrics) tell the
	// routes apart.
	srv := &http.Server{Handler: tune.LabelRoutes(mux), ReadHeaderTimeout: 10 * time.Second}
	slog.Info("server: listening", "addr", ln.Addr().String())

	// Cancelled on the first SIGTERM or SIGINT (a second one exits at once).
	ctx := tune.ShutdownContext()
	if churnMiB > 0 {
		go churn(ctx, churnMiB)
	}
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

// churn keeps a live heap that grows by 1 MiB every 50 ms up to mib MiB
// and is then dropped, until ctx ends: a sawtooth for the status page.
func churn(ctx context.Context, mib int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var live [][]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if len(live) >= mib {
			live = nil
		}
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page, so that it is really in use
		}
		live = append(live, b)
	}
}
