package tune

// Log lines that tune's parts hand back instead of writing: a user's slog
// handler is user code, and runs with no tune lock held and never on a
// goroutine that other work waits for.
//
//   - Code that runs under a lock (initCrash) returns []logLine; its caller
//     writes them once every lock is released.
//   - Code that runs where nobody may wait (the leak report, on the
//     runtime's cleanup goroutine) calls logAsync, which hands the line on
//     and returns at once.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// logLine is one line to be written later: a level, a message and its
// attributes.
type logLine struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// writeTo writes the line to l.
func (ln logLine) writeTo(l *slog.Logger) {
	l.LogAttrs(context.Background(), ln.level, ln.msg, ln.attrs...)
}

// asyncLog, when set, is what logAsync hands its lines to. The core sets it
// to a function that writes to the configured logger (resolved when the
// line is written) without the caller waiting, and that contains a panic of
// the handler. It must return at once.
var asyncLog atomic.Pointer[func(logLine)]

// logAsync writes ln without waiting for the logger: through asyncLog when
// it is set, else to slog.Default() in a goroutine of its own, so that a
// handler that blocks stalls only that goroutine. A handler that panics
// is contained: the panic is written to stderr (once in the process's
// life), never back through the handler.
func logAsync(ln logLine) {
	if f := asyncLog.Load(); f != nil {
		(*f)(ln)
		return
	}
	go func() {
		defer containLogPanic(ln)
		ln.writeTo(slog.Default())
	}()
}

var logPanicOnce sync.Once

// containLogPanic, deferred around a log call, stops a panic of the
// handler and says so on stderr, once.
func containLogPanic(ln logLine) {
	if p := recover(); p != nil {
		logPanicOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "tune: the log handler panicked (%v) writing %q; later panics of it are not reported\n", p, ln.msg)
		})
	}
}
