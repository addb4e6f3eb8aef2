package tune

// Crash output: Init points debug.SetCrashOutput at a file, so that the
// report of an unrecovered panic or a fatal error survives the process.
//
// What tune counts as its own crash file: a regular file (not a symbolic
// link, directory, device or pipe) with one link, owned by the process's
// user, whose first line is tune's header ("tune crash file: pid=…
// exe="…" …"). tune reads, rotates, rewrites or removes only such a file.
// Anything else at the path is left byte for byte as it was (content,
// mode, owner, times), and Init returns an error, logged at Warn, naming
// the path; the program then runs without a crash file.
//
// The life of one crash file, at path P:
//
//   - The default P is <os.TempDir()>/<executable name>-<hash>.crash, the
//     hash being 8 hex digits of the executable's path: two programs with
//     the same name never share a file. At the default path, a crash file
//     whose header names another executable is not this program's (refused,
//     left as it is). A path set by Options.CrashFile or GOTUNE_CRASH_FILE
//     belongs to whoever is given it: a crash found there is reported
//     whichever executable wrote it, and Crash.Executable says which.
//   - Init takes an exclusive lock on P (flock; none on Windows). If
//     another live process holds it, this one uses P.pid<N> instead, N being
//     its pid, so two processes never write into each other's file.
//   - If P holds more than a header line, the previous run crashed: P is
//     renamed to P.1 (P.1 to P.2, P.2 to P.3; older ones are dropped), the
//     crash is logged once at Error level and kept for PreviousCrash. A slot
//     that holds something other than a crash file of tune's (a directory,
//     say) is left alone, and the report that would have moved into it is
//     dropped instead. A file that holds only the header is a run that
//     ended without crashing and without Shutdown: it is reused. Either
//     way, PreviousExit says how that run ended (exit.go).
//   - A new P is written as a temporary file holding the header and then
//     linked into place, so P never exists without its header.
//   - The runtime is told to mirror its crash output to the file.
//   - While the run lives, its header is rewritten in place (same length):
//     critical=1 while the memory pressure is Critical, and the OOM kill
//     counts of its memory groups as last read (exit.go, lastwords.go).
//   - Shutdown (endCrash) switches the crash output off and removes the
//     file when it holds only the header: a clean end leaves nothing.
//
// tune creates the file 0600 and never its directories; a missing
// directory is an error naming it. A crash file of tune's found with a
// wider mode is narrowed to 0600.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
	crash.mu.Lock()
	defer crash.mu.Unlock()
	if crash.prev == nil {
		return Crash{}, false
	}
	return *crash.prev, true
}

// crash is the crash output Init has wired: the one registry of it, with
// its own lock, which guards nothing but these fields and is never held
// while user code runs.
var crash struct {
	mu     sync.Mutex
	want   string   // the path asked for (absolute), "" when off
	file   *os.File // the open, locked crash file, nil when off
	path   string   // its path: want, or want.pid<N>
	header int64    // length of the header line written to it
	hdr    headerInfo
	prev   *Crash // the latest previous crash found
	exit   *Exit  // how the previous run ended, as found by the latest Init that found one
}

const (
	headerPrefix = "tune crash file:"
	maxCrashText = 1 << 20
	maxHeader    = 16 << 10 // longer than any header tune writes
	keepCrashes  = 3
)

// errLocked says another live process holds the crash file.
var errLocked = errors.New("locked by another process")

