package status

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
)

// fakeHistory is n samples at 1 s ending at now: a heap that saws up and
// down under a 256 MiB limit lowered to 192 MiB halfway, a stretch of high
// pressure, and the events that go with it.
func fakeHistory(now time.Time, n int) ([]tune.Sample, []tune.Event) {
	ss := make([]tune.Sample, n)
	for i := range ss {
		limit := int64(256 << 20)
		if i >= n/2 {
			limit = 192 << 20
		}
		heap := uint64(20<<20 + (i%120)*(1<<20))
		ss[i] = tune.Sample{
			Time:     now.Add(time.Duration(i-n+1) * time.Second).UTC(),
			HeapLive: heap, MemoryInUse: heap + 12<<20,
			GOMEMLIMIT: int64(0.9 * float64(limit)), MemoryLimit: limit,
			GCCPUFraction: 0.02 + float64(i%120)/1000, GOMAXPROCS: 2, CPUQuota: 1.5,
			PSIMemorySome: -1, PSIMemoryFull: -1, PSICPUSome: -1, PSIIOSome: -1,
		}
		if i > n*2/3 && i < n*2/3+30 {
			ss[i].Pressure = tune.PressureHigh
		}
	}
	evs := []tune.Event{
		{Time: ss[0].Time, Kind: "init", Message: "tune: cgroup v1; memory limit 256MiB"},
		{Time: ss[n/2].Time, Kind: "limit", Message: "memory limit 256MiB → 192MiB, GOMEMLIMIT 230.4MiB → 172.8MiB"},
	}
	return ss, evs
}

// fakeStatus is what the page shows in these tests; hostile puts markup
// in every value that comes from the file system.
func fakeStatus(hostile string) input {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ss, evs := fakeHistory(now, 900)
	grp := "/sys/fs/cgroup/memory/app" + hostile
	rep := tune.Report{
		Cgroup: tune.CgroupReport{Version: 1, Mode: "hybrid", MemoryGroup: grp, CPUGroup: "/sys/fs/cgroup/cpu/app" + hostile,
			Files: []string{"/proc/self/cgroup", grp + "/memory.limit_in_bytes"}, Skipped: []string{"bad line " + hostile}},
		Memory: tune.MemoryReport{Limit: 192 << 20, Source: grp + "/memory.limit_in_bytes", Ratio: 0.9,
			Before: math.MaxInt64, GOMEMLIMIT: 181193932, Action: "set", Reason: "0.9 × own group's limit from " + grp},
		CPU: tune.CPUReport{Quota: 1.5, Source: "/sys/fs/cgroup/cpu/app/cpu.cfs_quota_us", Policy: tune.ProcsAuto, NumCPU: 2,
			RuntimeDefault: 2, Before: 2, GOMAXPROCS: 2, Action: "runtime", Reason: "the runtime's rule gives the same"},
		Applied: true,
		Errors:  []string{"memory.stat in " + grp + ": garbage"},
	}
	evs = append(evs, tune.Event{Time: now, Kind: "error", Message: "reading " + grp + ": permission denied"})
	return input{
		Report:   rep,
		Pressure: tune.PressureEvent{Level: tune.PressureNone, GCCPUFraction: 0.05, MemoryInUse: 50 << 20, GOMEMLIMIT: rep.Memory.GOMEMLIMIT, Time: now},
		Samples:  ss, Events: evs, Interval: time.Second, Now: now,
	}
}

