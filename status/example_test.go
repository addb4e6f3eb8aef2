package status_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/runtimehooks/tune/status"
)

// The page belongs on an internal port, beside net/http/pprof: here a
// second mux that only operators reach. (Importing the package also
// registers it on http.DefaultServeMux, as net/http/pprof does.)
func ExampleHandler() {
	debug := http.NewServeMux()
	debug.Handle("/debug/tune", status.Handler())
	debug.Handle("/debug/tune.json", status.Handler())
	// go http.ListenAndServe("127.0.0.1:6060", debug)

	rec := httptest.NewRecorder()
	debug.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/tune.json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/json
}
