package postmortem

// Last words: the evidence tune leaves when the memory pressure rises to
// Critical, before the OOM killer may strike (its SIGKILL leaves no
// chance to write anything later).
//
// When the level rises to Critical, at most once per interval (package
// tune's Options.LastWordsInterval, 1 minute), the refresh loop writes,
// on its own goroutine (never the allocating one):
//
//   - to the termination message file (/dev/termination-log, when it
//     exists as a regular file: never created), the summary line below,
//     overwriting what was there;
//   - beside the crash file P, a set of files named
//     P.lastwords-<UTC time>-<pid>.<kind>:
//     heap.pb.gz, the heap profile (pprof format: go tool pprof -top);
//     goroutines.txt, the goroutine profile as text (debug=1: goroutines
//     with the same stack counted once), cut at 1 MiB;
//     trace, the flight recorder's last seconds, when it runs;
//     json, a one-line JSON summary: time, pressure signal, GC CPU, Go
//     memory in use, the live heap, GOMEMLIMIT, the cgroup limit, and the
//     group's usage, PSI and OOM kills when the kernel shows them, and the
//     files written.
//
// The files follow the crash file's rules: created 0600 with
// O_EXCL|O_NOFOLLOW, never a directory. Before a set is written the older
// ones beyond the newest 2 are removed (so 3 sets at most), and only files
// tune wrote are (lwfiles.go). The bound on disk is 3 sets of at most
// 16 MiB of heap profile (a larger one is not kept), 1 MiB of goroutines,
// 32 MiB of trace and a few KiB of summary: about 150 MiB with the flight
// recorder, 51 MiB without. A heap profile grows with the number of
// allocation sites, not with the heap: typically tens to hundreds of KiB.
//
// A directory that cannot be written (read-only, missing, full) costs one
// Warn line per directory and problem saying that nothing could be
// written, and nothing else (no "written" line).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// Moment is what the loop knows at the moment the level rose to Critical.
type Moment struct {
	Pressure, Signal string
	GCCPUFraction    float64
	MemoryInUse      uint64
	GOMEMLIMIT       int64               // math.MaxInt64 or less than 1: none
	Limit            int64               // the cgroup's memory limit; 0: none
	Stats            *cgroup.Stats       // the kernel's view of the group this tick; nil when not read
	Reader           *cgroup.StatsReader // what read Stats
}

// LastWords configures the last words.
type LastWords struct {
	// Interval is the least time between two sets; negative: none.
	Interval time.Duration
	// TerminationLog is the termination message file: "" the Recorder's
	// TerminationDefault, "off" none.
	TerminationLog string
	// Log writes a line; it must not block (the loop calls it).
	Log LogFunc
}

const (
	keepLastWords   = 3        // sets kept on disk
	maxHeapProfile  = 16 << 20 // a larger heap profile is not kept
	maxGoroutineTxt = 1 << 20  // the goroutines are cut there
	maxTraceBytes   = 32 << 20 // a larger trace is not kept
	maxTermination  = 4096     // what the kubelet reads of a termination message
)

// defaultTermination is the kubelet's default terminationMessagePath.
const defaultTermination = "/dev/termination-log"

// TerminationOff, as LastWords.TerminationLog, writes no termination
// message.
const TerminationOff = "off"

// wordsState is what the last words remember across Inits, with its own
// lock (never held while a logger runs).
type wordsState struct {
	mu     sync.Mutex
	last   time.Time       // when the latest set was begun
	warned map[string]bool // problems already logged, once each
}

// Critical is called by the refresh loop, on its goroutine, each time the
// pressure level rises to Critical. It marks the crash file's header (the
// next start then knows this run was at Critical) and, when due, writes
// the last words.
func (r *Recorder) Critical(m Moment, c LastWords) {
	now := r.now()
	base, _ := r.base()
	due := c.Interval >= 0 && r.due(now, c.Interval)
	if base == "" && !due {
		return
	}
	// The loop's own reading of the kernel's view, taken this tick; a
	// discovery of its own only where the loop has none.
	var oom []GroupCount
	if m.Stats != nil && m.Reader != nil {
		oom = OOMCounts(m.Reader, m.Stats)
	} else {
		m.Stats, oom = readKernel()
	}
	r.markPressure(true, oom)
	if !due {
		return
	}
	r.write(now, m, c)
}

// LeftCritical is called by the refresh loop when the level falls from
// Critical: a run that ends from here on did not end at Critical.
func (r *Recorder) LeftCritical() { r.markPressure(false, nil) }

// due reports whether a set may be written at now, and if so counts it as
// written.
func (r *Recorder) due(now time.Time, every time.Duration) bool {
	w := &r.words
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < every {
		return false
	}
	w.last = now
	return true
}

// warnOnce logs a Warn line for the problem key the first time only.
func (r *Recorder) warnOnce(log LogFunc, key, msg string, attrs ...slog.Attr) {
	w := &r.words
	w.mu.Lock()
	if w.warned == nil {
		w.warned = map[string]bool{}
	}
	seen := w.warned[key]
	w.warned[key] = true
	w.mu.Unlock()
	if !seen && log != nil {
		log(slog.LevelWarn, msg, attrs...)
	}
}

