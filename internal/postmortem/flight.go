package postmortem

// The flight recorder: on request, the runtime's execution trace of the
// last seconds is kept in memory (runtime/trace.FlightRecorder) and
// written with the last words. It runs only while there can be last
// words: a refresh loop, last words on, a crash file. SetFlight starts,
// restarts or stops it; StopFlight stops it. Start, Stop and WriteTo are
// called under one lock: a Stop racing a WriteTo has been seen to fail on
// Go 1.26.

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

type flightState struct {
	mu     sync.Mutex
	fr     *trace.FlightRecorder // nil when off
	window time.Duration
}

// SetFlight makes the flight recorder keep window (0: off) when there can
// be last words (canWrite: a loop and last words on) and a crash file is
// wired. It returns the lines to log.
func (r *Recorder) SetFlight(window time.Duration, canWrite bool) []Note {
	if !canWrite || r.CrashFile() == "" {
		window = 0
	}
	s := &r.flight
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fr != nil && s.window == window {
		return nil
	}
	s.stopLocked()
	if window <= 0 {
		return nil
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: window, MaxBytes: flightMaxBytes})
	if err := fr.Start(); err != nil {
		return []Note{{Level: slog.LevelWarn, Msg: "tune: the flight recorder could not start (the program may run one of its own); the last words go without a trace",
			Attrs: []slog.Attr{slog.String("error", err.Error())}}}
	}
	s.fr, s.window = fr, window
	return nil
}

// StopFlight stops the flight recorder, if it runs.
func (r *Recorder) StopFlight() {
	r.flight.mu.Lock()
	defer r.flight.mu.Unlock()
	r.flight.stopLocked()
}

func (s *flightState) stopLocked() {
	if s.fr != nil {
		s.fr.Stop()
		s.fr, s.window = nil, 0
	}
}

// FlightRunning reports whether the flight recorder runs.
func (r *Recorder) FlightRunning() bool {
	r.flight.mu.Lock()
	defer r.flight.mu.Unlock()
	return r.flight.fr != nil
}

// writeFlight writes the flight recorder's window to w.
func (r *Recorder) writeFlight(w io.Writer) error {
	r.flight.mu.Lock()
	defer r.flight.mu.Unlock()
	if r.flight.fr == nil {
		return errFlightOff
	}
	_, err := r.flight.fr.WriteTo(w)
	return err
}

var errFlightOff = errors.New("the flight recorder was stopped")
