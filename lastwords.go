package tune

// Last words: the evidence tune leaves when the memory pressure rises to
// Critical, before the OOM killer may strike (its SIGKILL leaves no
// chance to write anything later).
//
// When the level rises to Critical, at most once per
// Options.LastWordsInterval (1 minute), the refresh loop writes, on its own
// goroutine (never the allocating one):
//
//   - to the termination message file (/dev/termination-log, when it
//     exists as a regular file: never created), the summary line below,
//     overwriting what was there;
//   - beside the crash file P, a set of files named
//     P.lastwords-<UTC time>-<pid>.<kind>:
//     heap.pb.gz, the heap profile (pprof format: go tool pprof -top);
//     goroutines.txt, the goroutine profile as text (debug=1: goroutines
//     with the same stack counted once), cut at 1 MiB;
//     trace, the flight recorder's last seconds, with
//     Options.FlightRecorder;
//     json, a one-line JSON summary: time, pressure signal, GC CPU, Go
//     memory in use, the live heap, GOMEMLIMIT, the cgroup limit, and the
//     group's usage, PSI and OOM kills when the kernel shows them, and the
//     files written.
//
// The files follow the crash file's rules: created 0600 with
// O_EXCL|O_NOFOLLOW, never a directory. Before a set is written the older
// ones beyond the newest 2 are removed (so 3 sets at most), and only files
// tune wrote are: a regular file with one link, owned by the process's
// user, named as above and starting with tune's mark (the summary's
// "tune_last_words" key, the goroutines' header line, the heap profile's
// gzip comment "tune last words", the trace's "go 1.xx trace" header). At
// the default crash file path the sets of other executables of the same
// name (go run, go test) count too. The bound on disk is 3 sets of at most
// 16 MiB of heap profile (a larger one is not kept), 1 MiB of goroutines,
// 32 MiB of trace and a few KiB of summary: about 150 MiB with the flight
// recorder, 51 MiB without. A heap profile grows with the number of
// allocation sites, not with the heap: typically tens to hundreds of KiB.
//
// A directory that cannot be written (read-only, missing, full) costs one
// Warn line per directory and problem, and nothing else.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// lastWordsInput is what the loop knows at the moment the level rose to
// Critical.
type lastWordsInput struct {
	Event  PressureEvent
	Report *Report       // the published report (limits, GOMEMLIMIT, GOMAXPROCS)
	Stats  *cgroup.Stats // the kernel's view of the group; nil when not read
}

const (
	keepLastWords   = 3        // sets kept on disk
	maxHeapProfile  = 16 << 20 // a larger heap profile is not kept
	maxGoroutineTxt = 1 << 20  // the goroutines are cut there
	maxTraceBytes   = 32 << 20 // a larger trace is not kept
	maxTermination  = 4096     // what the kubelet reads of a termination message
	lwInfix         = ".lastwords-"
	lwTimeFormat    = "20060102T150405.000Z"
	lwMark          = "tune last words"
)

// The kinds of file of a set, named by the suffix after the set's name, in
// the order they are written.
const (
	lwHeap       = "heap.pb.gz"
	lwGoroutines = "goroutines.txt"
	lwTrace      = "trace"
	lwSummary    = "json"
)

var lwKinds = [...]string{lwHeap, lwGoroutines, lwTrace, lwSummary}

// terminationLogPath is the termination message file when
// Options.TerminationLog is "": the kubelet's default
// terminationMessagePath. Tests point it elsewhere.
var terminationLogPath = "/dev/termination-log"

// lastWordsState is what the last words remember across Inits, with its
// own lock (never held while a logger runs).
var lastWordsState struct {
	mu     sync.Mutex
	last   time.Time       // when the latest set was begun
	warned map[string]bool // problems already logged, once each
}

// lastWords is called by the refresh loop, on its goroutine, each time the
// pressure level rises to Critical. It marks the crash file's header (the
// next start then knows this run was at Critical) and, when due, writes
// the last words.
func (o *owner) lastWords(in lastWordsInput) {
	now := time.Now()
	base, _ := lastWordsBase()
	due := o.c.lastWords >= 0 && lastWordsDue(now, o.c.lastWords)
	if base == "" && !due {
		return
	}
	// The loop's own reading of the kernel's view, taken this tick; a
	// discovery of its own only where the loop has none.
	var oom []groupCount
	if in.Stats != nil && o.sr != nil {
		oom = oomCounts(o.sr, in.Stats)
	} else {
		in.Stats, oom = readKernel()
	}
	markPressure(true, oom)
	if !due {
		return
	}
	writeLastWords(now, in, o.c)
}