// write writes the termination message and the set of files.
func (r *Recorder) write(now time.Time, m Moment, c LastWords) {
	sum := summarize(now, m)
	if path := c.TerminationLog; !strings.EqualFold(path, TerminationOff) {
		if path == "" {
			path = r.TerminationDefault
		}
		if path == "" {
			path = defaultTermination
		}
		if err := writeTermination(path, sum.line(), r.ownFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.warnOnce(c.Log, "termination:"+path, "tune: cannot write the termination message; set GOTUNE_TERMINATION_LOG=off to stop trying",
				slog.String("file", path), slog.String("error", err.Error()))
		}
	}
	base, siblings := r.base()
	if base == "" {
		return
	}
	dir := filepath.Dir(base)
	set := filepath.Join(dir, lastWordsName(filepath.Base(base), now, os.Getpid()))
	removeOldSets(dir, lwPattern{base: filepath.Base(base), siblings: siblings}, keepLastWords-1)

	w := setWriter{set: set, mark: fmt.Sprintf("%s: pid %d at %s", lwMark, os.Getpid(), now.UTC().Format(time.RFC3339Nano))}
	if w.file(lwHeap, maxHeapProfile, false, w.heap) {
		w.file(lwGoroutines, maxGoroutineTxt, true, w.goroutines)
		if r.FlightRunning() {
			w.file(lwTrace, maxTraceBytes, false, r.writeFlight)
		}
		sum.Dir, sum.Files, sum.Notes = dir, w.files, w.notes
		w.file(lwSummary, maxTermination*4, false, func(f io.Writer) error {
			_, err := f.Write(sum.line())
			return err
		})
	}
	if len(w.files) == 0 {
		// Nothing is on disk (a directory that cannot be written, a full
		// disk): one line says so, and nothing says "written".
		f := w.failed[0]
		msg := "tune: memory pressure critical: no last words could be written: " + f.err.Error()
		if f.create {
			msg = "tune: cannot write last words: " + createErr(f.path, f.err, "last words", lastWordsFix).Error()
		}
		r.warnOnce(c.Log, "nothing:"+dir+":"+errorKind(f.err), msg, slog.String("dir", dir), slog.String("error", f.err.Error()))
		return
	}
	for _, f := range w.failed {
		r.warnOnce(c.Log, "write:"+f.kind+":"+errorKind(f.err), "tune: last words: "+f.kind+" not written",
			slog.String("file", f.path), slog.String("error", f.err.Error()))
	}
	if c.Log != nil {
		c.Log(slog.LevelInfo, "tune: memory pressure critical: last words written (read the heap profile with go tool pprof -top)",
			slog.String("dir", dir), slog.Any("files", w.files))
	}
}

// lastWordsFix is what to do when the last words cannot be written.
const lastWordsFix = "they go beside the crash file: set GOTUNE_CRASH_FILE to a writable path, or GOTUNE_LAST_WORDS=off to go without last words"

// setWriter writes the files of one set.
type setWriter struct {
	set    string    // the path the files' names extend
	mark   string    // tune's mark, with the pid and the time
	files  []string  // the names of the files kept
	notes  []string  // what went wrong, for the summary
	failed []failure // what went wrong, for the log
}

// failure is a file of a set that could not be created or written.
type failure struct {
	kind, path string
	err        error
	create     bool // the file could not even be created
}

// file writes the set's file of kind with write, at most max bytes: when
// cut, the text is kept with a note at its end, anything else removed. It
// reports whether the file could be created; failures are recorded.
func (w *setWriter) file(kind string, max int64, cut bool, write func(io.Writer) error) bool {
	path := w.set + "." + kind
	f, err := openNoFollow(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		w.failed = append(w.failed, failure{kind: kind, path: path, err: err, create: true})
		return false
	}
	cw := &capWriter{w: f, max: max}
	err = write(cw)
	switch {
	case cw.cut && cut:
		fmt.Fprintf(f, "\n[cut at %d bytes]\n", max)
		w.notes = append(w.notes, kind+" cut at "+strconv.FormatInt(max, 10)+" bytes")
	case cw.cut:
		err = fmt.Errorf("larger than %d bytes: not kept", max)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && !(cw.cut && cut) {
		os.Remove(path)
		w.notes = append(w.notes, kind+": "+err.Error())
		w.failed = append(w.failed, failure{kind: kind, path: path, err: err})
		return true
	}
	w.files = append(w.files, filepath.Base(path))
	return true
}

// heap writes the heap profile: an empty gzip member whose comment is
// tune's mark, then the runtime's profile (gzipped protocol buffers);
// gzip readers, go tool pprof's included, read the two as one stream.
func (w *setWriter) heap(f io.Writer) error {
	if _, err := f.Write(gzipMark(w.mark)); err != nil {
		return err
	}
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// goroutines writes the goroutine profile as text, after tune's mark.
func (w *setWriter) goroutines(f io.Writer) error {
	bw := bufio.NewWriterSize(f, 32<<10)
	fmt.Fprintf(bw, "%s (goroutine profile, debug=1)\n", w.mark)
	err := pprof.Lookup("goroutine").WriteTo(bw, 1)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// gzipMark returns an empty gzip member (RFC 1952) carrying comment, which
// must be Latin-1 without NUL: a mark that leaves the stream's content as
// it is.
func gzipMark(comment string) []byte {
	b := []byte{0x1f, 0x8b, 8, 0x10, 0, 0, 0, 0, 0, 0xff} // deflate, FCOMMENT, no time, unknown OS
	b = append(b, comment...)
	b = append(b, 0)
	b = append(b, 0x03, 0x00)                // an empty final block of fixed Huffman codes
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // CRC-32 and size of nothing
}

// capWriter passes at most max bytes to w, and then fails.
type capWriter struct {
	w      io.Writer
	n, max int64
	cut    bool
}

var errCut = errors.New("cut")

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - c.n; int64(len(p)) > room {
		n, err := c.w.Write(p[:max(room, 0)])
		c.n += int64(n)
		c.cut = true
		if err == nil {
			err = errCut
		}
		return n, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errorKind names the kind of a file system error, so that one Warn line
// stands for all errors of its kind in a directory.
func errorKind(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ":" + pe.Err.Error()
	}
	return err.Error()
}
