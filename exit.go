package tune

// How the previous run ended, as far as its crash file and the kernel
// can tell (internal/postmortem reads it). What is knowable:
//
//   - A Go crash (an unrecovered panic, a fatal error, SIGQUIT) leaves its
//     report in the crash file.
//   - tune.Shutdown removes the crash file when it holds only its header:
//     the next start finds nothing, as on the very first start.
//   - A plain return from main or os.Exit runs no hook, so it leaves the
//     header alone in the file, exactly as a SIGKILL does: from the file,
//     tune cannot tell them apart.
//
// So a run is reported as probably killed by the OOM killer only on
// positive evidence: the OOM kill count of its memory group (or of an
// ancestor with a limit, the pod's) rose since that run last read it, or
// its memory pressure was Critical when it ended (the header says so: the
// loop marks it on the way up, with the last words, and clears it on the
// way down). Otherwise a header left alone is "unreported": a normal exit
// or an uncatchable signal, tune cannot tell which.

import "time"

// ExitKind says how the previous run ended.
type ExitKind string

const (
	// ExitCrashed: it died of a Go crash (an unrecovered panic, a fatal
	// error, a signal such as SIGQUIT); Exit.Crash holds the report.
	ExitCrashed ExitKind = "crashed"
	// ExitOOMKilled: it vanished, probably killed by the OOM killer: it
	// left neither a crash report nor a tune.Shutdown, and either the OOM
	// kill count of its memory group (or of an ancestor with a limit) rose
	// since it last read it, or its memory pressure was Critical when it
	// ended. Exit.Reason says which; Exit.LastWords lists its last words.
	ExitOOMKilled ExitKind = "oom-killed"
	// ExitUnreported: it ended without a crash report and without
	// tune.Shutdown, and nothing says it was killed for memory: a normal
	// exit (a return from main, os.Exit) or a signal it could not catch
	// (SIGKILL). tune cannot tell which: call tune.Shutdown at the end of
	// main to leave nothing behind.
	ExitUnreported ExitKind = "unreported"
)

// Exit is how the previous run of the program (the one that used the
// crash file before) ended, as Init found it.
type Exit struct {
	Kind ExitKind
	// Reason says why tune concluded Kind, in a sentence.
	Reason string
	// PID, Executable and Start are that run's process id, program and the
	// time it called Init, as its crash file's header recorded them.
	PID        int
	Executable string
	Start      time.Time
	// Crash is its crash report, for ExitCrashed (PreviousCrash returns the
	// same); nil otherwise.
	Crash *Crash
	// LastWords lists the files of the newest set of last words that run
	// wrote (a heap profile, goroutines, a trace, a summary), if any: read
	// the heap profile with go tool pprof -top. A later run may rotate them
	// away (tune keeps the newest 3 sets).
	LastWords []string
}

// PreviousExit returns how the previous run of the program ended, as found
// by Init in the crash file, and whether Init found one: false means no
// earlier run left its crash file (this is the first run with it, the last
// one ended through tune.Shutdown, which removes it, or crash output is
// off). Init has already logged a crash, and a run probably killed by the
// OOM killer, once at Error level. See ExitKind for what can and cannot
// be told apart.
func PreviousExit() (Exit, bool) {
	_, pe := recorder.Previous()
	if pe == nil {
		return Exit{}, false
	}
	e := Exit{Kind: ExitKind(pe.Kind), Reason: pe.Reason, PID: pe.PID, Executable: pe.Executable,
		Start: pe.Start, LastWords: pe.LastWords}
	if pe.Crash != nil {
		c := Crash(*pe.Crash)
		e.Crash = &c
	}
	return e, true
}
