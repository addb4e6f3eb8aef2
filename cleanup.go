package tune

// The end of a process's life: a context for the shutdown signals, hooks
// that run once in reverse order within a deadline, and leak tracking of
// objects that were never closed.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// ShutdownContext returns a context that is cancelled when the process
// first receives SIGINT or SIGTERM; context.Cause then names the signal
// ("tune: received SIGTERM"). It is also cancelled when Shutdown begins.
//
// From its first call on, tune handles SIGINT and SIGTERM for the rest of
// the process's life, and a second one of them makes the program exit at
// once with status 1 after one line on stderr: the operator asked twice.
// Every call returns the same context.
func ShutdownContext() context.Context {
	sig.once.Do(func() {
		ctx, cancel := context.WithCancelCause(context.Background())
		sig.mu.Lock()
		sig.ctx, sig.cancel = ctx, cancel
		sig.mu.Unlock()
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			first := <-ch
			cancel(signalError{first})
			second := <-ch
			fmt.Fprintf(os.Stderr, "tune: %s received during shutdown (after %s): exiting now with status 1\n",
				signalName(second), signalName(first))
			os.Exit(1)
		}()
	})
	sig.mu.Lock()
	defer sig.mu.Unlock()
	return sig.ctx
}

var sig struct {
	once   sync.Once
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// signalError is the cause of a ShutdownContext cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "tune: received " + signalName(e.sig) }

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// errShutdown is the cause of a ShutdownContext cancelled by Shutdown.
var errShutdown = errors.New("tune: Shutdown called")

// OnShutdown registers fn to run when Shutdown is called; name identifies
// it in Shutdown's error. Hooks run one at a time, the last registered
// first, so a program that opens a database and then starts a server
// stops the server before it closes the database. A hook registered once
// Shutdown has begun is not run.
func OnShutdown(name string, fn func(context.Context) error) {
	if fn == nil {
		return
	}
	shutdown.mu.Lock()
	defer shutdown.mu.Unlock()
	if shutdown.done == nil {
		shutdown.hooks = append(shutdown.hooks, hook{name, fn})
	}
}

type hook struct {
	name string
	fn   func(context.Context) error
}

var shutdown struct {
	mu    sync.Mutex
	hooks []hook
	done  chan struct{} // closed when the hooks have run; nil before Shutdown
	err   error
}

// Shutdown cancels ShutdownContext, runs the OnShutdown hooks once each, in
// reverse order of registration, and then calls Stop. Every hook gets ctx
// and shares its deadline: Shutdown stops waiting for a hook that has not
// returned when ctx is done, and hooks not yet started then are not run;
// both are reported. A hook's error or panic does not stop the others. The
// error joins every hook's error, each naming its hook.
//
// Shutdown runs the hooks only once: later and concurrent calls wait for
// that run (or for their own ctx) and return its result.
func Shutdown(ctx context.Context) error {
	shutdown.mu.Lock()
	if done := shutdown.done; done != nil {
		shutdown.mu.Unlock()
		select {
		case <-done:
			return shutdown.err
		case <-ctx.Done():
			return fmt.Errorf("tune: waiting for Shutdown: %w", context.Cause(ctx))
		}
	}
	done := make(chan struct{})
	shutdown.done = done
	hooks := shutdown.hooks
	shutdown.hooks = nil
	shutdown.mu.Unlock()

	sig.mu.Lock()
	if sig.cancel != nil {
		sig.cancel(errShutdown)
	}
	sig.mu.Unlock()
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := runHook(ctx, hooks[i]); err != nil {
			errs = append(errs, err)
		}
	}
	Stop()

	shutdown.mu.Lock()
	shutdown.err = errors.Join(errs...)
	shutdown.mu.Unlock()
	close(done)
	return shutdown.err
}

