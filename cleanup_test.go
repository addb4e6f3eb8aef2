package tune

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// resetShutdown forgets registered hooks and an earlier Shutdown, so each
// test starts as a fresh process would.
func resetShutdown(t *testing.T) {
	t.Helper()
	clear := func() {
		shutdown.mu.Lock()
		shutdown.hooks, shutdown.done, shutdown.err = nil, nil, nil
		shutdown.mu.Unlock()
	}
	clear()
	t.Cleanup(clear)
}

func TestShutdownReverseOrderOnce(t *testing.T) {
	resetShutdown(t)
	var mu sync.Mutex
	var ran []string
	for _, name := range []string{"db", "cache", "server"} {
		OnShutdown(name, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, name)
			return nil
		})
	}
	for i := range 3 {
		if err := Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown %d: %v", i, err)
		}
		if i == 0 {
			OnShutdown("late", func(context.Context) error { ran = append(ran, "late"); return nil })
		}
	}
	if got := strings.Join(ran, ","); got != "server,cache,db" {
		t.Errorf("hooks ran as %s, want server,cache,db, each once", got)
	}
}

func TestShutdownErrorsJoined(t *testing.T) {
	resetShutdown(t)
	errDB, errSrv := errors.New("db: flush failed"), errors.New("server: 3 requests cut")
	var ran atomic.Int32
	hooks := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"db", func(context.Context) error { ran.Add(1); return errDB }},
		{"ok", func(context.Context) error { ran.Add(1); return nil }},
		{"cache", func(context.Context) error { ran.Add(1); panic("cache: nil map") }},
		{"server", func(context.Context) error { ran.Add(1); return errSrv }},
	}
	for _, h := range hooks {
		OnShutdown(h.name, h.fn)
	}
	err := Shutdown(context.Background())
	if ran.Load() != 4 {
		t.Errorf("%d hooks ran, want all 4", ran.Load())
	}
	if !errors.Is(err, errDB) || !errors.Is(err, errSrv) {
		t.Errorf("Shutdown error %v does not wrap both hook errors", err)
	}
	for _, want := range []string{`shutdown hook "db": db: flush failed`, `shutdown hook "server": server: 3 requests cut`, `shutdown hook "cache": panic: cache: nil map`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Shutdown error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), `"ok"`) {
		t.Errorf("the hook that succeeded is in the error: %v", err)
	}
}

// TestShutdownDeadline: a hook that ignores its context does not hold
// Shutdown past the deadline; it is reported, and so are the hooks that
// could not start in time.
func TestShutdownDeadline(t *testing.T) {
	resetShutdown(t)
	release := make(chan struct{})
	defer close(release)
	var ranFirst, ranLast atomic.Bool
	OnShutdown("first", func(context.Context) error { ranFirst.Store(true); return nil })
	OnShutdown("stuck", func(context.Context) error { <-release; return nil })
	OnShutdown("last", func(context.Context) error { ranLast.Store(true); return nil })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- Shutdown(ctx) }()
	var err error
	select {
	case err = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown is still blocked by a hook 30s after its deadline")
	}
	if !ranLast.Load() {
		t.Error("the hook registered last did not run first")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	for _, want := range []string{`shutdown hook "stuck" still running`, `shutdown hook "first" not run`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if ranFirst.Load() {
		t.Error(`hook "first" ran after the deadline`)
	}

	// A later call returns the same result at once.
	if again := Shutdown(context.Background()); again == nil || again.Error() != err.Error() {
		t.Errorf("second Shutdown = %v, want %v", again, err)
	}
}

// TestShutdownConcurrent calls Shutdown from many goroutines; run with
// -race. The hook runs once and every call sees its error.
func TestShutdownConcurrent(t *testing.T) {
	resetShutdown(t)
	var n atomic.Int32
	OnShutdown("count", func(context.Context) error { n.Add(1); return errors.New("counted") })
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Shutdown(context.Background())
		}()
	}
	wg.Wait()
	if n.Load() != 1 {
		t.Errorf("the hook ran %d times, want once", n.Load())
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), `shutdown hook "count": counted`) {
			t.Errorf("call %d: error %v", i, err)
		}
	}
}

