package postmortem

// The crash file: SetCrashFile points debug.SetCrashOutput at a file, so
// that the report of an unrecovered panic or a fatal error survives the
// process.
//
// What tune counts as its own crash file: a regular file (not a symbolic
// link, directory, device or pipe) with one link, owned by the process's
// user, whose first line is tune's header ("tune crash file: pid=…
// exe="…" …"). tune reads, rotates, rewrites or removes only such a file.
// Anything else at the path is left byte for byte as it was (content,
// mode, owner, times), and SetCrashFile returns an error naming the path;
// the program then runs without a crash file.
//
// The life of one crash file, at path P:
//
//   - The default P is <os.TempDir()>/<executable name>-<hash>.crash, the
//     hash being 8 hex digits of the executable's path: two programs with
//     the same name never share a file. At the default path, a crash file
//     whose header names another executable is not this program's (refused,
//     left as it is). A path given by the caller belongs to whoever is
//     given it: a crash found there is reported whichever executable wrote
//     it, and Crash.Executable says which.
//   - SetCrashFile takes an exclusive lock on P (flock; none on Windows).
//     If another live process holds it, this one uses P.pid<N> instead, N
//     being its pid, so two processes never write into each other's file.
//   - If P holds more than a header line, the previous run crashed: P is
//     renamed to P.1 (P.1 to P.2, P.2 to P.3; older ones are dropped), the
//     crash is noted once at Error level and kept for Previous. A slot
//     that holds something other than a crash file of tune's (a directory,
//     say) is left alone, and the report that would have moved into it is
//     dropped instead. A file that holds only the header is a run that
//     ended without crashing and without Shutdown: it is reused. Either
//     way, Previous says how that run ended (exit.go).
//   - A new P is written as a temporary file holding the header and then
//     linked into place, so P never exists without its header (open.go).
//   - The runtime is told to mirror its crash output to the file.
//   - While the run lives, its header is rewritten in place (same length):
//     critical=1 while the memory pressure is Critical, and the OOM kill
//     counts of its memory groups as last read (header.go, lastwords.go).
//   - End switches the crash output off and removes the file when it
//     holds only the header: a clean end leaves nothing.
//
// tune creates the file 0600 and never its directories; a missing
// directory is an error naming it. A crash file of tune's found with a
// wider mode is narrowed to 0600.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Crash is the report of an earlier run that died of an unrecovered
// panic, a fatal error or a signal such as SIGQUIT (package tune's Crash
// documents the fields).
type Crash struct {
	Message    string
	Text       string
	Time       time.Time
	Path       string
	Executable string
}

// CrashConfig says where the crash output goes and what its header holds.
type CrashConfig struct {
	// Path is the crash file: "" the default path, "off" none.
	Path string
	// Build is the running program's build, for the header.
	Build Build
	// OOM gives the OOM kill counts of the process's memory group and its
	// limited ancestors (OOMCounts), for the header: the next start
	// compares them. It is called only when a new crash file is made.
	OOM func() []GroupCount
}

// Build is what the header says of the program's build.
type Build struct {
	Version, Revision string // "" is written as unknown
	Modified          bool
}

const (
	headerPrefix = "tune crash file:"
	maxCrashText = 1 << 20
	maxHeader    = 16 << 10 // longer than any header tune writes
	keepCrashes  = 3
)

// errLocked says another live process holds the crash file.
var errLocked = errors.New("locked by another process")

