// Package status serves tune's live status page: what tune found and
// decided, the last 15 minutes of its refresh loop as plots, the latest
// events and how the previous run ended, as HTML and as JSON.
//
// Like net/http/pprof beside runtime/pprof, it is a package of its own so
// that a program that does not mount the page does not link it (nor
// html/template). Importing it registers the page on
// http.DefaultServeMux, as net/http/pprof does:
//
//	import _ "github.com/runtimehooks/tune/status"
//
//	go http.ListenAndServe("127.0.0.1:6060", nil) // /debug/tune, /debug/tune.json
//
// To serve it on a mux of your own (on an internal port: it tells what
// the process runs in), use Handler:
//
//	debug := http.NewServeMux()
//	debug.Handle("/debug/tune", status.Handler())
//	debug.Handle("/debug/tune.json", status.Handler())
//
// The page reads what tune publishes (tune.Current, tune.Pressure,
// tune.RecentHistory, tune.PreviousExit) without a lock the refresh loop
// waits for; it shows nothing until tune.Init (or the blank import
// github.com/runtimehooks/tune/auto) has run.
package status

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

	"github.com/runtimehooks/tune"
)

// init registers the page on http.DefaultServeMux, as net/http/pprof
// registers its own.
func init() {
	http.Handle("/debug/tune", Handler())
	http.Handle("/debug/tune.json", Handler())
}

// Handler returns the status page's handler. It serves HTML by default
// and JSON with ?format=json or at a path ending in ".json". The page is
// rendered on the server with inline SVG and fetches nothing from
// elsewhere (its Content-Security-Policy forbids it), so it works in an
// air-gapped cluster; a small inline script refreshes it in place every
// few seconds, and without JavaScript it is complete as served. Only what
// tune's Report, history and previous exit hold is shown: no environment,
// no flags.
//
// The JSON form is one object:
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
//	previous_exit             how the previous run ended (tune.PreviousExit),
//	                          null when Init found none: kind (crashed,
//	                          oom-killed, unreported), reason, pid,
//	                          executable, start, last_words (its files),
//	                          crash (message, time, path; null unless it
//	                          crashed)
//	samples                   the history, oldest first, one per tick: the
//	                          fields of tune.Sample; 0 bytes or cores
//	                          means none or unknown, a PSI figure of -1
//	                          absent
//	events                    the latest events (at most 100), oldest
//	                          first: time, kind, message (see tune.Event)
//
// It answers GET and HEAD; other methods get 405 Method Not Allowed, an
// unknown format 400. A render does not stop the world.
func Handler() http.Handler { return handler{read: live} }

// handler serves what read returns (live in production; tests give their
// own input).
type handler struct{ read func() input }

// input is everything the page shows, read at once.
type input struct {
	Report   tune.Report
	Pressure tune.PressureEvent
	Exit     *tune.Exit    // the previous run's end; nil when Init found none
	Samples  []tune.Sample // oldest first
	Events   []tune.Event  // oldest first
	Interval time.Duration
	Now      time.Time
}

// live reads what tune published.
func live() input {
	h := tune.RecentHistory()
	in := input{
		Report:   tune.Current(),
		Pressure: tune.Pressure(),
		Samples:  h.Samples,
		Events:   h.Events,
		Interval: h.Interval,
		Now:      time.Now(),
	}
	if e, ok := tune.PreviousExit(); ok {
		in.Exit = &e
	}
	return in
}

