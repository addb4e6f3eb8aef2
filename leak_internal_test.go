package tune

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// leakCount reads the leak counter of kind.
func leakCount(kind string) uint64 {
	var n uint64
	leakCounts(func(k string, c uint64) {
		if k == kind {
			n = c
		}
	})
	return n
}

// waitLeaks collects garbage until kind has counted want leaks, or fails
// after a generous deadline.
func waitLeaks(t *testing.T, kind string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for leakCount(kind) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d leaks counted after 20s of GCs, want %d", kind, leakCount(kind), want)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

type conn struct {
	_    [64]byte // big enough to get an allocation of its own
	done func()
}

func (c *conn) Close() error { c.done(); return nil }

//go:noinline
func openConn(kind string) *conn {
	c := new(conn)
	c.done = Track(c, kind)
	return c
}

// captureLeakLog sends the leak warnings, for the test's duration, to a
// text handler writing into the buffer returned.
func captureLeakLog(t *testing.T) *logBuffer {
	t.Helper()
	buf := new(logBuffer)
	saved := current.Load()
	o := &owner{c: config{logger: slog.New(slog.NewTextHandler(buf, nil))}}
	o.publish(notInitialized)
	current.Store(o)
	t.Cleanup(func() { current.Store(saved) })
	return buf
}

// linesWith returns the lines of b that contain s.
func linesWith(b *logBuffer, s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// callerLine returns the line it is called from.
func callerLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

// TestTrack: objects dropped without Close are counted and logged (the
// 1st and 10th leak from one place); closed ones are not. The Track call
// and the constructor's caller are all in this package, so created_by is
// the constructor's caller.
func TestTrack(t *testing.T) {
	log := captureLeakLog(t)

	// Kinds of their own on each run, so that -count=N starts from zero.
	run := trackRuns.Add(1)
	closedKind, leakedKind := fmt.Sprintf("test.closed.%d", run), fmt.Sprintf("test.leaked.%d", run)
	var line int
	for range 12 {
		openConn(closedKind).Close()
		line = callerLine() + 1
		openConn(leakedKind) // never closed
	}
	if got := leakCount(closedKind); got != 0 {
		t.Fatalf("%s counted %d leaks before any GC", closedKind, got)
	}
	waitLeaks(t, leakedKind, 12)
	// This test's lines (objects of other tests may be collected meanwhile).
	deadline := time.Now().Add(20 * time.Second)
	for len(linesWith(log, "kind="+leakedKind+" ")) < 2 && time.Now().Before(deadline) {
		runtime.GC()
		runtime.Gosched()
	}
	for range 3 {
		runtime.GC()
	}
	if got := leakCount(leakedKind); got != 12 {
		t.Errorf("%s: %d leaks, want 12", leakedKind, got)
	}
	if got := leakCount(closedKind); got != 0 {
		t.Errorf("%s: %d leaks counted for closed objects", closedKind, got)
	}

	lines := linesWith(log, "kind="+leakedKind+" ")
	_, file, _, _ := runtime.Caller(0)
	where := fmt.Sprintf("tracked_at=%s:", file)
	created := fmt.Sprintf("created_by=%s:%d ", file, line)
	if len(lines) != 2 {
		t.Fatalf("want 2 Warn lines (1st and 10th leak), got:\n%s", log.String())
	}
	for i, n := range []string{"leaked_here=1", "leaked_here=10"} {
		l := lines[i]
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, where) || !strings.Contains(l, created) || !strings.HasSuffix(l, n) {
			t.Errorf("Warn line %q lacks the kind, %s…, %s or %s", l, where, created, n)
		}
	}
	if strings.Contains(log.String(), closedKind) {
		t.Errorf("a closed object was reported:\n%s", log.String())
	}
}

var trackRuns atomic.Int32

func TestLeakCountsOrder(t *testing.T) {
	openConn("test.order.b").Close()
	openConn("test.order.a").Close()
	var kinds []string
	leakCounts(func(k string, n uint64) {
		if strings.HasPrefix(k, "test.order.") {
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		}
	})
	if got := strings.Join(kinds, " "); got != "test.order.a=0 test.order.b=0" {
		t.Errorf("leakCounts gave %q, want both kinds at 0, in order", got)
	}
}

func TestIsPowerOf10(t *testing.T) {
	for n, want := range map[uint64]bool{0: false, 1: true, 2: false, 10: true, 11: false, 20: false, 100: true, 1000000: true, 1000001: false} {
		if got := isPowerOf10(n); got != want {
			t.Errorf("isPowerOf10(%d) = %v", n, got)
		}
	}
}

func BenchmarkTrack(b *testing.B) {
	b.ReportAllocs()
	objs := make([]conn, 1024)
	for i := 0; b.Loop(); i++ {
		done := Track(&objs[i%len(objs)], "bench")
		done()
	}
}

// TestTrackKindSanitised: kinds that are not valid UTF-8, empty or very
// long are made safe at Track, so a real scrape of the collector keeps
// working and shows them as the doc says.
func TestTrackKindSanitised(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newTuneCollector())
	long := strings.Repeat("é", 100) // 200 bytes: cut at 128, between two é
	for _, kind := range []string{"bad\xff", "bad\xfe", "", long, "x\xc3"} {
		openConn(kind).Close()
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	var got []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "gotune_leaked_objects_total{") {
			got = append(got, l)
		}
	}
	for _, kind := range []string{"bad\uFFFD", "unnamed", strings.Repeat("é", 64), "x\uFFFD"} {
		want := fmt.Sprintf("gotune_leaked_objects_total{kind=%q} 0", kind)
		if n := strings.Count(string(body), want+"\n"); n != 1 {
			t.Errorf("%d lines %s, want 1; got:\n%s", n, want, strings.Join(got, "\n"))
		}
	}
	if strings.Contains(string(body), strings.Repeat("é", 65)) {
		t.Error("a kind longer than 128 bytes was served")
	}
}

