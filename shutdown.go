package tune

// The end of a process's life: a context for the shutdown signals, and
// hooks that run once in reverse order within a deadline.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
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
	mu     sync.Mutex
	hooks  []hook
	done   chan struct{} // closed when the hooks have run; nil before Shutdown
	err    error
	inHook sync.Map // goroutine id → true while it runs a hook
}

// errShutdownReentered is what Shutdown returns when called from inside a
// shutdown hook, or from tune's log writer (a log handler), while
// Shutdown runs: it cannot wait for the Shutdown it is part of.
var errShutdownReentered = errors.New("tune: Shutdown called from inside a shutdown hook or tune's log handler while Shutdown runs: not waiting for itself")

// reentered reports whether the calling goroutine is one Shutdown waits
// for: a hook's, or tune's log writer.
func reentered() bool {
	id := goid()
	if id == 0 {
		return false
	}
	_, hook := shutdown.inHook.Load(id)
	return hook || id == logQueue.gid.Load()
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
// that run (or for their own ctx) and return its result. Called from
// inside a hook, or from a log handler while tune's log writer runs it,
// while Shutdown runs, it returns at once, with an error saying so,
// instead of waiting for itself. A log handler that calls it first gets the whole
// Shutdown, but for the wait for the queued log lines (it writes them).
func Shutdown(ctx context.Context) error {
	inside := reentered()
	shutdown.mu.Lock()
	if done := shutdown.done; done != nil {
		shutdown.mu.Unlock()
		if inside {
			return errShutdownReentered
		}
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
	if !inside {
		flushLogsCtx(ctx) // tune's queued lines, before the program exits
	}

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
		id := goid()
		shutdown.inHook.Store(id, true)
		defer shutdown.inHook.Delete(id)
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