// SetCrashFile wires the crash output as c says. Package tune calls it at
// every Init, also under GOTUNE=off (crash output is not a limit). It
// logs nothing: it returns the lines to log. On an error the earlier crash
// output, if any, stays in place; the error names the path.
func (r *Recorder) SetCrashFile(c CrashConfig) ([]Note, error) {
	s := &r.crash
	s.mu.Lock()
	defer s.mu.Unlock()

	exe := executable()
	want, isDefault, err := crashPath(c.Path, exe)
	if err != nil {
		return nil, err
	}
	if want == "" {
		s.closeLocked()
		return nil, nil
	}
	if want == s.want && s.file != nil {
		return nil, nil // already writing there
	}

	owner := ""
	if isDefault {
		owner = exe
	}
	hdr := headerInfo{exe: exe, pid: os.Getpid(), start: r.now(), build: c.Build.field()}
	if c.OOM != nil {
		hdr.oom = c.OOM()
	}
	o, err := openCrash(want, owner, hdr)
	if err != nil {
		return nil, fmt.Errorf("crash file: %w", err)
	}
	if err := debug.SetCrashOutput(o.f, debug.CrashOptions{}); err != nil {
		retire(o.f, o.path, o.header)
		return nil, fmt.Errorf("crash file %s: %w", o.path, err)
	}
	if s.file != nil {
		retire(s.file, s.path, s.header)
	}
	s.file, s.want, s.isDefault, s.path, s.header, s.hdr = o.f, want, isDefault, o.path, o.header, hdr
	notes := o.notes
	if o.path != want {
		notes = append(notes, Note{Level: slog.LevelInfo, Msg: "tune: crash file in use by another process; using this process's own",
			Attrs: []slog.Attr{slog.String("file", want), slog.String("using", o.path)}})
	}
	if p := o.prev; p != nil {
		s.prev = p
		notes = append(notes, Note{Level: slog.LevelError, Msg: "tune: the previous run crashed",
			Attrs: []slog.Attr{slog.String("message", p.Message), slog.String("file", p.Path),
				slog.Time("crashed_at", p.Time), slog.String("executable", p.Executable)}})
	}
	if e := o.exit; e != nil {
		s.exit = e
		if e.Kind == ExitOOMKilled {
			notes = append(notes, e.note())
		}
	}
	return notes, nil
}

// CrashFile returns the path of the crash file the crash output goes to,
// or "" when there is none. The last words go beside it.
func (r *Recorder) CrashFile() string {
	r.crash.mu.Lock()
	defer r.crash.mu.Unlock()
	return r.crash.path
}

// Previous returns copies of the previous crash and of how the previous
// run ended, as the latest SetCrashFile that found them found them; nil
// when none was found.
func (r *Recorder) Previous() (*Crash, *Exit) {
	r.crash.mu.Lock()
	defer r.crash.mu.Unlock()
	var c *Crash
	if r.crash.prev != nil {
		cc := *r.crash.prev
		c = &cc
	}
	var e *Exit
	if r.crash.exit != nil {
		ee := *r.crash.exit
		if ee.Crash != nil {
			cc := *ee.Crash
			ee.Crash = &cc
		}
		ee.LastWords = append([]string(nil), ee.LastWords...)
		e = &ee
	}
	return c, e
}

// base returns the path the last words' names derive from: the crash file
// asked for (also when this process writes want.pid<N>, so that all
// processes given one crash file share one bound on disk), or "" without
// a crash file; and whether it is the default path, whose siblings (other
// executables of the same name) share the bound too.
func (r *Recorder) base() (want string, isDefault bool) {
	r.crash.mu.Lock()
	defer r.crash.mu.Unlock()
	return r.crash.want, r.crash.isDefault
}

// End switches the crash output off and removes the crash file if it
// holds only its header: Shutdown calls it last, so that a clean end
// leaves no file behind. A crash after it goes to stderr only, until a
// later SetCrashFile wires a crash file again.
func (r *Recorder) End() {
	r.crash.mu.Lock()
	defer r.crash.mu.Unlock()
	r.crash.closeLocked()
}

// closeLocked switches the crash output off; s.mu is held.
func (s *crashState) closeLocked() {
	if s.file == nil {
		return
	}
	debug.SetCrashOutput(nil, debug.CrashOptions{})
	retire(s.file, s.path, s.header)
	s.file, s.want, s.isDefault, s.path, s.header, s.hdr = nil, "", false, "", 0, headerInfo{}
}