// initCrash wires the crash output to crashFile (Options.CrashFile or
// GOTUNE_CRASH_FILE), the default path when it is "", or nowhere when it
// is "off". Init calls it on every call, also under GOTUNE=off (crash
// output is not a limit). It writes no log line: it returns the lines for
// its caller to write once no lock is held. On an error the earlier crash
// output, if any, stays in place; the error names the path and says the
// program goes on without (or with its earlier) crash file.
//
// oom gives the OOM kill counts of the process's memory group and its
// limited ancestors (oomCounts), for the header: the next start compares
// them. It is called only when a new crash file is made.
func initCrash(crashFile string, oom func() []groupCount) ([]logLine, error) {
	crash.mu.Lock()
	defer crash.mu.Unlock()

	exe := executable()
	want, isDefault, err := crashPath(crashFile, exe)
	if err != nil {
		return nil, err
	}
	if want == "" {
		closeCrashLocked()
		return nil, nil
	}
	if want == crash.want && crash.file != nil {
		return nil, nil // already writing there
	}

	owner := ""
	if isDefault {
		owner = exe
	}
	hdr := headerInfo{exe: exe, pid: os.Getpid(), start: time.Now(), oom: oom()}
	o, err := openCrash(want, owner, hdr)
	if err != nil {
		return nil, fmt.Errorf("crash file %s: %w", want, err)
	}
	if err := debug.SetCrashOutput(o.f, debug.CrashOptions{}); err != nil {
		retire(o.f, o.path, o.header)
		return nil, fmt.Errorf("crash file %s: %w", o.path, err)
	}
	if crash.file != nil {
		retire(crash.file, crash.path, crash.header)
	}
	crash.file, crash.want, crash.path, crash.header, crash.hdr = o.f, want, o.path, o.header, hdr
	lines := o.notes
	if o.path != want {
		lines = append(lines, logLine{level: slog.LevelInfo, msg: "tune: crash file in use by another process; using this process's own",
			attrs: []slog.Attr{slog.String("file", want), slog.String("using", o.path)}})
	}
	if p := o.prev; p != nil {
		crash.prev = p
		lines = append(lines, logLine{level: slog.LevelError, msg: "tune: the previous run crashed",
			attrs: []slog.Attr{slog.String("message", p.Message), slog.String("file", p.Path),
				slog.Time("crashed_at", p.Time), slog.String("executable", p.Executable)}})
	}
	if e := o.exit; e != nil {
		crash.exit = e
		if e.Kind == ExitOOMKilled {
			lines = append(lines, e.logLine())
		}
	}
	return lines, nil
}

// crashFileInUse returns the path of the crash file the crash output goes
// to, or "" when there is none. The last words go beside it.
func crashFileInUse() string {
	crash.mu.Lock()
	defer crash.mu.Unlock()
	return crash.path
}

// lastWordsBase returns the path the last words' names derive from: the
// crash file asked for (also when this process writes want.pid<N>, so
// that all processes given one crash file share one bound on disk), or ""
// without a crash file; and whether it is the default path, whose
// siblings (other executables of the same name) share the bound too.
func lastWordsBase() (want string, isDefault bool) {
	crash.mu.Lock()
	want = crash.want
	crash.mu.Unlock()
	if want == "" {
		return "", false
	}
	return want, want == filepath.Join(os.TempDir(), defaultCrashName(executable()))
}

// endCrash switches the crash output off and removes the crash file if it
// holds only its header: Shutdown calls it last, so that a clean end
// leaves no file behind. A crash after it goes to stderr only, until a
// later Init wires a crash file again.
func endCrash() {
	crash.mu.Lock()
	defer crash.mu.Unlock()
	closeCrashLocked()
}

// closeCrashLocked switches the crash output off; crash.mu is held.
func closeCrashLocked() {
	if crash.file == nil {
		return
	}
	debug.SetCrashOutput(nil, debug.CrashOptions{})
	retire(crash.file, crash.path, crash.header)
	crash.file, crash.want, crash.path, crash.header, crash.hdr = nil, "", "", 0, headerInfo{}
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
	notes  []logLine // for the caller to log
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

	prev, err := readCrash(f, path)
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

// openExisting opens the crash file of tune's at path and locks it. It
// returns an error wrapping os.ErrNotExist when there is nothing at path,
// errLocked when another process holds it, and an error naming path for
// anything that is not tune's crash file (nothing is changed then). With
// owner set, a header naming another executable is refused too. It
// returns what the header says.
func openExisting(path, owner string) (*os.File, headerInfo, error) {
	f, fi, err := openChecked(path, os.O_RDWR, checkExisting)
	if err != nil {
		return nil, headerInfo{}, err
	}
	h, err := lockHeader(f, fi, path, owner)
	if err != nil {
		f.Close()
		return nil, headerInfo{}, err
	}
	return f, h, nil
}

// openChecked opens path with flag, after check has passed what Lstat
// says of it, and again what the open file says (the same file, as check
// allows): a symbolic link is never followed, a named pipe never waited
// on.
func openChecked(path string, flag int, check func(string, os.FileInfo) error) (*os.File, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := openNoFollow(path, flag|oNonblock)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, nil, fmt.Errorf("%s is a symbolic link: not following it", path)
		}
		return nil, nil, err
	}
	ffi, err := f.Stat()
	if err == nil {
		err = check(path, ffi)
	}
	if err == nil && !os.SameFile(fi, ffi) {
		err = fmt.Errorf("%s: replaced while being opened: %w", path, errLocked)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, ffi, nil
}

