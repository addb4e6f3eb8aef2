package tune

// The flight recorder: with Options.FlightRecorder, the runtime's
// execution trace of the last seconds is kept in memory
// (runtime/trace.FlightRecorder) and written with the last words. It runs
// only while there can be last words: a refresh loop, last words on, a
// crash file. Init starts, restarts or stops it; Stop and Shutdown stop
// it. Start, Stop and WriteTo are called under one lock: a Stop racing a
// WriteTo has been seen to fail on Go 1.26.

import (
	"errors"
	"io"
	"log/slog"
	"runtime/trace"
	"sync"
	"time"
)

// flightMaxBytes is the size the recorder is asked to keep its window to
// (a hint to the runtime; the trace kept is cut at maxTraceBytes).
const flightMaxBytes = 16 << 20

var flight struct {
	mu     sync.Mutex
	fr     *trace.FlightRecorder // nil when off
	window time.Duration
}

// setFlight makes the flight recorder run as c asks, once the crash file
// is wired. It returns the lines for Init to log.
func setFlight(c config) []logLine {
	want := c.flight
	if c.lastWords < 0 || c.refresh <= 0 || c.off || crashFileInUse() == "" {
		want = 0
	}
	flight.mu.Lock()
	defer flight.mu.Unlock()
	if flight.fr != nil && flight.window == want {
		return nil
	}
	stopFlightLocked()
	if want <= 0 {
		return nil
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: want, MaxBytes: flightMaxBytes})
	if err := fr.Start(); err != nil {
		return []logLine{{level: slog.LevelWarn, msg: "tune: the flight recorder could not start (the program may run one of its own); the last words go without a trace",
			attrs: []slog.Attr{slog.String("error", err.Error())}}}
	}
	flight.fr, flight.window = fr, want
	return nil
}

// stopFlight stops the flight recorder, if it runs.
func stopFlight() {
	flight.mu.Lock()
	defer flight.mu.Unlock()
	stopFlightLocked()
}

func stopFlightLocked() {
	if flight.fr != nil {
		flight.fr.Stop()
		flight.fr, flight.window = nil, 0
	}
}

// flightRunning reports whether the flight recorder runs.
func flightRunning() bool {
	flight.mu.Lock()
	defer flight.mu.Unlock()
	return flight.fr != nil
}

// writeFlight writes the flight recorder's window to w.
func writeFlight(w io.Writer) error {
	flight.mu.Lock()
	defer flight.mu.Unlock()
	if flight.fr == nil {
		return errFlightOff
	}
	_, err := flight.fr.WriteTo(w)
	return err
}

var errFlightOff = errors.New("the flight recorder was stopped")
