package tune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"time"

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

// Sample is the JSON form's history, one per refresh tick: a client of
// /debug/tune.json decodes it into this type.
func ExampleSample() {
	srv := httptest.NewServer(tune.StatusHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/debug/tune.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var page struct {
		Samples []tune.Sample `json:"samples"`
		Events  []tune.Event  `json:"events"`
	}
	fmt.Println(json.NewDecoder(resp.Body).Decode(&page))
	for _, s := range page.Samples {
		if s.GOMEMLIMIT > 0 && s.MemoryInUse > uint64(s.GOMEMLIMIT)*9/10 {
			fmt.Println(s.Time, "Go memory in use above 90% of GOMEMLIMIT")
		}
	}
	// Output: <nil>
}

// Event is one line of the status page's event list: here the changes of
// the limits seen since a given time.
func ExampleEvent() {
	since := time.Now().Add(-time.Hour)
	resp, err := http.Get("http://127.0.0.1:6060/debug/tune.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var page struct {
		Events []tune.Event `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range page.Events {
		if e.Kind == "limit" && e.Time.After(since) {
			fmt.Println(e.Time.Format(time.RFC3339), e.Message)
		}
	}
}
