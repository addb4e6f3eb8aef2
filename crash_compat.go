package tune

// Temporary glue until crash.go returns its lines itself: initCrash logs
// through a collecting handler, so no user handler runs under crash.mu.

import (
	"context"
	"log/slog"
)

type collectHandler struct{ lines *[]logLine }

func (h collectHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h collectHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h collectHandler) WithGroup(string) slog.Handler            { return h }
func (h collectHandler) Handle(_ context.Context, r slog.Record) error {
	l := logLine{level: r.Level, msg: r.Message}
	r.Attrs(func(a slog.Attr) bool { l.attrs = append(l.attrs, a); return true })
	*h.lines = append(*h.lines, l)
	return nil
}

func initCrashLines(c config) (error, []logLine) {
	var lines []logLine
	orig := c.logger
	c.logger = slog.New(collectHandler{&lines})
	err := initCrash(c)
	setLeakLogger(orig)
	return err, lines
}

func crashFileInUse() string {
	crash.mu.Lock()
	defer crash.mu.Unlock()
	return crash.path
}
