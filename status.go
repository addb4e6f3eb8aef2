package tune

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusHandler returns an http.Handler for a live status page, meant to be
// mounted at /debug/tune. Like net/http/pprof it belongs on an internal
// port: it tells what the process runs in.
//
// The page (HTML, the default) shows the current Report in plain words, the
// last 15 minutes of the refresh loop's samples as plots (the Go heap,
// GOMEMLIMIT and the cgroup memory limit on one time axis; the GC's CPU
// share with the memory pressure level; GOMAXPROCS against the CPU quota;
// the kernel's pressure stall figures where they were read) and the latest
// events. It is rendered on the server with inline SVG and fetches nothing
// from elsewhere (its Content-Security-Policy forbids it), so it works in
// an air-gapped cluster; a small inline script refreshes it in place every
// few seconds, and without JavaScript it is complete as served. Only what
// the Report and the samples hold is shown: no environment, no flags.
//
// With ?format=json, or at a path ending in ".json" (mount it at
// /debug/tune.json too), it serves the same data as one JSON object:
//
//	time                      when it was served (RFC 3339)
//	refresh_interval_seconds  the refresh loop's interval (0: no loop ran)
//	report                    the Report, as `tune -json` prints it
//	pressure                  the latest memory pressure: level, previous,
//	                          gc_cpu_fraction, memory_in_use_bytes,
//	                          gomemlimit_bytes (null: none),
//	                          limiter_engaged, signal (what set the
//	                          level), stale (the loop no longer measures),
//	                          time (null: not measured)
//	samples                   the history, oldest first, one per tick: the
//	                          fields of Sample (time, heap_live_bytes,
//	                          memory_in_use_bytes, gomemlimit_bytes,
//	                          memory_limit_bytes, memory_usage_bytes,
//	                          gc_cpu_fraction, gomaxprocs, cpu_quota_cores,
//	                          pressure, psi_memory_some_avg10,
//	                          psi_memory_full_avg10, psi_cpu_some_avg10,
//	                          psi_io_some_avg10); 0 bytes or cores means
//	                          none or unknown, a PSI figure of -1 absent
//	events                    the latest events (at most 100), oldest
//	                          first: time, kind, message (see Event)
//
// It answers GET and HEAD; other methods get 405 Method Not Allowed, an
// unknown format 400. A render does not stop the world: it copies the
// history without a lock the refresh loop waits for, and the Report as
// Current returns it.
func StatusHandler() http.Handler {
	return http.HandlerFunc(serveStatus)
}

func serveStatus(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.HasSuffix(r.URL.Path, ".json") {
		format = "json"
	}
	var buf bytes.Buffer
	switch format {
	case "", "html":
		if err := renderStatusHTML(&buf, currentStatus()); err != nil {
			http.Error(w, "tune: rendering the status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", statusCSP)
	case "json":
		if err := writeStatusJSON(&buf, currentStatus()); err != nil {
			http.Error(w, "tune: encoding the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/json")
	default:
		http.Error(w, fmt.Sprintf("unknown format %q: want html or json", format), http.StatusBadRequest)
		return
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// statusInput is everything the page shows, read at once.
type statusInput struct {
	Report   Report
	Pressure PressureEvent
	Samples  []Sample // oldest first
	Events   []Event  // oldest first; shared, not to be modified
	Interval time.Duration
	Now      time.Time
}

// currentStatus gathers the page's input. A variable, so that tests can
// show the page any state.
var currentStatus = func() statusInput {
	samples, events, interval := historyNow()
	rep := notInitialized
	if o := current.Load(); o != nil {
		rep = o.reportNow() // published, immutable: the page only reads it
	}
	return statusInput{
		Report:   rep,
		Pressure: Pressure(),
		Samples:  samples,
		Events:   events,
		Interval: interval,
		Now:      time.Now(),
	}
}

// statusJSON is the JSON form; see StatusHandler.
type statusJSON struct {
	Time                   time.Time    `json:"time"`
	RefreshIntervalSeconds float64      `json:"refresh_interval_seconds"`
	Report                 Report       `json:"report"`
	Pressure               pressureJSON `json:"pressure"`
	Samples                []Sample     `json:"samples"`
	Events                 []Event      `json:"events"`
}

type pressureJSON struct {
	Level          PressureLevel  `json:"level"`
	Previous       PressureLevel  `json:"previous"`
	GCCPUFraction  float64        `json:"gc_cpu_fraction"`
	MemoryInUse    uint64         `json:"memory_in_use_bytes"`
	GOMEMLIMIT     *int64         `json:"gomemlimit_bytes"`
	LimiterEngaged bool           `json:"limiter_engaged"`
	Signal         PressureSignal `json:"signal"`
	Stale          bool           `json:"stale"`
	Time           *time.Time     `json:"time"`
}

func writeStatusJSON(buf *bytes.Buffer, in statusInput) error {
	p := in.Pressure
	doc := statusJSON{
		Time:                   in.Now.UTC(),
		RefreshIntervalSeconds: in.Interval.Seconds(),
		Report:                 in.Report,
		Pressure: pressureJSON{
			Level: p.Level, Previous: p.Previous, GCCPUFraction: p.GCCPUFraction, MemoryInUse: p.MemoryInUse,
			GOMEMLIMIT: nullIf(p.GOMEMLIMIT, math.MaxInt64, 0), LimiterEngaged: p.LimiterEngaged,
			Signal: p.Signal, Stale: p.Stale,
		},
		Samples: in.Samples,
		Events:  in.Events,
	}
	if !p.Time.IsZero() {
		t := p.Time.UTC()
		doc.Pressure.Time = &t
	}
	if doc.Report.Errors == nil {
		doc.Report.Errors = []string{}
	}
	if doc.Report.Cgroup.Files == nil {
		doc.Report.Cgroup.Files = []string{}
	}
	if doc.Samples == nil {
		doc.Samples = []Sample{}
	}
	if doc.Events == nil {
		doc.Events = []Event{}
	}
	return json.NewEncoder(buf).Encode(doc) // compact: 15 minutes of samples are large enough

}

//go:embed statuspage
var statusFiles embed.FS

// The page's template, its inline style and script, and the
// Content-Security-Policy that allows exactly those and nothing from
// elsewhere (fetch only to this origin).
var statusTmpl, statusStyle, statusScript, statusCSP = func() (*template.Template, template.CSS, template.JS, string) {
	read := func(name string) string {
		b, err := statusFiles.ReadFile("statuspage/" + name)
		if err != nil {
			panic("tune: the status page's " + name + " is not embedded: " + err.Error()) // a build defect
		}
		return string(b)
	}
	css, js := read("page.css"), read("page.js")
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := "default-src 'none'; style-src " + hash(css) + "; script-src " + hash(js) +
		"; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	t := template.Must(template.New("page.html").Parse(read("page.html")))
	return t, template.CSS(css), template.JS(js), csp
}()

func renderStatusHTML(buf *bytes.Buffer, in statusInput) error {
	return statusTmpl.Execute(buf, buildStatusView(in))
}
