package tune

import (
	"context"
	"net/http"
	"reflect"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
)

// LabelRoutes returns a handler that serves each request with h inside a
// pprof label "route", so that CPU profiles (and goroutine profiles) say
// which endpoint burned the CPU:
//
//	srv := &http.Server{Handler: tune.LabelRoutes(mux)}
//	go tool pprof -tagfocus 'route=/checkout' http://host/debug/pprof/profile
//
// When h is an *http.ServeMux the label is the pattern that matches the
// request, as it was registered ("GET /items/{id}", "/static/"); a request
// no pattern matches is labelled "unmatched", one the mux redirects
// "redirect". For any other handler the label is the method and the first
// path segment ("GET /api"): methods other than the standard ones count as
// "OTHER", and a segment longer than 32 bytes or with characters other
// than letters, digits, '-', '_' and '.' is "/other", as is every new one
// once 100 labels exist. The raw path is never used, so the labels stay
// few.
//
// The request's context carries the label too (pprof.Label reads it), so a
// handler's own pprof.Do adds to it and goroutines it starts inherit it.
// A nil h means http.DefaultServeMux, as in http.Server.
func LabelRoutes(h http.Handler) http.Handler {
	if h == nil {
		h = http.DefaultServeMux
	}
	l := &routeLabeler{next: h}
	l.mux, _ = h.(*http.ServeMux)
	l.labels.Store(&map[string]context.Context{})
	return l
}

// maxRouteLabels bounds the distinct labels a handler that is not a
// ServeMux can produce: past it, only "<method> /other" is added.
const maxRouteLabels = 100

type routeLabeler struct {
	next http.Handler
	mux  *http.ServeMux

	// labels maps a route to a context that carries its label alone,
	// built once: an immutable map replaced as a whole when a route is
	// added, so that a request reads it without a lock.
	labels atomic.Pointer[map[string]context.Context]
	mu     sync.Mutex // adding to labels
}

func (l *routeLabeler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	labels := l.labelsFor(l.route(r))
	parent := r.Context()
	var ctx context.Context
	if hasLabels(parent) {
		// Labels from further out: keep them beside the route.
		route, _ := pprof.Label(labels, "route")
		ctx = pprof.WithLabels(parent, pprof.Labels("route", route))
	} else {
		ctx = &labelledContext{Context: parent, labels: labels}
	}
	pprof.SetGoroutineLabels(ctx)
	defer pprof.SetGoroutineLabels(parent)
	l.next.ServeHTTP(w, r.WithContext(ctx))
}

// route names the request's route (see LabelRoutes).
func (l *routeLabeler) route(r *http.Request) string {
	if l.mux != nil {
		h, pattern := l.mux.Handler(r)
		switch {
		case reflect.TypeOf(h) == redirectType:
			// The redirect's "pattern" is the path it redirects to.
			return "redirect"
		case pattern == "":
			return "unmatched"
		}
		return pattern
	}
	return methodName(r.Method) + " " + firstSegment(r.URL.Path)
}

var redirectType = reflect.TypeOf(http.RedirectHandler("/", http.StatusMovedPermanently))

func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// firstSegment returns "/" and the path's first segment when it is short
// and plain, "/other" otherwise.
func firstSegment(path string) string {
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	if len(path) > 32 {
		return "/other"
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "/other"
		}
	}
	return "/" + path
}

// labelsFor returns the context carrying route's label, made once per
// route. For a handler that is not a ServeMux, routes past the bound are
// "/other".
func (l *routeLabeler) labelsFor(route string) context.Context {
	if ctx, ok := (*l.labels.Load())[route]; ok {
		return ctx
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.labels.Load()
	if ctx, ok := old[route]; ok {
		return ctx
	}
	if l.mux == nil && len(old) >= maxRouteLabels {
		method, _, _ := strings.Cut(route, " ")
		route = method + " /other"
		if ctx, ok := old[route]; ok {
			return ctx
		}
	}
	next := make(map[string]context.Context, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("route", route))
	next[route] = ctx
	l.labels.Store(&next)
	return ctx
}

// hasLabels reports whether ctx carries pprof labels.
func hasLabels(ctx context.Context) bool {
	found := false
	pprof.ForLabels(ctx, func(string, string) bool {
		found = true
		return false
	})
	return found
}

// labelledContext is the request's context with the route's pprof labels:
// the labels' key is answered from labels, everything else (values,
// deadline, cancellation) from the request's context. One small
// allocation, where pprof.WithLabels would make three.
type labelledContext struct {
	context.Context
	labels context.Context // carries the pprof labels and nothing else
}

func (c *labelledContext) Value(key any) any {
	if v := c.labels.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}
