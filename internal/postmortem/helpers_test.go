package postmortem

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// newRecorder is a recorder on a clock of its own (from now, moved only by
// advance), whose default termination message file does not exist; its
// crash output is switched off when the test ends.
func newRecorder(t testing.TB) *Recorder {
	start := time.Now().Truncate(time.Millisecond)
	r := &Recorder{TerminationDefault: filepath.Join(t.TempDir(), "no-termination-log"), Now: func() time.Time { return start }}
	t.Cleanup(func() {
		r.StopFlight()
		r.End()
	})
	return r
}

// advance is clock moved on by d.
func advance(clock func() time.Time, d time.Duration) func() time.Time {
	t := clock().Add(d)
	return func() time.Time { return t }
}

// logBuffer collects log lines while the test reads them.
type logBuffer = cgrouptest.Buffer

// textLog writes lines as slog's text handler does, into b, at once.
func textLog(b *logBuffer) LogFunc {
	l := slog.New(slog.NewTextHandler(b, nil))
	return func(level slog.Level, msg string, attrs ...slog.Attr) {
		l.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
