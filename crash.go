package tune

// Crash output and what the previous run left: the public face. The
// machinery (the crash file's path, safe opening, header, rotation and
// sweeping, reading reports, the last words, the termination message and
// the flight recorder) lives in internal/postmortem; Init, the refresh
// loop, Stop and Shutdown call the one recorder below.

import (
	"log/slog"
	"time"

	"github.com/runtimehooks/tune/internal/postmortem"
)

// Crash is the report of an earlier run of the program that died of an
// unrecovered panic, a fatal error or a signal such as SIGQUIT.
type Crash struct {
	// Message is the report's most telling line: the panic message, the
	// signal, or for a fatal error the goroutine that threw (the runtime
	// does not copy a fatal error's own message to the file).
	Message string
	// Text is the whole report as the runtime wrote it, header line
	// included (cut at 1 MiB; the file keeps everything).
	Text string
	// Time is when the report was written.
	Time time.Time
	// Path is where the report is now: the crash file's name plus ".1",
	// or "" when it could not be kept (see the Warn line Init logged).
	Path string
	// Executable is the path of the program that crashed, as the report's
	// header recorded it.
	Executable string
}

// PreviousCrash returns the crash report an earlier run left in the crash
// file, as found by Init, and whether there was one. Send it to an error
// tracker at start-up; Init has already logged it once at Error level.
func PreviousCrash() (Crash, bool) {
	c, _ := recorder.Previous()
	if c == nil {
		return Crash{}, false
	}
	return Crash(*c), true
}

// recorder is the process's crash output, last words and flight
// recorder, across Inits (the crash output is process-wide).
var recorder postmortem.Recorder

// initCrash wires the crash output to crashFile (Options.CrashFile or
// GOTUNE_CRASH_FILE), the default path when it is "", or nowhere when it
// is "off", and returns the lines to log once no lock is held. oom gives
// the OOM kill counts for the header, when a new crash file is made.
func initCrash(crashFile string, oom func() []postmortem.GroupCount) ([]logLine, error) {
	v, _ := readBuild()
	b := postmortem.Build{Version: v.Version, Revision: v.Revision, Modified: v.Modified != nil && *v.Modified}
	notes, err := recorder.SetCrashFile(postmortem.CrashConfig{Path: crashFile, Build: b, OOM: oom})
	return logLines(notes), err
}

// crashFileInUse returns the path of the crash file the crash output goes
// to, or "" when there is none.
func crashFileInUse() string { return recorder.CrashFile() }

// endCrash switches the crash output off and removes the crash file if it
// holds only its header (Shutdown calls it last).
func endCrash() { recorder.End() }

// setFlight makes the flight recorder run as c asks, once the crash file
// is wired: only while there can be last words. It returns the lines to
// log.
func setFlight(c config) []logLine {
	return logLines(recorder.SetFlight(c.flight, c.lastWords >= 0 && c.refresh > 0 && !c.off))
}

// stopFlight stops the flight recorder, if it runs.
func stopFlight() { recorder.StopFlight() }

// logLines turns the recorder's notes into lines for the caller to log.
func logLines(notes []postmortem.Note) []logLine {
	var lines []logLine
	for _, n := range notes {
		lines = append(lines, logLine{level: n.Level, msg: n.Msg, attrs: n.Attrs})
	}
	return lines
}

// logFunc is where the recorder's lines from the loop go: tune's log
// queue, to logger.
func logFunc(logger *slog.Logger) postmortem.LogFunc {
	return func(level slog.Level, msg string, attrs ...slog.Attr) { logLater(logger, level, msg, attrs...) }
}
