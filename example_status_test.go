package tune_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"

	"github.com/runtimehooks/tune"
)

// StatusHandler belongs on an internal port, beside net/http/pprof: here a
// second mux that only operators reach.
func ExampleStatusHandler() {
	debug := http.NewServeMux()
	debug.Handle("/debug/tune", tune.StatusHandler())
	debug.Handle("/debug/tune.json", tune.StatusHandler())
	// go http.ListenAndServe("127.0.0.1:6060", debug)

	rec := httptest.NewRecorder()
	debug.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/tune.json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/json
}

// LabelRoutes labels each request with the pattern that matched, for
// `go tool pprof -tagfocus 'route=GET /items/{id}'`.
func ExampleLabelRoutes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		route, _ := pprof.Label(r.Context(), "route")
		fmt.Fprintf(w, "route %q, item %s", route, r.PathValue("id"))
	})
	srv := httptest.NewServer(tune.LabelRoutes(mux))
	defer srv.Close()

	req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/items/42", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: route "GET /items/{id}", item 42
}