// lockHeader locks f, the file at path that fi describes, and reads its
// header, which must be tune's (and name owner, when set).
func lockHeader(f *os.File, ffi os.FileInfo, path, owner string) (headerInfo, error) {
	// The lock comes before the header is read: a file another process is
	// writing its header into is locked by it.
	if err := lockFile(f); err != nil {
		if errors.Is(err, errLocked) {
			return headerInfo{}, fmt.Errorf("%s: %w", path, errLocked)
		}
		return headerInfo{}, fmt.Errorf("lock %s: %w", path, err)
	}
	// Another process may have rotated or removed the file between the
	// open and the lock: then the lock is on a file nobody reads.
	if cur, err := os.Lstat(path); err != nil || !os.SameFile(ffi, cur) {
		return headerInfo{}, fmt.Errorf("%s: replaced while being opened: %w", path, errLocked)
	}
	h, err := readHeader(f, path)
	if err != nil {
		return headerInfo{}, err
	}
	if owner != "" && h.exe != owner {
		return headerInfo{}, fmt.Errorf("%s is the crash file of another program (%s): left as it is", path, h.exe)
	}
	if ffi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			return headerInfo{}, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	return h, nil
}

// checkExisting refuses what must not be used as a crash file, from what
// Lstat or Stat says of it.
func checkExisting(path string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: not following it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): left as it is", path, fileType(fi.Mode()))
	}
	if n := linkCount(fi); n != 1 {
		return fmt.Errorf("%s has %d hard links (a crash file tune wrote has one): left as it is", path, n)
	}
	return checkOwner(path, fi)
}

// fileType names the type of a file that is not a regular one.
func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return "irregular file"
}

// readHeader reads the first line of f, which must be tune's header, and
// returns what it says. Nothing of the file's content goes into the
// error: it may be anything (a configuration with a password).
func readHeader(f *os.File, path string) (headerInfo, error) {
	buf := make([]byte, maxHeader)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return headerInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	if !bytes.HasPrefix(line, []byte(headerPrefix)) {
		return headerInfo{}, fmt.Errorf("%s does not start with tune's header line, so tune did not write it: left as it is", path)
	}
	return parseHeader(string(line)), nil
}

// parseHeader reads a header line (tune's, or what claims to be): a
// field it lacks, or cannot read, stays zero. The executable's path is
// quoted and may hold anything; the fields after it hold no spaces,
// except version and revision, which are not read.
func parseHeader(line string) headerInfo {
	var h headerInfo
	if v, ok := headerField(line, "pid"); ok {
		h.pid, _ = strconv.Atoi(v)
	}
	_, rest, ok := strings.Cut(line, ` exe=`)
	if !ok {
		return h
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return h
	}
	h.exe, _ = strconv.Unquote(q)
	rest = rest[len(q):]
	if v, ok := headerField(rest, "start"); ok {
		h.start, _ = time.Parse(time.RFC3339Nano, v)
	}
	if v, ok := headerField(rest, "critical"); ok {
		h.critical = v == "1"
	}
	if v, ok := headerField(rest, "oom_kill"); ok {
		h.oom = parseOOMField(v)
	}
	return h
}

// headerField returns the value of " key=" in s, up to the next space.
func headerField(s, key string) (string, bool) {
	_, v, ok := strings.Cut(s, " "+key+"=")
	v, _, _ = strings.Cut(v, " ")
	return v, ok
}

// isCrashFile reports whether path holds a crash file of tune's (any
// executable's) that is not in use: only such a file may be replaced or
// removed by rotation and sweeping.
func isCrashFile(path string) bool {
	f, _, err := openExisting(path, "")
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// createCrashFile makes a new crash file at path holding hdr, locked. The
// file is written under a temporary name and then linked into place, so
// that nobody sees it without its header. It fails with os.ErrExist when
// something is at path already. tune creates the file, never its
// directories.
func createCrashFile(path, hdr string) (*os.File, error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, base+".new*") // 0600, O_EXCL
	if err != nil {
		return nil, createErr(path, err, "crash file", crashFix)
	}
	tmp := f.Name()
	fail := func(err error) (*os.File, error) {
		os.Remove(tmp)
		f.Close()
		return nil, err
	}
	if err := lockFile(f); err != nil {
		return fail(fmt.Errorf("lock %s: %w", tmp, err))
	}
	if _, err := f.WriteString(hdr); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fail(err)
		}
		// A file system without hard links: rename, after one more look.
		if _, err := os.Lstat(path); err == nil {
			return fail(fmt.Errorf("%s: %w", path, os.ErrExist))
		}
		if err := os.Rename(tmp, path); err != nil {
			return fail(fmt.Errorf("rename %s: %w", tmp, err))
		}
	} else {
		os.Remove(tmp)
	}
	return f, nil
}

