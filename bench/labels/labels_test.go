package labels

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runtimehooks/tune"
)

// nopWriter keeps nothing, so that only the routing and the labels are
// measured.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

// BenchmarkLabelsPlain serves one request for a plain pattern through a
// small service's mux, bare (baseline) and wrapped in tune.LabelRoutes
// (tune).
func BenchmarkLabelsPlain(b *testing.B) { benchLabels(b, "/items") }

// BenchmarkLabelsWildcard is the same for a pattern with a wildcard, where
// the mux matches twice (once for LabelRoutes to learn the pattern, once
// to serve) and makes its slice of wildcard values twice.
func BenchmarkLabelsWildcard(b *testing.B) { benchLabels(b, "/items/42") }

func benchLabels(b *testing.B, path string) {
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range []string{"GET /healthz", "GET /metrics", "/version", "GET /items", "POST /items",
		"GET /items/{id}", "PUT /items/{id}", "DELETE /items/{id}", "GET /users/{id}/orders", "/static/"} {
		mux.Handle(p, ok)
	}
	w := nopWriter{http.Header{}}
	r := httptest.NewRequest("GET", path, nil)
	for _, side := range []struct {
		name string
		h    http.Handler
	}{{"baseline", mux}, {"tune", tune.LabelRoutes(mux)}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				side.h.ServeHTTP(w, r)
			}
		})
	}
}