// leftCritical is called by the refresh loop when the level falls from
// Critical: a run that ends from here on did not end at Critical.
func (o *owner) leftCritical() { markPressure(false, nil) }

// lastWordsDue reports whether a set may be written at now, and if so
// counts it as written.
func lastWordsDue(now time.Time, every time.Duration) bool {
	lastWordsState.mu.Lock()
	defer lastWordsState.mu.Unlock()
	if !lastWordsState.last.IsZero() && now.Sub(lastWordsState.last) < every {
		return false
	}
	lastWordsState.last = now
	return true
}

// warnOnce logs a Warn line for the problem key the first time only.
func warnOnce(logger *slog.Logger, key, msg string, attrs ...slog.Attr) {
	lastWordsState.mu.Lock()
	if lastWordsState.warned == nil {
		lastWordsState.warned = map[string]bool{}
	}
	seen := lastWordsState.warned[key]
	lastWordsState.warned[key] = true
	lastWordsState.mu.Unlock()
	if !seen {
		logLater(logger, slog.LevelWarn, msg, attrs...)
	}
}

// writeLastWords writes the termination message and the set of files.
func writeLastWords(now time.Time, in lastWordsInput, c config) {
	sum := summarize(now, in)
	if path := c.termLog; !strings.EqualFold(path, TerminationLogOff) {
		if path == "" {
			path = terminationLogPath
		}
		if err := writeTermination(path, sum.line()); err != nil && !errors.Is(err, os.ErrNotExist) {
			warnOnce(c.logger, "termination:"+path, "tune: cannot write the termination message; set GOTUNE_TERMINATION_LOG=off to stop trying",
				slog.String("file", path), slog.String("error", err.Error()))
		}
	}
	base, siblings := lastWordsBase()
	if base == "" {
		return
	}
	dir := filepath.Dir(base)
	set := filepath.Join(dir, lastWordsName(filepath.Base(base), now, os.Getpid()))
	removeOldSets(dir, lwPattern{base: filepath.Base(base), siblings: siblings}, keepLastWords-1)

	w := setWriter{set: set, logger: c.logger, mark: fmt.Sprintf("%s: pid %d at %s", lwMark, os.Getpid(), now.UTC().Format(time.RFC3339Nano))}
	if !w.file(lwHeap, maxHeapProfile, false, w.heap) {
		return // the directory cannot be written: one Warn line said so
	}
	w.file(lwGoroutines, maxGoroutineTxt, true, w.goroutines)
	if flightRunning() {
		w.file(lwTrace, maxTraceBytes, false, writeFlight)
	}
	sum.Dir, sum.Files, sum.Notes = dir, w.files, w.notes
	w.file(lwSummary, maxTermination*4, false, func(f io.Writer) error {
		_, err := f.Write(sum.line())
		return err
	})
	logLater(c.logger, slog.LevelInfo, "tune: memory pressure critical: last words written (read the heap profile with go tool pprof -top)",
		slog.String("dir", dir), slog.Any("files", w.files))
}

// lastWordsFix is what to do when the last words cannot be written.
const lastWordsFix = "they go beside the crash file: set GOTUNE_CRASH_FILE to a writable path, or GOTUNE_LAST_WORDS=off to go without last words"

// setWriter writes the files of one set.
type setWriter struct {
	set    string // the path the files' names extend
	mark   string // tune's mark, with the pid and the time
	logger *slog.Logger
	files  []string // the names of the files kept
	notes  []string // what went wrong, for the summary
}

