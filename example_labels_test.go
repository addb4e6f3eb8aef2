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