// TestShutdownSignals sends real signals to internal/testprog/shutdowner.
func TestShutdownSignals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	bin := cgrouptest.Build(t, "./internal/testprog/shutdowner")
	tests := []struct {
		name       string
		mode       string         // the shutdowner's argument
		sig        syscall.Signal // sent after "ready" (and again for "block")
		code       int
		wantOut    []string // stdout lines after "ready", in order
		wantStderr string
	}{
		{name: "SIGTERM runs the hooks", sig: syscall.SIGTERM, code: 0,
			wantOut: []string{"cause: tune: received SIGTERM", "hook second", "hook first", "done"}},
		{name: "SIGINT runs the hooks", sig: syscall.SIGINT, code: 0,
			wantOut: []string{"cause: tune: received SIGINT", "hook second", "hook first", "done"}},
		{name: "Shutdown without a signal", mode: "self", code: 0,
			wantOut: []string{"hook second", "hook first", "cause: tune: Shutdown called", "done"}},
		{name: "second SIGTERM exits 1", mode: "block", sig: syscall.SIGTERM, code: 1,
			wantOut:    []string{"cause: tune: received SIGTERM", "hook second blocking"},
			wantStderr: "tune: SIGTERM received during shutdown (after SIGTERM): exiting now with status 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin)
			if tt.mode != "" {
				cmd.Args = append(cmd.Args, tt.mode)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			pipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out := bufio.NewReader(pipe)
			expect := func(want string) {
				t.Helper()
				if line, err := out.ReadString('\n'); line != want+"\n" {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("stdout: got %q (%v), want %q; stderr:\n%s", line, err, want, stderr.String())
				}
			}
			expect("ready")
			if tt.sig != 0 {
				cmd.Process.Signal(tt.sig)
			}
			for _, w := range tt.wantOut {
				expect(w)
			}
			if tt.mode == "block" {
				cmd.Process.Signal(tt.sig)
			}
			rest, _ := bufio.NewReader(out).ReadString(0)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if rest != "" {
				t.Errorf("more output after the expected lines: %q", rest)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

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

// TestTrack: objects dropped without Close are counted and logged (the
// 1st and 10th leak from one place); closed ones are not.
func TestTrack(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	prev := leakLogger.Load()
	leakLogger.Store(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return log.Write(p)
	}), nil)))
	t.Cleanup(func() { leakLogger.Store(prev) })

	// Kinds of their own on each run, so that -count=N starts from zero.
	run := trackRuns.Add(1)
	closedKind, leakedKind := fmt.Sprintf("test.closed.%d", run), fmt.Sprintf("test.leaked.%d", run)
	for range 12 {
		openConn(closedKind).Close()
		openConn(leakedKind) // never closed
	}
	if got := leakCount(closedKind); got != 0 {
		t.Fatalf("%s counted %d leaks before any GC", closedKind, got)
	}
	waitLeaks(t, leakedKind, 12)
	for range 3 {
		runtime.GC()
	}
	if got := leakCount(leakedKind); got != 12 {
		t.Errorf("%s: %d leaks, want 12", leakedKind, got)
	}
	if got := leakCount(closedKind); got != 0 {
		t.Errorf("%s: %d leaks counted for closed objects", closedKind, got)
	}

	mu.Lock()
	defer mu.Unlock()
	var lines []string // this test's (objects of other tests may be collected meanwhile)
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "kind="+leakedKind+" ") {
			lines = append(lines, l)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	where := fmt.Sprintf("tracked_at=%s:", file)
	if len(lines) != 2 {
		t.Fatalf("want 2 Warn lines (1st and 10th leak), got:\n%s", log.String())
	}
	for i, n := range []string{"leaked_here=1", "leaked_here=10"} {
		l := lines[i]
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, where) || !strings.HasSuffix(l, n) {
			t.Errorf("Warn line %q lacks the kind, %s… or %s", l, where, n)
		}
	}
	if strings.Contains(log.String(), closedKind) {
		t.Errorf("a closed object was reported:\n%s", log.String())
	}
}

var trackRuns atomic.Int32

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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