// showing is a handler that serves in.
func showing(in input) http.Handler { return handler{read: func() input { return in }} }

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestStatusHandlerMethods(t *testing.T) {
	h := showing(fakeStatus(""))
	for _, tc := range []struct {
		method, target string
		code           int
		ctype          string
	}{
		{http.MethodGet, "/debug/tune", 200, "text/html; charset=utf-8"},
		{http.MethodHead, "/debug/tune", 200, "text/html; charset=utf-8"},
		{http.MethodGet, "/debug/tune?format=html", 200, "text/html; charset=utf-8"},
		{http.MethodGet, "/debug/tune?format=json", 200, "application/json"},
		{http.MethodHead, "/debug/tune?format=json", 200, "application/json"},
		{http.MethodGet, "/debug/tune.json", 200, "application/json"},
		{http.MethodGet, "/debug/tune?format=xml", 400, "text/plain; charset=utf-8"},
		{http.MethodPost, "/debug/tune", 405, "text/plain; charset=utf-8"},
		{http.MethodPut, "/debug/tune.json", 405, "text/plain; charset=utf-8"},
		{http.MethodDelete, "/debug/tune", 405, "text/plain; charset=utf-8"},
		{http.MethodOptions, "/debug/tune", 405, "text/plain; charset=utf-8"},
	} {
		rec := serve(h, tc.method, tc.target)
		name := tc.method + " " + tc.target
		if rec.Code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", name, rec.Code, tc.code, rec.Body)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, tc.ctype)
		}
		switch {
		case tc.code == 405:
			if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s: Allow %q, want GET, HEAD", name, got)
			}
		case tc.code == 200:
			cl, _ := strconv.Atoi(rec.Header().Get("Content-Length"))
			if cl < 1000 {
				t.Errorf("%s: Content-Length %q", name, rec.Header().Get("Content-Length"))
			}
			if tc.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("%s: a body of %d bytes", name, rec.Body.Len())
			}
			if tc.method == http.MethodGet && rec.Body.Len() != cl {
				t.Errorf("%s: body %d bytes, Content-Length %d", name, rec.Body.Len(), cl)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s: headers %v", name, rec.Header())
			}
		}
	}
}