// runHook runs h in its own goroutine and waits for it until ctx is done.
func runHook(ctx context.Context, h hook) error {
	if ctx.Err() != nil {
		return fmt.Errorf("shutdown hook %q not run: %w", h.name, context.Cause(ctx))
	}
	res := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				res <- fmt.Errorf("panic: %v", p)
			}
		}()
		res <- h.fn(ctx)
	}()
	select {
	case err := <-res:
		if err != nil {
			return fmt.Errorf("shutdown hook %q: %w", h.name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown hook %q still running, no longer waited for: %w", h.name, context.Cause(ctx))
	}
}

// Track watches obj, to find a missing Close: it returns the function to
// call when obj is closed, and if obj becomes unreachable before that, the
// count of leaked objects of this kind (the metric
// gotune_leaked_objects_total{kind}) goes up and a Warn line names the kind
// and the file:line that called Track (the 1st, 10th, 100th... leak from
// each place). Call done from obj's Close method, whose receiver keeps obj
// reachable until then. kind should come from a small fixed set, such as
// "db.Conn". Track costs about 0.3µs and four small allocations (see
// BenchmarkTrack); it releases nothing (see runtime.AddCleanup).
func Track[T any](obj *T, kind string) (done func()) {
	if obj == nil {
		return func() {}
	}
	t := &tracked{kind: leakCounter(kind)}
	runtime.Callers(2, t.pc[:])
	t.cleanup = runtime.AddCleanup(obj, leaked, t)
	return t.close
}

// tracked is what a leak report needs; it must not point to the object.
type tracked struct {
	kind    *kindCount
	pc      [1]uintptr // the caller of Track
	done    atomic.Bool
	cleanup runtime.Cleanup
}

func (t *tracked) close() {
	if t.done.CompareAndSwap(false, true) {
		t.cleanup.Stop()
	}
}

type kindCount struct {
	name string
	n    atomic.Uint64
}

var (
	kinds struct {
		sync.RWMutex
		m map[string]*kindCount
	}
	sites      sync.Map // site{} → *atomic.Uint64
	leakLogger atomic.Pointer[slog.Logger]
)

type site struct {
	kind string
	pc   uintptr
}

func leakCounter(kind string) *kindCount {
	kinds.RLock()
	k := kinds.m[kind]
	kinds.RUnlock()
	if k != nil {
		return k
	}
	kinds.Lock()
	defer kinds.Unlock()
	if k = kinds.m[kind]; k == nil {
		if kinds.m == nil {
			kinds.m = make(map[string]*kindCount)
		}
		k = &kindCount{name: kind}
		kinds.m[kind] = k
	}
	return k
}

// leaked runs, as a runtime cleanup, when a tracked object was collected.
func leaked(t *tracked) {
	if t.done.Load() {
		return
	}
	t.kind.n.Add(1)
	v, _ := sites.LoadOrStore(site{t.kind.name, t.pc[0]}, new(atomic.Uint64))
	n := v.(*atomic.Uint64).Add(1)
	if !isPowerOf10(n) {
		return
	}
	where := "unknown place"
	if t.pc[0] != 0 {
		fr, _ := runtime.CallersFrames(t.pc[:]).Next()
		where = fr.File + ":" + strconv.Itoa(fr.Line)
	}
	l := leakLogger.Load()
	if l == nil {
		l = slog.Default()
	}
	l.Warn("tune: object collected without being closed", "kind", t.kind.name, "tracked_at", where, "leaked_here", n)
}

func isPowerOf10(n uint64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// setLeakLogger is given every Init's logger, for the leak warnings.
func setLeakLogger(l *slog.Logger) { leakLogger.Store(l) }

// leakCounts calls yield with each tracked kind and how many of its objects
// leaked, for the metrics, in order of kind. A kind appears, at 0, from its
// first Track on.
func leakCounts(yield func(kind string, n uint64)) {
	kinds.RLock()
	ks := make([]*kindCount, 0, len(kinds.m))
	for _, k := range kinds.m {
		ks = append(ks, k)
	}
	kinds.RUnlock()
	sort.Slice(ks, func(i, j int) bool { return ks[i].name < ks[j].name })
	for _, k := range ks {
		yield(k.name, k.n.Load())
	}
}
