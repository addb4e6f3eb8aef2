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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode/utf8"
)

// ShutdownContext returns a context that is cancelled when the process
// first receives SIGINT or SIGTERM; context.Cause then names the signal
// ("tune: received SIGTERM"). It is also cancelled when Shutdown begins
// (the cause is then "tune: Shutdown called"), and if Shutdown has begun
// before its first call, it is returned already cancelled.
//
// From its first call on, tune handles SIGINT and SIGTERM for the rest of
// the process's life, and a second one of them makes the program exit at
// once with status 1 after one line on stderr: the operator asked twice.
// A first call after Shutdown has begun leaves the signals alone. Every
// call returns the same context.
func ShutdownContext() context.Context {
	sig.once.Do(func() {
		ctx, cancel := context.WithCancelCause(context.Background())
		sig.mu.Lock()
		sig.ctx, sig.cancel = ctx, cancel
		sig.mu.Unlock()
		// Shutdown marks its start and then cancels sig.cancel if set:
		// whichever of the two runs second sees the other's mark.
		shutdown.mu.Lock()
		begun := shutdown.done != nil
		shutdown.mu.Unlock()
		if begun {
			cancel(errShutdown)
			return
		}
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
// reverse order of registration, and then calls Stop (waiting for an
// OnPressure call in progress only until ctx is done). Every hook gets ctx
// and shares its deadline: Shutdown stops waiting for a hook that has not
// returned when ctx is done, and hooks not yet started then are not run;
// both are reported. A hook's error, panic or runtime.Goexit does not stop
// the others. The error joins every hook's error, each naming its hook.
//
// Last, Shutdown switches the crash output off and removes the crash file
// when it holds only its header, so that a clean end leaves no file
// behind (a crash after Shutdown goes to stderr only), and waits, until
// ctx is done, for tune's queued log lines to be written.
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
	if err := stop(ctx); err != nil {
		errs = append(errs, err)
	}
	endCrash()
	flushLogsCtx(ctx) // tune's queued lines, before the program exits

	shutdown.mu.Lock()
	shutdown.err = errors.Join(errs...)
	shutdown.mu.Unlock()
	close(done)
	return shutdown.err
}

// errGoexit is a hook's error when it called runtime.Goexit.
var errGoexit = errors.New("called runtime.Goexit instead of returning")

// runHook runs h in its own goroutine and waits for it until ctx is done.
func runHook(ctx context.Context, h hook) error {
	if ctx.Err() != nil {
		return fmt.Errorf("shutdown hook %q not run: %w", h.name, context.Cause(ctx))
	}
	res := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			if p := recover(); p != nil {
				res <- fmt.Errorf("panic: %v", p)
			} else {
				res <- errGoexit
			}
		}()
		err := h.fn(ctx)
		returned = true
		res <- err
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
// gotune_leaked_objects_total{kind}) goes up and a Warn line says so (for
// the 1st, 10th, 100th... leak from each place). The line's attributes:
// kind; tracked_at, the file:line that called Track (inside the
// constructor, typically); created_by, the file:line that asked the
// constructor for the object: the first caller outside the constructor's
// package, or the constructor's direct caller when that first caller is in
// the standard library, when the constructor is in package main, or when
// the few frames Track records are all in its package; leaked_here, the
// count of leaks from that Track call.
//
// Call done from obj's Close method, whose receiver keeps obj reachable
// until then. kind should come from a small fixed set, such as "db.Conn":
// it is a metric label. It is made safe for one once, at its first Track:
// bytes that are not UTF-8 become U+FFFD, it is cut to 128 bytes, and ""
// becomes "unnamed". Track costs four small allocations and well under a
// microsecond, a quarter of it for recording four callers (see
// BenchmarkTrack); it releases nothing (see runtime.AddCleanup).
//
// The Warn line is written without the runtime's cleanup goroutine waiting
// for the logger, so a slow or panicking handler stalls no other cleanup.
func Track[T any](obj *T, kind string) (done func()) {
	if obj == nil {
		return func() {}
	}
	t := &tracked{kind: leakCounter(kind)}
	runtime.Callers(2, t.pc[:])
	t.cleanup = runtime.AddCleanup(obj, leaked, t)
	return t.close
}

// trackFrames is how many callers Track records: the Track call and, a
// few frames up, the constructor's caller. Each frame costs about 13% of
// Track (in instructions), so four make Track 1.35 times as costly as one
// did; a whole stack would cost several times Track's price. A fixed
// array keeps it inside the one allocation.
const trackFrames = 4

// tracked is what a leak report needs; it must not point to the object.
type tracked struct {
	kind    *kindCount
	pc      [trackFrames]uintptr // pc[0] called Track
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
	// kinds maps each kind given to Track, as given, to its counter; two
	// kinds that are made the same by kindLabel share one.
	kinds struct {
		sync.RWMutex
		m map[string]*kindCount
	}
	sites sync.Map // site{} → *atomic.Uint64
)

type site struct {
	kind string
	pc   uintptr
}

const maxKind = 128

// kindLabel makes kind safe as a metric label and in a log line: valid
// UTF-8 (other bytes become U+FFFD), at most maxKind bytes (cut at a
// character's start), and not empty.
func kindLabel(kind string) string {
	k := strings.ToValidUTF8(kind, "\uFFFD")
	if len(k) > maxKind {
		i := maxKind
		for i > 0 && !utf8.RuneStart(k[i]) {
			i--
		}
		k = k[:i]
	}
	if k == "" {
		return "unnamed"
	}
	return k
}

func leakCounter(kind string) *kindCount {
	kinds.RLock()
	k := kinds.m[kind]
	kinds.RUnlock()
	if k != nil {
		return k
	}
	name := kindLabel(kind)
	kinds.Lock()
	defer kinds.Unlock()
	if k = kinds.m[kind]; k != nil {
		return k
	}
	if kinds.m == nil {
		kinds.m = make(map[string]*kindCount)
	}
	if k = kinds.m[name]; k == nil {
		k = &kindCount{name: name}
		kinds.m[name] = k
	}
	kinds.m[kind] = k
	return k
}

// leaked runs, as a runtime cleanup, when a tracked object was collected.
// It must not wait for anything: every cleanup in the process runs on the
// same goroutine.
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
	tracked, created := leakSites(t.pc[:])
	attrs := []slog.Attr{slog.String("kind", t.kind.name), slog.String("tracked_at", tracked)}
	if created != "" {
		attrs = append(attrs, slog.String("created_by", created))
	}
	attrs = append(attrs, slog.Uint64("leaked_here", n))
	// On the runtime's cleanup goroutine: queued, never written here.
	logLater(currentLogger(), slog.LevelWarn, "tune: object collected without being closed", attrs...)
}

// leakSites turns the callers Track recorded into the report's places, as
// file:line: tracked, where Track was called (in the constructor); created,
// the constructor's caller (see createdBy).
func leakSites(pc []uintptr) (tracked, created string) {
	for len(pc) > 0 && pc[len(pc)-1] == 0 {
		pc = pc[:len(pc)-1] // a stack shallower than trackFrames
	}
	if len(pc) == 0 {
		return "unknown place", ""
	}
	var frames [2 * trackFrames]runtime.Frame // inlined calls add frames
	n := 0
	it := runtime.CallersFrames(pc)
	for more := true; more && n < len(frames); {
		frames[n], more = it.Next()
		if frames[n].Function == "runtime.goexit" {
			break
		}
		n++
	}
	place := func(f runtime.Frame) string { return f.File + ":" + strconv.Itoa(f.Line) }
	tracked = place(frames[0])
	if i := createdBy(frames[:n]); i > 0 {
		created = place(frames[i])
	}
	return tracked, created
}

// createdBy picks, among frames (frames[0] called Track), the one that
// asked for the object: the first frame in another package than
// frames[0]'s, which skips the constructor's own helpers. Where that
// cannot be the program's own code, it is frames[1], the constructor's
// direct caller: when frames[0] is in package main (nothing outside main
// calls into it but the runtime and frameworks), when the first frame
// outside is in the standard library (net/http calling a handler,
// testing calling a test), or when every recorded frame is in the
// package. It returns 0 when there is no caller.
func createdBy(frames []runtime.Frame) int {
	if len(frames) < 2 {
		return 0
	}
	pkg := funcPackage(frames[0].Function)
	if pkg == "main" {
		return 1
	}
	for i := 1; i < len(frames); i++ {
		if p := funcPackage(frames[i].Function); p != pkg {
			if isStdPackage(p) {
				return 1
			}
			return i
		}
	}
	return 1
}

// funcPackage returns the package path of a function name as the runtime
// gives it: "example.com/db.(*Pool).get" → "example.com/db".
func funcPackage(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i] // type arguments may hold slashes and dots
	}
	slash := strings.LastIndexByte(fn, '/') + 1
	if dot := strings.IndexByte(fn[slash:], '.'); dot >= 0 {
		return fn[:slash+dot]
	}
	return fn
}

// isStdPackage reports whether pkg is in the standard library: its first
// path element has no dot.
func isStdPackage(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return pkg != "" && pkg != "main" && !strings.Contains(first, ".")
}

func isPowerOf10(n uint64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// leakCounts calls yield with each tracked kind and how many of its objects
// leaked, for the metrics, in order of kind. A kind appears, at 0, from its
// first Track on.
func leakCounts(yield func(kind string, n uint64)) {
	kinds.RLock()
	ks := make([]*kindCount, 0, len(kinds.m))
	for key, k := range kinds.m {
		if key == k.name { // the counter's own entry; others are aliases
			ks = append(ks, k)
		}
	}
	kinds.RUnlock()
	sort.Slice(ks, func(i, j int) bool { return ks[i].name < ks[j].name })
	for _, k := range ks {
		yield(k.name, k.n.Load())
	}
}