// crashPath turns the configured value into an absolute path, "" for off,
// and says whether it is the default one.
func crashPath(v, exe string) (path string, isDefault bool, err error) {
	switch {
	case strings.EqualFold(v, "off"):
		return "", false, nil
	case v == "":
		return filepath.Join(os.TempDir(), defaultCrashName(exe)), true, nil
	}
	p, err := filepath.Abs(v)
	if err != nil {
		return "", false, fmt.Errorf("crash file %q: %w", v, err)
	}
	return p, false, nil
}

// defaultCrashName is <executable name>-<8 hex digits of a hash of its
// path>.crash: the name says which program it is for, and two programs
// with the same name in different directories get different files.
func defaultCrashName(exe string) string {
	h := fnv.New32a()
	io.WriteString(h, exe)
	return fmt.Sprintf("%s-%08x.crash", filepath.Base(exe), h.Sum32())
}

// executable is the running program's path, as the crash file's header
// records it.
func executable() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	if len(os.Args) > 0 && os.Args[0] != "" {
		return os.Args[0]
	}
	return "go-program"
}

// opened is a crash file that openCrash made ready.
type opened struct {
	f      *os.File
	path   string
	header int64
	prev   *Crash
	exit   *Exit
	notes  []Note // for the caller to log
}

// openCrash opens and locks the crash file at want, or at want.pid<N> when
// another process holds want, deals with what an earlier run left there
// and makes sure the file holds exactly hdr. With owner set (the default
// path), a file whose header names another executable is refused.
func openCrash(want, owner string, hdr headerInfo) (opened, error) {
	path := want
	o, err := takeCrashFile(path, want, owner, hdr)
	if errors.Is(err, errLocked) {
		path = want + ".pid" + strconv.Itoa(os.Getpid())
		o, err = takeCrashFile(path, want, owner, hdr)
		if errors.Is(err, errLocked) {
			err = fmt.Errorf("%s and %s are both locked by other processes", want, path)
		}
	}
	if err != nil {
		return opened{}, err
	}
	if path == want {
		sweepStale(want, owner != "")
	}
	return o, nil
}

// takeCrashFile makes path this process's crash file, holding hdr and
// locked. A new file is created with hdr in it; one of tune's with only a
// header is rewritten; one holding an earlier run's crash is rotated away
// and a new one made. What the file says of how the run that wrote it
// ended is o.exit; that run's last words are looked for beside want.
func takeCrashFile(path, want, owner string, h headerInfo) (opened, error) {
	hdr := h.line()
	o := opened{path: path, header: int64(len(hdr))}
	f, old, err := openExisting(path, owner)
	if errors.Is(err, os.ErrNotExist) {
		f, err = createCrashFile(path, hdr)
		if errors.Is(err, os.ErrExist) {
			// Another process made it first: take it as an existing one.
			f, old, err = openExisting(path, owner)
		} else if err == nil {
			o.f = f
			return o, nil
		}
	}
	if err != nil {
		return opened{}, err
	}

	prev, err := readCrash(f)
	if err != nil {
		f.Close()
		return opened{}, err
	}
	o.exit = previousExit(old, prev, want, h.oom)
	if prev == nil {
		if err := rewrite(f, hdr); err != nil {
			f.Close()
			return opened{}, err
		}
		o.f = f
		return o, nil
	}

	// The previous run crashed: move its report aside, keeping the lock on
	// it until the new file is ours.
	kept, notes := rotate(path)
	o.notes, o.prev = notes, prev
	if !kept {
		// The report could not be moved: it is dropped, the file reused.
		prev.Path = ""
		o.exit.Crash.Path = ""
		if err := rewrite(f, hdr); err != nil {
			f.Close()
			return opened{}, err
		}
		o.f = f
		return o, nil
	}
	defer f.Close()
	prev.Path = path + ".1"
	o.exit.Crash.Path = prev.Path
	nf, err := createCrashFile(path, hdr)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("%s: %w", path, errLocked) // another process won the race
		}
		return opened{}, err
	}
	o.f = nf
	return o, nil
}