func TestKindLabel(t *testing.T) {
	for in, want := range map[string]string{
		"db.Conn":                     "db.Conn",
		"":                            "unnamed",
		"bad\xff":                     "bad\uFFFD",
		"\xff\xfe":                    "\uFFFD",
		strings.Repeat("a", 200):      strings.Repeat("a", 128),
		strings.Repeat("€", 50):       strings.Repeat("€", 42), // 3 bytes each: 126
		"a" + strings.Repeat("€", 50): "a" + strings.Repeat("€", 42),
	} {
		if got := kindLabel(in); got != want {
			t.Errorf("kindLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzKindLabel: whatever Track is given, the label is valid UTF-8, not
// empty and at most maxKind bytes.
func FuzzKindLabel(f *testing.F) {
	for _, s := range []string{"db.Conn", "", "bad\xff", strings.Repeat("€", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := kindLabel(s)
		if !utf8.ValidString(k) || k == "" || len(k) > maxKind {
			t.Fatalf("kindLabel(%q) = %q", s, k)
		}
		if utf8.ValidString(s) && s != "" && len(s) <= maxKind && k != s {
			t.Fatalf("kindLabel changed a good kind %q into %q", s, k)
		}
	})
}

// TestLeakLogDoesNotBlockCleanups: a leak warning whose handler (here
// slog's default) blocks forever, or panics, holds up no other cleanup:
// later leaks are still counted.
func TestLeakLogDoesNotBlockCleanups(t *testing.T) {
	saved := current.Load()
	current.Store(nil)
	prev := slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		current.Store(saved)
	})
	for _, mode := range []string{"blocks", "panics"} {
		t.Run(mode, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			entered := make(chan struct{}, 1)
			slog.SetDefault(slog.New(handlerFunc(func(context.Context, slog.Record) error {
				select {
				case entered <- struct{}{}:
				default:
				}
				if mode == "panics" {
					panic("handler: broken")
				}
				<-release
				return nil
			})))
			run := trackRuns.Add(1)
			first, second := fmt.Sprintf("test.first.%d", run), fmt.Sprintf("test.second.%d", run)
			openConn(first)
			waitLeaks(t, first, 1)
			select {
			case <-entered:
			case <-time.After(20 * time.Second):
				t.Fatal("the leak warning never reached the handler")
			}
			openConn(second)
			waitLeaks(t, second, 1) // fails if the cleanup goroutine is stuck in the handler
		})
	}
}

// handlerFunc is a slog.Handler that calls itself for every record.
type handlerFunc func(context.Context, slog.Record) error

func (h handlerFunc) Enabled(context.Context, slog.Level) bool        { return true }
func (h handlerFunc) Handle(ctx context.Context, r slog.Record) error { return h(ctx, r) }
func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler              { return h }
func (h handlerFunc) WithGroup(string) slog.Handler                   { return h }

func TestFuncPackage(t *testing.T) {
	for fn, want := range map[string]string{
		"main.main":                           "main",
		"main.main.func1":                     "main",
		"example.com/db.Dial":                 "example.com/db",
		"example.com/db.(*Pool).get":          "example.com/db",
		"example.com/x.y/db.Dial":             "example.com/x.y/db",
		"example.com/db.New[...]":             "example.com/db",
		"example.com/db.New[go.shape.*a/b.T]": "example.com/db",
		"net/http.HandlerFunc.ServeHTTP":      "net/http",
		"runtime.goexit":                      "runtime",
	} {
		if got := funcPackage(fn); got != want {
			t.Errorf("funcPackage(%q) = %q, want %q", fn, got, want)
		}
	}
}

func TestCreatedBy(t *testing.T) {
	fr := func(fns ...string) []runtime.Frame {
		out := make([]runtime.Frame, len(fns))
		for i, f := range fns {
			out[i].Function = f
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		frames []runtime.Frame
		want   int
	}{
		{"library called by the program", fr("example.com/db.Dial", "example.com/app.handle", "net/http.HandlerFunc.ServeHTTP"), 1},
		{"library helper", fr("example.com/db.dial", "example.com/db.Dial", "example.com/app.handle"), 2},
		{"library called by net/http", fr("example.com/db.Dial", "example.com/db.(*Pool).get", "net/http.serve"), 1},
		{"package main", fr("main.Dial", "main.handle", "github.com/gin-gonic/gin.(*Context).Next"), 1},
		{"all in the package", fr("example.com/db.a", "example.com/db.b", "example.com/db.c", "example.com/db.d"), 1},
		{"no caller", fr("example.com/db.Dial"), 0},
	} {
		if got := createdBy(tt.frames); got != tt.want {
			t.Errorf("%s: createdBy = %d, want %d", tt.name, got, tt.want)
		}
	}
}
