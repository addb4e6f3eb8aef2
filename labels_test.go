package tune

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

// routeSeen serves req with h and returns the route label that the
// probe handler behind it saw in the request's context.
func routeSeen(t *testing.T, h http.Handler, req *http.Request) string {
	t.Helper()
	route, ok := "", false
	probe := func(r *http.Request) { route, ok = pprof.Label(r.Context(), "route") }
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(context.WithValue(req.Context(), probeKey{}, probe)))
	if !ok {
		return "(no label)"
	}
	return route
}

type probeKey struct{}

// probeHandler reports the request it sees to the test's probe.
var probeHandler = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
	if f, ok := r.Context().Value(probeKey{}).(func(*http.Request)); ok {
		f(r)
	}
})

func TestLabelRoutesMux(t *testing.T) {
	mux := http.NewServeMux()
	for _, p := range []string{"GET /alpha", "/static/", "/users/{id}/", "POST /items/{id}", "example.com/host"} {
		mux.Handle(p, probeHandler)
	}
	h := LabelRoutes(mux)
	for _, c := range []struct{ method, target, want string }{
		{"GET", "/alpha", "GET /alpha"},
		{"HEAD", "/alpha", "GET /alpha"},
		{"GET", "/static/app.js", "/static/"},
		{"GET", "/static/a/b/c", "/static/"},
		{"POST", "/items/42", "POST /items/{id}"},
		{"GET", "/users/42/", "/users/{id}/"},
		{"GET", "http://example.com/host", "example.com/host"},
		{"GET", "/users/42", "redirect"}, // to /users/42/: never the path
		{"GET", "/nothing/here", "unmatched"},
		{"DELETE", "/items/42", "unmatched"}, // 405
	} {
		req := httptest.NewRequest(c.method, c.target, nil)
		if c.want == "redirect" || c.want == "unmatched" {
			// The mux answers these itself, where no probe runs: ask
			// the labeler.
			if got := h.(*routeLabeler).route(req); got != c.want {
				t.Errorf("%s %s: route %q, want %q", c.method, c.target, got, c.want)
			}
			continue
		}
		if got := routeSeen(t, h, req); got != c.want {
			t.Errorf("%s %s: label %q, want %q", c.method, c.target, got, c.want)
		}
	}
}

func TestLabelRoutesOtherHandler(t *testing.T) {
	h := LabelRoutes(probeHandler)
	for _, c := range []struct{ method, target, want string }{
		{"GET", "/api/v1/items/42", "GET /api"},
		{"POST", "/api", "POST /api"},
		{"GET", "/", "GET /"},
		{"PROPFIND", "/dav/x", "OTHER /dav"},
		{"GET", "/" + strings.Repeat("a", 33) + "/x", "GET /other"},
		{"GET", "/%3Cscript%3E/x", "GET /other"},
		{"GET", "/caf%C3%A9", "GET /other"},
		{"GET", "/v1.2_beta-3/x", "GET /v1.2_beta-3"},
	} {
		if got := routeSeen(t, h, httptest.NewRequest(c.method, c.target, nil)); got != c.want {
			t.Errorf("%s %s: label %q, want %q", c.method, c.target, got, c.want)
		}
	}
	// Distinct segments are bounded: a scan of random paths ends in
	// "/other".
	for i := range 3 * maxRouteLabels {
		routeSeen(t, h, httptest.NewRequest("GET", fmt.Sprintf("/scan%d", i), nil))
	}
	if got := routeSeen(t, h, httptest.NewRequest("GET", "/fresh", nil)); got != "GET /other" {
		t.Errorf("a new segment after the bound: %q, want GET /other", got)
	}
	if n := len(*h.(*routeLabeler).labels.Load()); n > maxRouteLabels+10 {
		t.Errorf("%d labels made, want at most %d", n, maxRouteLabels+10)
	}
}

// TestLabelRoutesContext: the handler's own labels add to the route, labels
// from further out are kept, and the request's context values, deadline
// and cancellation pass through.
func TestLabelRoutesContext(t *testing.T) {
	type key struct{}
	var got []string
	h := LabelRoutes(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("op", "inner"), func(ctx context.Context) {
			pprof.ForLabels(ctx, func(k, v string) bool { got = append(got, k+"="+v); return true })
		})
		if r.Context().Value(key{}) != "value" {
			t.Error("a context value of the request was lost")
		}
		if _, ok := r.Context().Deadline(); !ok {
			t.Error("the request's deadline was lost")
		}
		if r.Context().Err() != context.Canceled {
			t.Errorf("the request's cancellation was lost: %v", r.Context().Err())
		}
	}))
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "value"), time.Hour)
	cancel()
	req := httptest.NewRequest("GET", "/api/x", nil).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if strings.Join(got, " ") != "op=inner route=GET /api" {
		t.Errorf("labels inside the handler's pprof.Do: %q", got)
	}
	got = nil
	pprof.Do(context.Background(), pprof.Labels("tenant", "a"), func(outer context.Context) {
		h.ServeHTTP(httptest.NewRecorder(), req.WithContext(pprof.WithLabels(ctx, pprof.Labels("tenant", "a"))))
	})
	if strings.Join(got, " ") != "op=inner route=GET /api tenant=a" {
		t.Errorf("labels with an outer label: %q", got)
	}
}

