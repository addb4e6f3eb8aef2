package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/runtimehooks/tune/status"
)

// serveStatus serves the status page (package status) at addr, at
// /debug/tune and /debug/tune.json, says where on stderr, and returns the
// function that stops it.
func serveStatus(addr string, stderr io.Writer) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-status: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/tune", status.Handler())
	mux.Handle("/debug/tune.json", status.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stderr, "tune: status page at http://%s/debug/tune\n", ln.Addr())
	return func() { srv.Close() }, nil
}