// file writes the set's file of kind with write, at most max bytes: when
// cut, the text is kept with a note at its end, anything else removed. It
// reports whether the file could be created; failures are logged once.
func (w *setWriter) file(kind string, max int64, cut bool, write func(io.Writer) error) bool {
	path := w.set + "." + kind
	f, err := openNoFollow(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		dir := filepath.Dir(path)
		warnOnce(w.logger, "create:"+dir+":"+errorKind(err),
			"tune: cannot write last words: "+createErr(path, err, "last words", lastWordsFix).Error(),
			slog.String("dir", dir), slog.String("error", err.Error()))
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
		warnOnce(w.logger, "write:"+kind+":"+errorKind(err), "tune: last words: "+kind+" not written", slog.String("file", path), slog.String("error", err.Error()))
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

// lastWordsSummary is the one-line summary of a set. Its first key marks
// it as tune's.
type lastWordsSummary struct {
	Mark       int       `json:"tune_last_words"` // the format's version: 1
	Time       time.Time `json:"time"`
	PID        int       `json:"pid"`
	Pressure   string    `json:"pressure"`
	Signal     string    `json:"signal"`
	GCCPU      float64   `json:"gc_cpu_fraction"`
	InUse      uint64    `json:"go_memory_in_use_bytes"`
	HeapLive   uint64    `json:"heap_live_bytes"`
	Goroutines int       `json:"goroutines"`
	GOMEMLIMIT int64     `json:"gomemlimit_bytes,omitempty"`   // absent: none
	Limit      int64     `json:"memory_limit_bytes,omitempty"` // the cgroup's; absent: none
	Usage      *uint64   `json:"group_memory_usage_bytes,omitempty"`
	PSISome    *float64  `json:"psi_memory_some_avg10,omitempty"`
	PSIFull    *float64  `json:"psi_memory_full_avg10,omitempty"`
	OOMKills   *uint64   `json:"group_oom_kills,omitempty"`
	Dir        string    `json:"dir,omitempty"`
	Files      []string  `json:"files,omitempty"`
	Notes      []string  `json:"notes,omitempty"`
}

// summarize builds the summary from what the loop measured, the runtime
// and, when the loop read it, the kernel's view of the group.
func summarize(now time.Time, in lastWordsInput) lastWordsSummary {
	ev := in.Event
	s := lastWordsSummary{Mark: 1, Time: now.UTC(), PID: os.Getpid(), Pressure: ev.Level.String(),
		Signal: string(ev.Signal), GCCPU: math.Round(ev.GCCPUFraction*1e4) / 1e4, InUse: ev.MemoryInUse,
		Goroutines: runtime.NumGoroutine()}
	if ev.GOMEMLIMIT > 0 && ev.GOMEMLIMIT != math.MaxInt64 {
		s.GOMEMLIMIT = ev.GOMEMLIMIT
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = sample[0].Value.Uint64()
	}
	if in.Report != nil && in.Report.Memory.Limit > 0 {
		s.Limit = in.Report.Memory.Limit
	}
	if st := in.Stats; st != nil {
		if st.Usage.OK {
			s.Usage = &st.Usage.Value
		}
		if st.Memory.OK {
			some, full := st.Memory.Some.Avg10, st.Memory.Full.Avg10
			s.PSISome, s.PSIFull = &some, &full
		}
		if g, ok := st.EventsAt(0); ok {
			s.OOMKills = &g.OOMKill
		}
	}
	return s
}

// line is the summary as one line of JSON, newline included.
func (s lastWordsSummary) line() []byte {
	b, err := json.Marshal(s)
	if err != nil { // not reached: every field marshals
		b = []byte(`{"tune_last_words":1}`)
	}
	return append(b, '\n')
}

// writeTermination overwrites the termination message file at path with
// line (cut at what the kubelet reads). It never creates the file, and
// writes only a regular one: an error wrapping os.ErrNotExist says there
// is none.
func writeTermination(path string, line []byte) error {
	f, _, err := openChecked(path, os.O_WRONLY, func(p string, fi os.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s): left as it is", p, fileType(fi.Mode()))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(line) > maxTermination {
		line = line[:maxTermination]
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(line, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lastWordsName is the name of the set written at t by pid, beside the
// crash file named base.
func lastWordsName(base string, t time.Time, pid int) string {
	return base + lwInfix + t.UTC().Format(lwTimeFormat) + "-" + strconv.Itoa(pid)
}

// lwFile is a file name of a set, as parseName read it.
type lwFile struct {
	set  string // the set's name (the file's name without .kind)
	time string // its time, as written (sortable)
	pid  int
	kind string
}

// lwPattern says which file names are of the sets that share a bound:
// those beside the crash file named base, and with siblings those beside
// the default crash files of other executables of the same name.
type lwPattern struct {
	base     string
	siblings bool
}

// parse reads name as a file of a set of p's.
func (p lwPattern) parse(name string) (lwFile, bool) {
	head, tail, ok := strings.Cut(name, lwInfix)
	if !ok || !(head == p.base || p.siblings && isDefaultName(head, siblingPrefix(p.base))) {
		return lwFile{}, false
	}
	ts, rest, ok := strings.Cut(tail, "-")
	if !ok || len(ts) != len(lwTimeFormat) {
		return lwFile{}, false
	}
	if _, err := time.Parse(lwTimeFormat, ts); err != nil {
		return lwFile{}, false
	}
	pidText, kind, ok := strings.Cut(rest, ".")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 || strconv.Itoa(pid) != pidText || !slices.Contains(lwKinds[:], kind) {
		return lwFile{}, false
	}
	return lwFile{set: strings.TrimSuffix(name, "."+kind), time: ts, pid: pid, kind: kind}, true
}

// sets lists the sets of p's in dir, oldest first, each with its files.
func (p lwPattern) sets(dir string) [][]lwFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	bySet := map[string][]lwFile{}
	for _, e := range entries {
		if f, ok := p.parse(e.Name()); ok {
			bySet[f.set] = append(bySet[f.set], f)
		}
	}
	var out [][]lwFile
	for _, fs := range bySet {
		out = append(out, fs)
	}
	slices.SortFunc(out, func(a, b []lwFile) int {
		if c := strings.Compare(a[0].time, b[0].time); c != 0 {
			return c
		}
		return strings.Compare(a[0].set, b[0].set)
	})
	return out
}

// removeOldSets removes the files of p's sets in dir but the newest keep,
// each only if tune wrote it.
func removeOldSets(dir string, p lwPattern, keep int) {
	sets := p.sets(dir)
	for _, set := range sets[:max(len(sets)-keep, 0)] {
		for _, f := range set {
			path := filepath.Join(dir, f.set+"."+f.kind)
			if isLastWordsFile(path, f.kind) {
				os.Remove(path)
			}
		}
	}
}

// lastWordsOf returns the paths of the newest set of last words that the
// run pid, started at start, wrote beside the crash file named base in
// dir: files tune wrote, of a set begun after start.
func lastWordsOf(dir, base string, pid int, start time.Time) []string {
	if pid <= 0 || start.IsZero() {
		return nil
	}
	from := start.UTC().Truncate(time.Millisecond).Format(lwTimeFormat)
	sets := lwPattern{base: base}.sets(dir)
	for i := len(sets) - 1; i >= 0; i-- {
		set := sets[i]
		if set[0].pid != pid || set[0].time < from {
			continue
		}
		var paths []string
		for _, kind := range lwKinds {
			for _, f := range set {
				if p := filepath.Join(dir, f.set+"."+f.kind); f.kind == kind && isLastWordsFile(p, kind) {
					paths = append(paths, p)
				}
			}
		}
		if len(paths) > 0 {
			return paths
		}
	}
	return nil
}

// isLastWordsFile reports whether path is a file of kind that tune wrote:
// a regular file with one link, the process user's, with tune's mark.
func isLastWordsFile(path, kind string) bool {
	f, _, err := openChecked(path, os.O_RDONLY, checkExisting)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [64]byte
	n, _ := f.ReadAt(buf[:], 0)
	return hasMark(kind, buf[:n])
}

// hasMark reports whether b, the start of a file of kind, carries tune's
// mark.
func hasMark(kind string, b []byte) bool {
	s := string(b)
	switch kind {
	case lwSummary:
		return strings.HasPrefix(s, `{"tune_last_words":`)
	case lwGoroutines:
		return strings.HasPrefix(s, lwMark+":")
	case lwHeap:
		// gzipMark's member: deflate, only FCOMMENT set, the comment first.
		return len(s) > 10 && s[:3] == "\x1f\x8b\x08" && s[3] == 0x10 && strings.HasPrefix(s[10:], lwMark+":")
	case lwTrace:
		// The runtime's execution trace: "go 1.23 trace\x00\x00\x00".
		v, rest, ok := strings.Cut(s, " trace\x00")
		return ok && strings.HasPrefix(v, "go 1.") && len(v) <= 8 && rest != ""
	}
	return false
}
