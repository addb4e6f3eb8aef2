package tune

// Logging: every line tune writes goes through here. A logger is user code
// (its handler may block, panic, or call back into tune), so:
//
//   - no tune lock is held when a line is written;
//   - Options.Logger nil means slog.Default(), looked up when the line is
//     written, so slog.SetDefault after the blank import is honoured;
//   - a handler that panics is contained: the panic is never re-raised and
//     never logged back through the handler that panicked. A note goes to
//     stderr once, and that logger's later lines go to stderr as text;
//   - lines from tune's own goroutines (the refresh loop, the runtime's
//     cleanup goroutine) are queued and written by one writer goroutine, so
//     a handler that blocks stalls only tune's logging: the queue is bounded,
//     and lines that do not fit are counted and reported once it drains.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// logLine is one line to write: a readable message plus attributes.
type logLine struct {
	logger *slog.Logger // nil: slog.Default() at write time
	level  slog.Level
	msg    string
	attrs  []slog.Attr
	done   chan struct{} // closed once written (flushLogs), else nil
}

// write writes l through its logger, containing a panic of the handler,
// which it returns as an error.
func (l logLine) write() (err error) {
	lg := l.logger
	if lg == nil {
		lg = slog.Default()
	}
	if _, bad := brokenLoggers.Load(lg); bad {
		l.stderr()
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			brokenLoggers.Store(lg, true)
			err = fmt.Errorf("the log handler panicked (%v): tune writes its lines to stderr from now on", p)
			fmt.Fprintf(os.Stderr, "tune: %v\n", err)
			l.stderr()
		}
	}()
	lg.LogAttrs(context.Background(), l.level, l.msg, l.attrs...)
	return nil
}

// stderrLogger is where the lines of a logger whose handler panicked go.
var stderrLogger = slog.New(slog.NewTextHandler(os.Stderr, nil))

func (l logLine) stderr() {
	stderrLogger.LogAttrs(context.Background(), l.level, l.msg, l.attrs...)
}

// brokenLoggers holds the loggers whose handler panicked (*slog.Logger →
// true). It grows only by a logger that panicked.
var brokenLoggers sync.Map

// logNow writes a line from the calling goroutine (Init, on the caller's
// own goroutine). No tune lock may be held. A panic of the handler is
// returned as an error.
func logNow(logger *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) error {
	return logLine{logger: logger, level: level, msg: msg, attrs: attrs}.write()
}

// logQueueSize bounds the lines waiting for a slow handler.
const logQueueSize = 256

// logQueue hands lines from tune's own goroutines to the writer goroutine,
// started at the first line.
var logQueue struct {
	once    sync.Once
	ch      chan logLine
	dropped atomic.Uint64
	gid     atomic.Uint64 // the writer goroutine's id (Shutdown checks it)
}

// logLater queues a line for the writer goroutine; it never blocks. When
// the queue is full the line is dropped and counted.
func logLater(logger *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) {
	logQueue.once.Do(startLogWriter)
	select {
	case logQueue.ch <- logLine{logger: logger, level: level, msg: msg, attrs: attrs}:
	default:
		logQueue.dropped.Add(1)
	}
}

func startLogWriter() {
	logQueue.ch = make(chan logLine, logQueueSize)
	go func() {
		logQueue.gid.Store(goid())
		for l := range logQueue.ch {
			if l.done != nil {
				close(l.done)
				continue
			}
			l.write()
			if n := logQueue.dropped.Swap(0); n > 0 {
				logLine{logger: l.logger, level: slog.LevelWarn,
					msg:   "tune: log lines were dropped: the log handler was too slow",
					attrs: []slog.Attr{slog.Uint64("dropped", n)}}.write()
			}
		}
	}()
}

// flushLogs waits until the lines queued before it have been written, or
// the timeout passes; it reports whether they were. Tests use it.
func flushLogs(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return flushLogsCtx(ctx)
}

// flushLogsCtx waits until the lines queued before it have been written,
// or ctx is done; it reports whether they were. Shutdown calls it, so that
// a program's last lines from tune are not lost when it exits.
func flushLogsCtx(ctx context.Context) bool {
	logQueue.once.Do(startLogWriter)
	done := make(chan struct{})
	select {
	case logQueue.ch <- logLine{done: done}:
	case <-ctx.Done():
		return false
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
