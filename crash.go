package tune

// Crash output: Init points debug.SetCrashOutput at a file, so that the
// report of an unrecovered panic or a fatal error survives the process.
//
// The life of one crash file, at path P:
//
//   - Init takes an exclusive lock on P (flock; none on Windows). If
//     another live process holds it, this one uses P.pid<N> instead, N being
//     its pid, so two processes never write into each other's file.
//   - If P holds more than a header line, the previous run crashed: P is
//     renamed to P.1 (P.1 to P.2, P.2 to P.3; older ones are dropped), the
//     crash is logged once at Error level and kept for PreviousCrash. A file
//     that holds only the header is a run that ended without crashing: it is
//     reused.
//   - One header line is written (pid, executable, start time, build
//     version and revision), then the runtime is told to mirror its crash
//     output to the file.
//
// The file is created 0600 (directories 0700), a symbolic link at P is
// refused (O_NOFOLLOW) and a file there owned by another user too.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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
	// Path is where the report is now: the crash file's name plus ".1".
	Path string
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

// crash is the crash output Init has wired.
var crash struct {
	mu     sync.Mutex
	want   string   // the path asked for (absolute), "" when off
	file   *os.File // the open, locked crash file, nil when off
	path   string   // its path: want, or want.pid<N>
	header int64    // length of the header line written to it
	prev   *Crash   // the latest previous crash found
}

const (
	headerPrefix = "tune crash file:"
	maxCrashText = 1 << 20
	keepCrashes  = 3
)

// errLocked says another live process holds the crash file.
var errLocked = errors.New("locked by another process")

// initCrash wires the crash output as c says: to c.crashFile, or the
// default path when it is "", or nowhere when it is "off". Init calls it on
// every call, also under GOTUNE=off (crash output is not a limit). On an
// error the earlier crash output, if any, stays in place.
func initCrash(c config) error {
	setLeakLogger(c.logger)
	crash.mu.Lock()
	defer crash.mu.Unlock()

	want, err := crashPath(c.crashFile)
	if err != nil {
		return err
	}
	if want == "" {
		if crash.file != nil {
			debug.SetCrashOutput(nil, debug.CrashOptions{})
			retire(crash.file, crash.path, crash.header)
			crash.file, crash.want, crash.path = nil, "", ""
		}
		return nil
	}
	if want == crash.want && crash.file != nil {
		return nil // already writing there
	}

	f, path, hdr, prev, err := openCrash(want, time.Now())
	if err != nil {
		return fmt.Errorf("crash file %s: %w", want, err)
	}
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		f.Close()
		return fmt.Errorf("crash file %s: %w", path, err)
	}
	if crash.file != nil {
		retire(crash.file, crash.path, crash.header)
	}
	crash.file, crash.want, crash.path, crash.header = f, want, path, hdr
	if path != want {
		c.logger.Info("tune: crash file in use by another process; using this process's own", "file", want, "using", path)
	}
	if prev != nil {
		crash.prev = prev
		c.logger.Error("tune: the previous run crashed", "message", prev.Message, "file", prev.Path, "crashed_at", prev.Time)
	}
	return nil
}

// crashPath turns the configured value into an absolute path, "" for off.
func crashPath(v string) (string, error) {
	switch {
	case strings.EqualFold(v, "off"):
		return "", nil
	case v == "":
		return filepath.Join(os.TempDir(), programName()+".crash"), nil
	}
	p, err := filepath.Abs(v)
	if err != nil {
		return "", fmt.Errorf("crash file %q: %w", v, err)
	}
	return p, nil
}

func programName() string {
	if exe, err := os.Executable(); err == nil {
		return filepath.Base(exe)
	}
	if len(os.Args) > 0 && os.Args[0] != "" {
		return filepath.Base(os.Args[0])
	}
	return "go-program"
}

// openCrash opens and locks the crash file at want, or at want.pid<N> when
// another process holds want, deals with what an earlier run left there
// and writes the header. It returns the file, its path, the header's
// length and the previous crash, if any.
func openCrash(want string, now time.Time) (*os.File, string, int64, *Crash, error) {
	if err := os.MkdirAll(filepath.Dir(want), 0o700); err != nil {
		return nil, "", 0, nil, err
	}
	path := want
	f, prev, err := takeCrashFile(path)
	if errors.Is(err, errLocked) {
		path = want + ".pid" + strconv.Itoa(os.Getpid())
		f, prev, err = takeCrashFile(path)
		if errors.Is(err, errLocked) {
			err = fmt.Errorf("%s and %s are both locked by other processes", want, path)
		}
	}
	if err != nil {
		return nil, "", 0, nil, err
	}
	if path == want {
		sweepStale(want)
	}
	hdr := header(now)
	if _, err := f.WriteString(hdr); err != nil {
		f.Close()
		return nil, "", 0, nil, fmt.Errorf("write %s: %w", path, err)
	}
	return f, path, int64(len(hdr)), prev, nil
}

