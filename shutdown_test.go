package tune

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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
		{name: "ShutdownContext first called after Shutdown", mode: "after", code: 0,
			wantOut: []string{"hook second", "hook first", "cancelled: true", "cause: tune: Shutdown called", "done"}},
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

// TestShutdownGoexit: a hook that calls runtime.Goexit is reported like a
// panic, and the hooks after it run.
func TestShutdownGoexit(t *testing.T) {
	resetShutdown(t)
	var ranFirst atomic.Bool
	OnShutdown("first", func(context.Context) error { ranFirst.Store(true); return nil })
	OnShutdown("exiter", func(context.Context) error { runtime.Goexit(); return nil })
	res := make(chan error, 1)
	go func() { res <- Shutdown(context.Background()) }()
	var err error
	select {
	case err = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown hangs after a hook called runtime.Goexit")
	}
	if want := `shutdown hook "exiter": called runtime.Goexit instead of returning`; err == nil || err.Error() != want {
		t.Errorf("Shutdown error = %v, want %q", err, want)
	}
	if !ranFirst.Load() {
		t.Error("the hook after the one that called Goexit did not run")
	}
}

// TestShutdownFromHook: a hook that calls Shutdown gets an error at once
// instead of waiting for the Shutdown it is part of; the outer call
// returns, with that error in the hook's (issue 21, item 4).
func TestShutdownFromHook(t *testing.T) {
	resetShutdown(t)
	var inner error
	OnShutdown("reentrant", func(context.Context) error {
		inner = Shutdown(context.Background())
		return inner
	})
	var outer error
	within(t, "Shutdown with a hook calling Shutdown", 10*time.Second, func() { outer = Shutdown(context.Background()) })
	if !errors.Is(inner, errShutdownReentered) {
		t.Errorf("the hook's Shutdown returned %v, want %v", inner, errShutdownReentered)
	}
	if !errors.Is(outer, errShutdownReentered) || !strings.Contains(outer.Error(), `shutdown hook "reentrant"`) {
		t.Errorf("Shutdown returned %v, want the hook's error", outer)
	}
}

// TestShutdownFromLogHandler: a log handler that calls Shutdown, on
// tune's log writer, gets the whole Shutdown (the hooks run) and returns;
// tune's logging goes on (issue 21, item 5).
func TestShutdownFromLogHandler(t *testing.T) {
	resetShutdown(t)
	ran := make(chan struct{})
	OnShutdown("hook", func(context.Context) error { close(ran); return nil })
	returned := make(chan error, 1)
	var logs logBuffer
	text := slog.NewTextHandler(&logs, nil)
	logger := slog.New(callbackHandler{func(r slog.Record) {
		if r.Message == "call Shutdown" {
			returned <- Shutdown(context.Background())
		}
		text.Handle(context.Background(), r)
	}})
	logLater(logger, slog.LevelInfo, "call Shutdown")
	within(t, "Shutdown from the log handler", 10*time.Second, func() {
		if err := <-returned; err != nil {
			t.Errorf("Shutdown from the log handler: %v", err)
		}
	})
	select {
	case <-ran:
	default:
		t.Error("the hook did not run")
	}
	logLater(logger, slog.LevelInfo, "still logging")
	within(t, "the log queue after Shutdown", 10*time.Second, func() {
		if out := logsOf(t, &logs); !strings.Contains(out, "still logging") {
			t.Errorf("logging stopped after Shutdown from the handler:\n%s", out)
		}
	})
}