func (s handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		if err := renderHTML(&buf, s.read()); err != nil {
			http.Error(w, "tune: rendering the status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", statusCSP)
	case "json":
		if err := writeJSON(&buf, s.read()); err != nil {
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

// statusJSON is the JSON form; see Handler.
type statusJSON struct {
	Time                   time.Time     `json:"time"`
	RefreshIntervalSeconds float64       `json:"refresh_interval_seconds"`
	Report                 tune.Report   `json:"report"`
	Pressure               pressureJSON  `json:"pressure"`
	PreviousExit           *exitJSON     `json:"previous_exit"`
	Samples                []tune.Sample `json:"samples"`
	Events                 []tune.Event  `json:"events"`
}

type pressureJSON struct {
	Level          tune.PressureLevel  `json:"level"`
	Previous       tune.PressureLevel  `json:"previous"`
	GCCPUFraction  float64             `json:"gc_cpu_fraction"`
	MemoryInUse    uint64              `json:"memory_in_use_bytes"`
	GOMEMLIMIT     *int64              `json:"gomemlimit_bytes"`
	LimiterEngaged bool                `json:"limiter_engaged"`
	Signal         tune.PressureSignal `json:"signal"`
	Stale          bool                `json:"stale"`
	Time           *time.Time          `json:"time"`
}

type exitJSON struct {
	Kind       tune.ExitKind `json:"kind"`
	Reason     string        `json:"reason"`
	PID        int           `json:"pid"`
	Executable string        `json:"executable"`
	Start      time.Time     `json:"start"`
	LastWords  []string      `json:"last_words"`
	Crash      *crashJSON    `json:"crash"`
}

// crashJSON is a crash report without its text (the goroutines' stacks
// stay in the file it names).
type crashJSON struct {
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	Path    string    `json:"path"`
}

func writeJSON(buf *bytes.Buffer, in input) error {
	p := in.Pressure
	doc := statusJSON{
		Time:                   in.Now.UTC(),
		RefreshIntervalSeconds: in.Interval.Seconds(),
		Report:                 in.Report,
		Pressure: pressureJSON{
			Level: p.Level, Previous: p.Previous, GCCPUFraction: p.GCCPUFraction, MemoryInUse: p.MemoryInUse,
			LimiterEngaged: p.LimiterEngaged, Signal: p.Signal, Stale: p.Stale,
		},
		Samples: in.Samples,
		Events:  in.Events,
	}
	if p.GOMEMLIMIT != 0 && p.GOMEMLIMIT != math.MaxInt64 {
		doc.Pressure.GOMEMLIMIT = &p.GOMEMLIMIT
	}
	if !p.Time.IsZero() {
		t := p.Time.UTC()
		doc.Pressure.Time = &t
	}
	if e := in.Exit; e != nil {
		doc.PreviousExit = &exitJSON{Kind: e.Kind, Reason: e.Reason, PID: e.PID, Executable: e.Executable,
			Start: e.Start.UTC(), LastWords: e.LastWords}
		if doc.PreviousExit.LastWords == nil {
			doc.PreviousExit.LastWords = []string{}
		}
		if c := e.Crash; c != nil {
			doc.PreviousExit.Crash = &crashJSON{Message: c.Message, Time: c.Time.UTC(), Path: c.Path}
		}
	}
	if doc.Report.Errors == nil {
		doc.Report.Errors = []string{}
	}
	if doc.Report.Cgroup.Files == nil {
		doc.Report.Cgroup.Files = []string{}
	}
	if doc.Samples == nil {
		doc.Samples = []tune.Sample{}
	}
	if doc.Events == nil {
		doc.Events = []tune.Event{}
	}
	return json.NewEncoder(buf).Encode(doc) // compact: 15 minutes of samples are large enough
}

//go:embed page
var pageFiles embed.FS

// The page's template, its inline style and script, and the
// Content-Security-Policy that allows exactly those and nothing from
// elsewhere (fetch only to this origin).
var statusTmpl, statusStyle, statusScript, statusCSP = func() (*template.Template, template.CSS, template.JS, string) {
	read := func(name string) string {
		b, err := pageFiles.ReadFile("page/" + name)
		if err != nil {
			panic("tune/status: the page's " + name + " is not embedded: " + err.Error()) // a build defect
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

func renderHTML(buf *bytes.Buffer, in input) error {
	return statusTmpl.Execute(buf, buildStatusView(in))
}