// sweepStale removes the want.pid<N> files of processes that have ended
// without crashing (nothing in them but the header), so that they do not
// pile up. Those of live processes are locked and left alone, and so are
// crash reports.
func sweepStale(want string) {
	dir, base := filepath.Split(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := strings.CutPrefix(e.Name(), base+".pid")
		if !ok || pid == "" || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := openLocked(p, false)
		if err != nil {
			continue
		}
		// An empty file may be one a live process has just created and not
		// yet locked; one with a header only is from a process that ended.
		if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
			f.Close()
			continue
		}
		if c, err := readCrash(f, p); err == nil && c == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// takeCrashFile opens and locks path. When it holds an earlier run's
// crash, it rotates it away and starts a new file at path; when it holds
// only a header, it empties it. The file returned is empty, positioned at
// its start.
func takeCrashFile(path string) (*os.File, *Crash, error) {
	f, err := openLocked(path, false)
	if err != nil {
		return nil, nil, err
	}
	prev, err := readCrash(f, path)
	if err == nil && prev == nil {
		err = truncate(f)
	}
	if err != nil || prev == nil {
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return f, nil, nil
	}
	// The previous run crashed: move its report aside, keeping the lock on
	// it until the new file is ours.
	defer f.Close()
	if err := rotate(path); err != nil {
		return nil, nil, err
	}
	prev.Path = path + ".1"
	nf, err := openLocked(path, true)
	if err != nil {
		return nil, nil, err
	}
	return nf, prev, nil
}

// openLocked opens path for writing without following a symbolic link,
// creating it 0600 (exclusively when excl), and takes the lock on it.
func openLocked(path string, excl bool) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil {
		if err := checkExisting(path, fi); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	flag := os.O_RDWR | os.O_CREATE
	if excl {
		flag |= os.O_EXCL
	}
	f, err := openNoFollow(path, flag)
	if err != nil {
		if excl && errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s: %w", path, errLocked) // another process won the race
		}
		if isSymlinkErr(err) {
			return nil, fmt.Errorf("%s is a symbolic link: not following it", path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkExisting(path, fi)
	}
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = lockFile(f)
		if errors.Is(err, errLocked) {
			err = fmt.Errorf("%s: %w", path, errLocked)
		} else if err != nil {
			err = fmt.Errorf("lock %s: %w", path, err)
		}
	}
	if err == nil {
		// Another process may have rotated or removed the file between
		// the open and the lock: then the lock is on a file nobody reads.
		if cur, e := os.Lstat(path); e != nil || !os.SameFile(fi, cur) {
			err = fmt.Errorf("%s: replaced while being opened: %w", path, errLocked)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkExisting refuses what must not be used as a crash file.
func checkExisting(path string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: not following it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	return checkOwner(path, fi)
}

// readCrash reads f and returns the crash it holds, or nil when it holds
// nothing beyond a header line.
func readCrash(f *os.File, path string) (*Crash, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCrashText+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	body := b
	if bytes.HasPrefix(body, []byte(headerPrefix)) {
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			body = body[i+1:]
		} else {
			body = nil
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	text := string(b)
	if len(b) > maxCrashText {
		text = string(b[:maxCrashText]) + "\n[cut at 1 MiB: the whole report is in the file]\n"
	}
	return &Crash{Message: crashMessage(body), Text: text, Time: fi.ModTime()}, nil
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

// rotate renames path to path.1, shifting older reports up to path.3.
func rotate(path string) error {
	for i := keepCrashes - 1; i >= 1; i-- {
		err := os.Rename(path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(path, path+".1")
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// header is the crash file's first line.
func header(now time.Time) string {
	exe, err := os.Executable()
	if err != nil {
		exe = programName()
	}
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
	return fmt.Sprintf("%s pid=%d exe=%q start=%s version=%s revision=%s%s go=%s\n",
		headerPrefix, os.Getpid(), exe, now.UTC().Format(time.RFC3339Nano), version, revision, modified, runtime.Version())
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