//go:noinline
func burnAlpha(n int) uint32 {
	var sum uint32
	b := make([]byte, 4096)
	for i := range n {
		b[0] = byte(i)
		sum += crc32.ChecksumIEEE(b)
	}
	return sum
}

//go:noinline
func burnBeta(n int) uint32 {
	var sum uint32
	b := make([]byte, 4096)
	for i := range n {
		b[1] = byte(i)
		sum ^= crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	}
	return sum
}

// TestLabelRoutesProfile takes a real CPU profile while two routes that
// burn CPU in different functions are loaded at once, and asks `go tool
// pprof -tagfocus` for each route's functions: each burner shows under its
// own route only.
func TestLabelRoutesProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a 2 s CPU profile")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /alpha", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, burnAlpha(2000)) })
	mux.HandleFunc("GET /beta", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, burnBeta(1000)) })
	srv := httptest.NewServer(LabelRoutes(mux))
	defer srv.Close()

	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(prof)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Skipf("a CPU profile is already running: %v", err)
	}
	var wg sync.WaitGroup
	stop := time.Now().Add(2 * time.Second)
	for _, route := range []string{"/alpha", "/beta"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := http.Get(srv.URL + route)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	pprof.StopCPUProfile()
	f.Close()

	top := func(focus string) string {
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=50", "-tagfocus="+focus, prof).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof -tagfocus=%s: %v\n%s", focus, err, out)
		}
		return string(out)
	}
	for _, c := range []struct{ focus, want, not string }{
		{"route=GET /alpha", "burnAlpha", "burnBeta"},
		{"route=GET /beta", "burnBeta", "burnAlpha"},
	} {
		out := top(c.focus)
		if !strings.Contains(out, "tune."+c.want) || strings.Contains(out, c.not) {
			t.Errorf("-tagfocus=%s: want %s and not %s:\n%s", c.focus, c.want, c.not, out)
		}
	}
}

// nopWriter is a ResponseWriter that keeps nothing, so that only the
// routing and the labels allocate. bench/labels measures the time.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

// benchMux is a small service's mux with ten routes, and two requests:
// one for a plain pattern, one for a pattern with a wildcard.
func benchMux() (mux *http.ServeMux, plain, wildcard *http.Request) {
	mux = http.NewServeMux()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range []string{"GET /healthz", "GET /metrics", "/version", "GET /items", "POST /items",
		"GET /items/{id}", "PUT /items/{id}", "DELETE /items/{id}", "GET /users/{id}/orders", "/static/"} {
		mux.Handle(p, ok)
	}
	return mux, httptest.NewRequest("GET", "/items", nil), httptest.NewRequest("GET", "/items/42", nil)
}

// TestLabelRoutesAllocs: 2 allocations per request beyond the bare mux's
// (the labelled context and the request that carries it), and for a
// pattern with wildcards 1 more: the mux's slice of wildcard values, made
// once when LabelRoutes asks for the pattern and again when it serves.
func TestLabelRoutesAllocs(t *testing.T) {
	mux, plain, wildcard := benchMux()
	w := nopWriter{http.Header{}}
	h := LabelRoutes(mux)
	for _, c := range []struct {
		req  *http.Request
		want float64
	}{{plain, 2}, {wildcard, 3}} {
		h.ServeHTTP(w, c.req)
		bare := testing.AllocsPerRun(1000, func() { mux.ServeHTTP(w, c.req) })
		labelled := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, c.req) })
		if labelled-bare > c.want {
			t.Errorf("%s: LabelRoutes adds %v allocations per request (bare mux %v, labelled %v), want at most %v",
				c.req.URL.Path, labelled-bare, bare, labelled, c.want)
		}
	}
}

// FuzzRouteLabel: whatever the method and path, a handler that is not a
// ServeMux gets a label of a known method and a short, plain first
// segment or "/other".
func FuzzRouteLabel(f *testing.F) {
	for _, s := range [][2]string{{"GET", "/"}, {"POST", "/api/v1/items"}, {"PROPFIND", "/dav"},
		{"GET", "/" + strings.Repeat("x", 40)}, {"GET", "//a"}, {"get", "/a/../b"}, {"", ""}, {"GET", "/caf\u00e9"}} {
		f.Add(s[0], s[1])
	}
	valid := regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|CONNECT|OPTIONS|TRACE|OTHER) /([A-Za-z0-9._-]{0,32}|other)$`)
	l := LabelRoutes(probeHandler).(*routeLabeler)
	f.Fuzz(func(t *testing.T, method, path string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path}}
		if got := l.route(r); !valid.MatchString(got) {
			t.Errorf("route(%q, %q) = %q", method, path, got)
		}
	})
}

// TestLabelRoutesNil: nil means http.DefaultServeMux, as http.Server takes
// it, and the labels are its patterns.
func TestLabelRoutesNil(t *testing.T) {
	const pattern = "GET /tune-label-routes-nil"
	http.DefaultServeMux.Handle(pattern, probeHandler)
	h := LabelRoutes(nil)
	if got := routeSeen(t, h, httptest.NewRequest("GET", "/tune-label-routes-nil", nil)); got != pattern {
		t.Errorf("LabelRoutes(nil): route %q, want %q (http.DefaultServeMux's pattern)", got, pattern)
	}
}
