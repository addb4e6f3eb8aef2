package tune_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/status"
)

// RecentHistory is what the status page plots, for a program's own use:
// here the ticks at which Go's memory in use was above 90% of GOMEMLIMIT.
func ExampleRecentHistory() {
	h := tune.RecentHistory()
	for _, s := range h.Samples {
		if s.GOMEMLIMIT > 0 && s.MemoryInUse > uint64(s.GOMEMLIMIT)*9/10 {
			fmt.Println(s.Time.Format(time.RFC3339), "Go memory in use above 90% of GOMEMLIMIT")
		}
	}
	fmt.Println(len(h.Events) <= 100)
	// Output: true
}

// Sample is the status page's JSON history, one per refresh tick: a
// client of /debug/tune.json decodes it into this type.
func ExampleSample() {
	srv := httptest.NewServer(status.Handler())
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