// createErr says why the file at path (a crash file, last words: what)
// could not be created, and what to do (fix), for the errors a setting
// can fix.
func createErr(path string, err error, what, fix string) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, e := os.Lstat(dir); errors.Is(e, os.ErrNotExist) {
			return fmt.Errorf("directory %s does not exist (tune creates the %s, never its directories)", dir, what)
		}
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("cannot create %s: %s is on a read-only file system; %s", path, dir, fix)
	case errors.Is(err, os.ErrPermission):
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once
		}
		return fmt.Errorf("cannot create %s: %w; %s", path, err, fix)
	}
	return fmt.Errorf("cannot create %s: %w", path, err)
}

// crashFix is what to do when the crash file cannot be created.
const crashFix = "set GOTUNE_CRASH_FILE to a writable path, or GOTUNE_CRASH_FILE=off to go without a crash file"

// rewrite empties f (a crash file of tune's, locked) and writes hdr.
func rewrite(f *os.File, hdr string) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	if _, err := f.WriteAt([]byte(hdr), 0); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	_, err := f.Seek(int64(len(hdr)), io.SeekStart)
	return err
}

// sweepStale removes the crash files of processes that have ended without
// crashing (nothing in them but the header), so that they do not pile up:
// want's want.pid<N> files and leftover temporary files, and with
// siblings (the default path) the default-named files of other
// executables with the same name (a program run by go run or go test has a
// new path every time). Files in use are locked and left alone, and so
// are crash reports and anything that is not a crash file of tune's.
func sweepStale(want string, siblings bool) {
	dir, base := filepath.Split(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	sibling := siblingPrefix(base)
	for _, e := range entries {
		name := e.Name()
		if name == base || !isStaleName(name, base, sibling, siblings) {
			continue
		}
		p := filepath.Join(dir, name)
		f, _, err := openExisting(p, "")
		if err != nil {
			continue
		}
		if c, err := readCrash(f, p); err == nil && c == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// isStaleName reports whether name may be a leftover of want's: base.pid<N>,
// base.new<random>, or with siblings <sibling><8 hex digits>.crash.
func isStaleName(name, base, sibling string, siblings bool) bool {
	if pid, ok := strings.CutPrefix(name, base+".pid"); ok {
		return pid != "" && strings.Trim(pid, "0123456789") == ""
	}
	if _, ok := strings.CutPrefix(name, base+".new"); ok {
		return true
	}
	return siblings && isDefaultName(name, sibling)
}

// siblingPrefix is what the default crash file names of the executables
// named as base's share: "server-" for server-1f2e3d4c.crash.
func siblingPrefix(base string) string {
	sibling := strings.TrimSuffix(base, filepath.Ext(base))
	if i := strings.LastIndexByte(sibling, '-'); i >= 0 {
		sibling = sibling[:i+1]
	}
	return sibling
}

// isDefaultName reports whether name is a default crash file name that
// starts with sibling: <sibling><8 hex digits>.crash.
func isDefaultName(name, sibling string) bool {
	h, ok := strings.CutPrefix(name, sibling)
	if !ok {
		return false
	}
	h, ok = strings.CutSuffix(h, ".crash")
	return ok && len(h) == 8 && strings.Trim(h, "0123456789abcdef") == ""
}

// readCrash reads f and returns the crash it holds, or nil when it holds
// nothing beyond a header line.
func readCrash(f *os.File, path string) (*Crash, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxCrashText+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	first, body, _ := bytes.Cut(b, []byte("\n"))
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	text := string(b)
	if len(b) > maxCrashText {
		text = string(b[:maxCrashText]) + "\n[cut at 1 MiB: the whole report is in the file]\n"
	}
	return &Crash{Message: crashMessage(body), Text: text, Time: fi.ModTime(), Executable: parseHeader(string(first)).exe}, nil
}

// crashMessage picks the report's most telling line: a panic, a fatal
// error, a signal, else the goroutine that threw with its top frame (a
// fatal error's own line is not copied to the file: golang/go#76859).
func crashMessage(body []byte) string {
	var first, sig, gor string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "panic: "), strings.HasPrefix(line, "fatal error: "):
			return line
		case sig == "" && isSignalLine(line):
			sig = line
		case gor == "" && strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			gor = line
			if sc.Scan() {
				fn, _, _ := strings.Cut(strings.TrimSpace(sc.Text()), "(")
				gor = "fatal error (its message is on stderr only, golang/go#76859): " + line + " " + fn
			}
		}
		if first == "" {
			first = line
		}
	}
	switch {
	case sig != "":
		return sig
	case gor != "":
		return gor
	}
	return first
}