// TestStatusJSON decodes the JSON form strictly: every documented field is
// there with its value, and nothing else.
func TestStatusJSON(t *testing.T) {
	in := fakeStatus("")
	h := showing(in)
	rec := serve(h, http.MethodGet, "/debug/tune?format=json")
	var doc struct {
		Time                   time.Time   `json:"time"`
		RefreshIntervalSeconds float64     `json:"refresh_interval_seconds"`
		Report                 tune.Report `json:"report"`
		PreviousExit           *exitJSON   `json:"previous_exit"`
		Pressure               struct {
			Level          tune.PressureLevel  `json:"level"`
			Previous       tune.PressureLevel  `json:"previous"`
			GCCPUFraction  float64             `json:"gc_cpu_fraction"`
			MemoryInUse    uint64              `json:"memory_in_use_bytes"`
			GOMEMLIMIT     *int64              `json:"gomemlimit_bytes"`
			LimiterEngaged bool                `json:"limiter_engaged"`
			Signal         tune.PressureSignal `json:"signal"`
			Stale          bool                `json:"stale"`
			Time           *time.Time          `json:"time"`
		} `json:"pressure"`
		Samples []tune.Sample `json:"samples"`
		Events  []tune.Event  `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decoding: %v\n%.2000s", err, rec.Body)
	}
	if !doc.Time.Equal(in.Now) || doc.RefreshIntervalSeconds != 1 {
		t.Errorf("time %v, interval %v", doc.Time, doc.RefreshIntervalSeconds)
	}
	if doc.Report.Memory.Limit != 192<<20 || doc.Report.Cgroup.MemoryGroup != in.Report.Cgroup.MemoryGroup || len(doc.Report.Errors) != 1 {
		t.Errorf("report: %+v", doc.Report)
	}
	p := doc.Pressure
	if p.Level != tune.PressureNone || p.GCCPUFraction != 0.05 || p.MemoryInUse != 50<<20 || p.GOMEMLIMIT == nil ||
		*p.GOMEMLIMIT != in.Report.Memory.GOMEMLIMIT || p.Time == nil || !p.Time.Equal(in.Now) {
		t.Errorf("pressure: %+v", p)
	}
	if len(doc.Samples) != 900 {
		t.Fatalf("%d samples, want 900", len(doc.Samples))
	}
	for i, s := range doc.Samples {
		if want := in.Samples[i]; s != want {
			t.Fatalf("sample %d: %+v, want %+v", i, s, want)
		}
	}
	if !slices.Equal(doc.Events, in.Events) {
		t.Errorf("events: %+v", doc.Events)
	}

	// The key names, as documented (DisallowUnknownFields above rejects
	// extra ones; this rejects missing ones).
	var raw struct {
		Top      map[string]json.RawMessage
		Pressure map[string]any   `json:"pressure"`
		Samples  []map[string]any `json:"samples"`
		Events   []map[string]any `json:"events"`
	}
	json.Unmarshal(rec.Body.Bytes(), &raw.Top)
	json.Unmarshal(rec.Body.Bytes(), &raw)
	for what, c := range map[string]struct {
		got  []string
		want string
	}{
		"top level": {slices.Sorted(maps.Keys(raw.Top)), "events pressure previous_exit refresh_interval_seconds report samples time"},
		"pressure":  {slices.Sorted(maps.Keys(raw.Pressure)), "gc_cpu_fraction gomemlimit_bytes level limiter_engaged memory_in_use_bytes previous signal stale time"},
		"a sample": {slices.Sorted(maps.Keys(raw.Samples[0])), "cpu_quota_cores gc_cpu_fraction gomaxprocs gomemlimit_bytes heap_live_bytes memory_in_use_bytes " +
			"memory_limit_bytes memory_usage_bytes pressure psi_cpu_some_avg10 psi_io_some_avg10 psi_memory_full_avg10 psi_memory_some_avg10 time"},
		"an event": {slices.Sorted(maps.Keys(raw.Events[0])), "kind message time"},
	} {
		if got := strings.Join(c.got, " "); got != c.want {
			t.Errorf("%s keys:\n got %s\nwant %s", what, got, c.want)
		}
	}
	if raw.Samples[0]["pressure"] != "none" || raw.Samples[0]["psi_io_some_avg10"] != -1.0 {
		t.Errorf("a sample's pressure and PSI: %v", raw.Samples[0])
	}
}

// TestStatusJSONEmpty: before Init and without a loop the lists are empty
// lists and the missing values null.
func TestStatusJSONEmpty(t *testing.T) {
	h := showing(input{Now: time.Unix(0, 0)})
	body := serve(h, http.MethodGet, "/debug/tune.json").Body.String()
	for _, want := range []string{`"samples":[]`, `"events":[]`, `"errors":[]`, `"gomemlimit_bytes":null`, `"time":null`, `"refresh_interval_seconds":0`} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %s:\n%s", want, body)
		}
	}
}

// element is one element of the page, parsed as XML.
type element struct {
	name  string
	attrs map[string]string
	text  string // the text inside it, its children's included
}

// parsePage parses the page strictly as XML (it is written to be
// well-formed) and returns its elements in order.
func parsePage(t *testing.T, page string) []element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	var out []element
	var open []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			open = append(open, len(out)-1)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			for _, i := range open {
				out[i].text += string(tok)
			}
		}
	}
	if len(open) != 0 {
		t.Fatalf("%d elements left open", len(open))
	}
	return out
}

func byAttr(els []element, key, value string) (element, bool) {
	for _, e := range els {
		if e.attrs[key] == value {
			return e, true
		}
	}
	return element{}, false
}

// TestStatusHTML: the page parses, and holds what the browser test and
// users look for, under stable ids.
func TestStatusHTML(t *testing.T) {
	in := fakeStatus("")
	h := showing(in)
	rec := serve(h, http.MethodGet, "/debug/tune")
	els := parsePage(t, rec.Body.String())
	last := in.Samples[len(in.Samples)-1]
	// The current values: each card's data-value, each series' data-now.
	for _, c := range []struct{ key, name, attr, want string }{
		{"id", "gomemlimit-now", "data-value", strconv.FormatInt(last.GOMEMLIMIT, 10)},
		{"id", "memory-limit-now", "data-value", strconv.FormatInt(last.MemoryLimit, 10)},
		{"id", "heap-live-now", "data-value", strconv.FormatUint(last.HeapLive, 10)},
		{"id", "memory-in-use-now", "data-value", strconv.FormatUint(last.MemoryInUse, 10)},
		{"id", "gomaxprocs-now", "data-value", "2"},
		{"id", "cpu-quota-now", "data-value", "1.5"},
		{"id", "pressure-now", "data-value", "none"},
		{"id", "memory-usage-now", "data-value", "0"},
		{"data-series", "heap-live", "data-now", strconv.FormatUint(last.HeapLive, 10)},
		{"data-series", "memory-in-use", "data-now", strconv.FormatUint(last.MemoryInUse, 10)},
		{"data-series", "gomemlimit", "data-now", strconv.FormatInt(last.GOMEMLIMIT, 10)},
		{"data-series", "memory-limit", "data-now", strconv.FormatInt(last.MemoryLimit, 10)},
		{"data-series", "gc-cpu", "data-now", strconv.FormatFloat(last.GCCPUFraction, 'g', -1, 64)},
		{"data-series", "pressure", "data-now", "none"},
		{"data-series", "gomaxprocs", "data-now", "2"},
		{"data-series", "cpu-quota", "data-now", "1.5"},
	} {
		e, ok := byAttr(els, c.key, c.name)
		if !ok {
			t.Errorf("no element with %s %q", c.key, c.name)
			continue
		}
		if e.attrs[c.attr] != c.want {
			t.Errorf("%s %q: %s %q, want %q", c.key, c.name, c.attr, e.attrs[c.attr], c.want)
		}
		if e.name == "path" && !strings.HasPrefix(e.attrs["d"], "M") {
			t.Errorf("%s %q: path %.80q", c.key, c.name, e.attrs["d"])
		}
	}
	if _, ok := byAttr(els, "data-series", "psi-memory-some"); ok {
		t.Error("a PSI plot without PSI figures")
	}
	var bands, events, scripts int
	for _, e := range els {
		switch {
		case e.attrs["class"] == "band-high":
			bands++
		case e.attrs["class"] == "event":
			events++
		case e.name == "script":
			scripts++
			if e.attrs["src"] != "" {
				t.Errorf("a script from elsewhere: %v", e.attrs)
			}
		case e.attrs["src"] != "" || (e.name == "link" && e.attrs["href"] != ""):
			t.Errorf("the page loads something: <%s %v>", e.name, e.attrs)
		}
	}
	if bands != 1 || events != 3 || scripts != 1 {
		t.Errorf("%d pressure bands, %d events, %d scripts; want 1, 3, 1", bands, events, scripts)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The report in words: the decision and its reason.
	if e, ok := byAttr(els, "id", "report-gomemlimit"); !ok {
		t.Error("no report row for GOMEMLIMIT")
	} else if _, ok := byAttr(els, "class", "action"); !ok {
		t.Errorf("no action in the report: %+v", e)
	}
	for _, want := range []string{"0.9 × own group&#39;s limit from", "none → 172.8 MiB (90% of the limit)", "1.5 CPUs, from /sys/fs/cgroup/cpu/app/cpu.cfs_quota_us"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestStatusHTMLBeforeInit: with nothing recorded the page still renders
// and says so.
func TestStatusHTMLBeforeInit(t *testing.T) {
	h := showing(input{Now: time.Now()})
	rec := serve(h, http.MethodGet, "/debug/tune")
	els := parsePage(t, rec.Body.String())
	if e, ok := byAttr(els, "id", "report-summary"); !ok || !strings.Contains(e.text, "has not run") {
		t.Errorf("no summary saying Init has not run: %+v", e)
	}
	if e, ok := byAttr(els, "id", "gomemlimit-now"); !ok || e.text != "none" {
		t.Errorf("#gomemlimit-now: %+v", e)
	}
}

// TestStatusEscapes: every value from the file system (group paths, file
// names, error texts, event messages) is shown as text, never as markup.
func TestStatusEscapes(t *testing.T) {
	const hostile = `<script>alert(1)</script>"'&`
	h := showing(fakeStatus(hostile))
	page := serve(h, http.MethodGet, "/debug/tune").Body.String()
	if strings.Contains(page, "<script>alert") {
		t.Fatal("markup from a cgroup path reached the page unescaped")
	}
	els := parsePage(t, page)
	scripts := 0
	for _, e := range els {
		if e.name == "script" {
			scripts++
		}
	}
	if scripts != 1 {
		t.Errorf("%d script elements, want only the page's own", scripts)
	}
	e, ok := byAttr(els, "id", "report-memory-group")
	if !ok || !strings.Contains(e.text, "/sys/fs/cgroup/memory/app"+hostile) {
		t.Errorf("the memory group is not shown as text: %+v", e)
	}
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 6 {
		t.Errorf("the hostile path appears escaped %d times, want every place (group, files, source, reason, errors, events)", n)
	}
	json := serve(h, http.MethodGet, "/debug/tune?format=json").Body.String()
	if strings.Contains(json, "<script>") {
		t.Error("the JSON form carries raw markup")
	}
}

func TestValueAxis(t *testing.T) {
	for _, c := range []struct {
		max, minStep, top, step float64
	}{
		{256, 0, 300, 50},
		{230.4, 0, 250, 50},
		{10, 0, 12, 2},
		{100, 0, 120, 20},
		{3, 1, 4, 1},
		{0, 0, 1.2, 0.2}, // nothing: an axis to 1
	} {
		a := newValueAxis(c.max, c.minStep, nil)
		if math.Abs(a.top-c.top) > 1e-9 || a.step != c.step {
			t.Errorf("newValueAxis(%v, %v): top %v step %v; want %v, %v", c.max, c.minStep, a.top, a.step, c.top, c.step)
		}
	}
}

func TestSeriesPath(t *testing.T) {
	now := time.Unix(1000, 0)
	var ss []tune.Sample
	for i, v := range []int64{0, 10, 10, 10, 10, 20, 0, 5} {
		ss = append(ss, tune.Sample{Time: now.Add(time.Duration(i) * time.Second), MemoryLimit: v})
	}
	a := newTimeAxis(ss, now)
	v := valueAxis{top: 20, step: 5, scale: 1}
	s := series{value: func(s tune.Sample) (float64, bool) { return positive(float64(s.MemoryLimit)) }}
	// No value at 0 and 6: gaps; the flat run 10,10,10,10 keeps its ends
	// only; a lone point gets a short tick.
	if got, want := a.path(v, ss, s), "M142.9 100 L571.4 100 L714.3 0 M1000 150 h2"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

// BenchmarkStatusRender renders 15 minutes of history (900 samples at
// 1 s) as the page and as JSON, and reports the bytes served.
func BenchmarkStatusRender(b *testing.B) {
	h := showing(fakeStatus(""))
	for _, target := range []string{"/debug/tune", "/debug/tune?format=json"} {
		name := "html"
		if strings.Contains(target, "json") {
			name = "json"
		}
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			var n int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}

// discard is a logger that writes nowhere.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// initLive runs tune.Init with a fast loop and stops it when the test
// ends, switching the crash output off again.
func initLive(t *testing.T, opts tune.Options) tune.Report {
	t.Helper()
	opts.Logger = discard()
	rep, err := tune.Init(opts)
	if err != nil {
		t.Logf("Init: %v", err)
	}
	t.Cleanup(func() {
		tune.Stop()
		tune.Init(tune.Options{RefreshInterval: tune.RefreshOff, CrashFile: "off", Logger: discard()})
	})
	return rep
}

// waitFor polls cond, with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// TestStatusLive serves the page of a real Init with its loop running:
// the samples come from the loop, Init is an event, and the report is
// Current's.
func TestStatusLive(t *testing.T) {
	const interval = 100 * time.Millisecond
	rep := initLive(t, tune.Options{RefreshInterval: interval, CrashFile: "off"})
	waitFor(t, "5 samples from the loop", func() bool { return len(tune.RecentHistory().Samples) >= 5 })
	h := Handler()
	var doc struct {
		RefreshIntervalSeconds float64       `json:"refresh_interval_seconds"`
		Report                 tune.Report   `json:"report"`
		Samples                []tune.Sample `json:"samples"`
		Events                 []tune.Event  `json:"events"`
	}
	if err := json.Unmarshal(serve(h, http.MethodGet, "/debug/tune.json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.RefreshIntervalSeconds != interval.Seconds() || len(doc.Samples) < 5 || len(doc.Events) == 0 {
		t.Fatalf("interval %v, %d samples, events %+v", doc.RefreshIntervalSeconds, len(doc.Samples), doc.Events)
	}
	var initEvent tune.Event
	for _, e := range doc.Events {
		if e.Kind == "init" {
			initEvent = e
		}
	}
	if initEvent.Message != rep.String() {
		t.Errorf("the latest init event is %+v, want this Init's report %q", initEvent, rep)
	}
	if doc.Report.String() != rep.String() {
		t.Errorf("report:\n got %s\nwant %s", doc.Report, rep)
	}
	s := doc.Samples[len(doc.Samples)-1]
	if s.GOMAXPROCS != runtime.GOMAXPROCS(0) || s.MemoryInUse == 0 || s.MemoryLimit != rep.Memory.Limit || s.Time.IsZero() {
		t.Errorf("the latest sample: %+v", s)
	}
	parsePage(t, serve(h, http.MethodGet, "/debug/tune").Body.String())
}

// TestDefaultServeMux: the import registers the page where
// net/http/pprof users look for it.
func TestDefaultServeMux(t *testing.T) {
	for _, path := range []string{"/debug/tune", "/debug/tune.json"} {
		rec := serve(http.DefaultServeMux, http.MethodGet, path)
		if rec.Code != 200 {
			t.Errorf("GET %s on http.DefaultServeMux: %d", path, rec.Code)
		}
	}
}

// TestStatusNoGCYet: before the first garbage collection the live heap
// is "no GC yet", not "none".
func TestStatusNoGCYet(t *testing.T) {
	in := fakeStatus("")
	for i := range in.Samples {
		in.Samples[i].HeapLive = 0
	}
	els := parsePage(t, serve(showing(in), http.MethodGet, "/debug/tune").Body.String())
	if e, ok := byAttr(els, "id", "heap-live-now"); !ok || e.text != "no GC yet" || e.attrs["data-value"] != "0" {
		t.Errorf("#heap-live-now before a GC: %+v", e)
	}
	if e, ok := byAttr(els, "data-now-of", "heap-live"); !ok || e.text != "no GC yet" {
		t.Errorf("the heap's legend before a GC: %+v", e)
	}
	in.Samples[len(in.Samples)-1].HeapLive = 3 << 20
	els = parsePage(t, serve(showing(in), http.MethodGet, "/debug/tune").Body.String())
	if e, _ := byAttr(els, "id", "heap-live-now"); e.text != "3 MiB" {
		t.Errorf("#heap-live-now after a GC: %+v", e)
	}
}

// TestStatusDoesNotStopTheWorld: rendering the page and the JSON of a
// live Init causes no stop-the-world pause (the page reads the history
// and the runtime/metrics figures the loop took, never
// runtime.ReadMemStats, which the control step shows the counter sees).
// A window with a pause from elsewhere in the test binary is retried.
func TestStatusDoesNotStopTheWorld(t *testing.T) {
	initLive(t, tune.Options{RefreshInterval: 100 * time.Millisecond, CrashFile: "off"})
	waitFor(t, "a sample from the loop", func() bool { return len(tune.RecentHistory().Samples) >= 1 })
	before := otherPauses()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if otherPauses() == before {
		t.Fatal("control: runtime.ReadMemStats did not show in /sched/pauses/total/other:seconds; the check would prove nothing")
	}
	h := Handler()
	const renders = 10
	var got []uint64
	for range 3 {
		before := otherPauses()
		for range renders {
			serve(h, http.MethodGet, "/debug/tune")
			serve(h, http.MethodGet, "/debug/tune?format=json")
		}
		d := otherPauses() - before
		if d == 0 {
			return
		}
		got = append(got, d)
	}
	t.Fatalf("stop-the-world pauses during %d renders, in 3 attempts: %v; want 0", renders, got)
}

// otherPauses counts the runtime's stop-the-world pauses not made by the
// GC.
func otherPauses() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}
