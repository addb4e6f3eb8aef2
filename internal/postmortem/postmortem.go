// Package postmortem is what a Go program leaves behind for whoever asks
// why it died: the crash file the runtime mirrors its crash output to,
// the last words written when the memory pressure rises to Critical, the
// termination message Kubernetes shows, and the flight recorder whose
// trace joins the last words. At the next start it reads what the
// previous run left and says how that run ended.
//
// One Recorder holds it all for the process (the crash output is
// process-wide). Package tune owns one and calls it: SetCrashFile and
// SetFlight at Init, Critical and LeftCritical from the refresh loop,
// StopFlight at Stop, End at Shutdown, Previous for PreviousCrash and
// PreviousExit. Lines to log are returned (Note) or handed to the Log
// function a call is given; no lock of the Recorder is held while a
// logger runs.
//
// The files' rules, in crashfile.go and lastwords.go, are the same for
// all of them: created 0600 with O_EXCL, no symbolic link followed, no
// directory created, and nothing touched that tune did not write.
package postmortem

import (
	"log/slog"
	"os"
	"sync"
	"time"
)

// Recorder is the crash file, the last words and the flight recorder of
// one process. The zero value is ready: no crash file, last words never
// written, the flight recorder off.
type Recorder struct {
	// TerminationDefault is the termination message file used when a
	// LastWords config names none; "" means /dev/termination-log, the
	// kubelet's default terminationMessagePath.
	TerminationDefault string
	// Now is the clock of the last words (their names, the summary's time
	// and the interval between sets); nil means time.Now.
	Now func() time.Time

	crash  crashState
	words  wordsState
	flight flightState
}

// Note is a line for the caller to log once no lock is held.
type Note struct {
	Level slog.Level
	Msg   string
	Attrs []slog.Attr
}

// LogFunc writes (or queues) a line; the last words call it from the
// refresh loop.
type LogFunc func(level slog.Level, msg string, attrs ...slog.Attr)

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// crashState is the crash output the latest SetCrashFile wired.
type crashState struct {
	mu        sync.Mutex
	want      string   // the path asked for (absolute), "" when off
	isDefault bool     // want is the default path
	file      *os.File // the open, locked crash file, nil when off
	path      string   // its path: want, or want.pid<N>
	header    int64    // length of the header line written to it
	hdr       headerInfo
	prev      *Crash // the latest previous crash found
	exit      *Exit  // how the previous run ended, as found by the latest SetCrashFile that found one
}