// isSignalLine reports whether line is the runtime's "SIGQUIT: quit" kind.
func isSignalLine(line string) bool {
	name, _, ok := strings.Cut(line, ": ")
	if !ok || len(name) < 4 || !strings.HasPrefix(name, "SIG") {
		return false
	}
	for _, r := range name[3:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// rotate moves the crash report at path to path.1, shifting older ones up
// to path.3 (the one there is replaced). A slot holding anything but a
// crash file of tune's, one that cannot be replaced, is left as it is; the
// report that would have moved into it is dropped instead, so rotation
// never fails because of what sits in a slot. kept says whether the
// report at path is now at path.1; the notes say what was dropped.
func rotate(path string) (kept bool, notes []logLine) {
	slot := func(i int) string {
		if i == 0 {
			return path
		}
		return path + "." + strconv.Itoa(i)
	}
	usable := func(p string) bool {
		_, err := os.Lstat(p)
		return errors.Is(err, os.ErrNotExist) || (err == nil && isCrashFile(p))
	}
	drop := func(p, why string) {
		notes = append(notes, logLine{level: slog.LevelWarn, msg: "tune: crash report dropped: " + why,
			attrs: []slog.Attr{slog.String("file", p)}})
	}
	for i := keepCrashes; i >= 1; i-- {
		src, dst := slot(i-1), slot(i)
		if i > 1 && !isCrashFile(src) {
			continue // nothing of tune's to move
		}
		if usable(dst) {
			if err := os.Rename(src, dst); err == nil {
				continue
			} else if i == 1 {
				drop(src, fmt.Sprintf("it could not be moved to %s: %v", dst, err))
				return false, notes
			}
		} else if i == 1 {
			drop(src, dst+" is not a crash file of tune's, and is left as it is; the report is logged and returned by PreviousCrash only")
			return false, notes
		}
		// src cannot move up: it is the oldest report left, and goes.
		if err := os.Remove(src); err == nil {
			drop(src, dst+" could not take it (not a crash file of tune's, left as it is)")
		}
	}
	return true, notes
}

// headerInfo is what a crash file's header line says of the run that
// wrote it. The run rewrites its header in place as its memory pressure
// goes to and from Critical, so the fields after go= have a fixed width:
// the line keeps its length, and the runtime's crash output, which goes
// after it, is never overwritten.
type headerInfo struct {
	exe   string
	pid   int
	start time.Time // when it called Init
	// critical is set while its memory pressure is Critical: a run that
	// vanished with it set was probably killed by the OOM killer.
	critical bool
	// oom are the OOM kill counts of its memory group and of the ancestors
	// with a memory limit, as it last read them (at Init, and when the
	// pressure rose to Critical).
	oom []groupCount
}

// line is the header line, newline included.
func (h headerInfo) line() string {
	version, revision, modified := "unknown", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " modified=true"
				}
			}
		}
	}
	critical := 0
	if h.critical {
		critical = 1
	}
	return fmt.Sprintf("%s pid=%d exe=%q start=%s version=%s revision=%s%s go=%s critical=%d oom_kill=%s\n",
		headerPrefix, h.pid, h.exe, h.start.UTC().Format(time.RFC3339Nano), version, revision, modified,
		strings.ReplaceAll(runtime.Version(), " ", "_"), critical, oomField(h.oom))
}

// markPressure records in the crash file's header whether the memory
// pressure is Critical now and, when oom is not nil, the OOM kill counts
// read now (a count recorded at Init only rises). The header is rewritten
// in place, keeping its length; nothing is done without a crash file.
// The refresh loop calls it, through lastWords and leftCritical.
func markPressure(critical bool, oom []groupCount) {
	crash.mu.Lock()
	defer crash.mu.Unlock()
	if crash.file == nil {
		return
	}
	h := crash.hdr
	h.critical = critical
	h.oom = raiseCounts(h.oom, oom)
	line := h.line()
	if int64(len(line)) != crash.header {
		return // not reached: the fields have a fixed width
	}
	if _, err := crash.file.WriteAt([]byte(line), 0); err == nil {
		crash.hdr = h
	}
}

// retire closes a crash file that is no longer the crash output, removing
// it when it holds only its header (nothing to keep).
func retire(f *os.File, path string, header int64) {
	if fi, err := f.Stat(); err == nil && fi.Size() == header {
		if cur, err := os.Lstat(path); err == nil && os.SameFile(fi, cur) {
			os.Remove(path)
		}
	}
	f.Close()
}
