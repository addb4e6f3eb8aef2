package tune

// Leak tracking: objects that became unreachable without being closed,
// found through runtime.AddCleanup, counted per kind for the metrics and
// logged from the 1st, 10th, 100th... leak of each place.

import (
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Track watches obj, to find a missing Close: it returns the function to
// call when obj is closed, and if obj becomes unreachable before that, the
// count of leaked objects of this kind (the metric
// gotune_leaked_objects_total{kind}) goes up and a Warn line says so (for
// the 1st, 10th, 100th... leak from each place). The line's attributes:
// kind; tracked_at, the file:line that called Track (inside the
// constructor, typically); created_by, the file:line that asked the
// constructor for the object: the first caller outside the constructor's
// package, or the constructor's direct caller when that first caller is in
// the standard library, when the constructor is in package main, or when
// the few frames Track records are all in its package; leaked_here, the
// count of leaks from that Track call.
//
// Call done from obj's Close method, whose receiver keeps obj reachable
// until then. kind should come from a small fixed set, such as "db.Conn":
// it is a metric label. It is made safe for one once, at its first Track:
// bytes that are not UTF-8 become U+FFFD, it is cut to 128 bytes, and ""
// becomes "unnamed". Track costs four small allocations and well under a
// microsecond, a quarter of it for recording four callers (see
// BenchmarkTrack); it releases nothing (see runtime.AddCleanup).
//
// The Warn line is written without the runtime's cleanup goroutine waiting
// for the logger, so a slow or panicking handler stalls no other cleanup.
func Track[T any](obj *T, kind string) (done func()) {
	if obj == nil {
		return func() {}
	}
	t := &tracked{kind: leakCounter(kind)}
	runtime.Callers(2, t.pc[:])
	t.cleanup = runtime.AddCleanup(obj, leaked, t)
	return t.close
}

// trackFrames is how many callers Track records: the Track call and, a
// few frames up, the constructor's caller. Each frame costs about 13% of
// Track (in instructions), so four make Track 1.35 times as costly as one
// did; a whole stack would cost several times Track's price. A fixed
// array keeps it inside the one allocation.
const trackFrames = 4

// tracked is what a leak report needs; it must not point to the object.
type tracked struct {
	kind    *kindCount
	pc      [trackFrames]uintptr // pc[0] called Track
	done    atomic.Bool
	cleanup runtime.Cleanup
}

func (t *tracked) close() {
	if t.done.CompareAndSwap(false, true) {
		t.cleanup.Stop()
	}
}

type kindCount struct {
	name string
	n    atomic.Uint64
}

var (
	// kinds maps each kind given to Track, as given, to its counter; two
	// kinds that are made the same by kindLabel share one.
	kinds struct {
		sync.RWMutex
		m map[string]*kindCount
	}
	sites sync.Map // site{} → *atomic.Uint64
)

type site struct {
	kind string
	pc   uintptr
}

const maxKind = 128

// kindLabel makes kind safe as a metric label and in a log line: valid
// UTF-8 (other bytes become U+FFFD), at most maxKind bytes (cut at a
// character's start), and not empty.
func kindLabel(kind string) string {
	k := strings.ToValidUTF8(kind, "\uFFFD")
	if len(k) > maxKind {
		i := maxKind
		for i > 0 && !utf8.RuneStart(k[i]) {
			i--
		}
		k = k[:i]
	}
	if k == "" {
		return "unnamed"
	}
	return k
}

func leakCounter(kind string) *kindCount {
	kinds.RLock()
	k := kinds.m[kind]
	kinds.RUnlock()
	if k != nil {
		return k
	}
	name := kindLabel(kind)
	kinds.Lock()
	defer kinds.Unlock()
	if k = kinds.m[kind]; k != nil {
		return k
	}
	if kinds.m == nil {
		kinds.m = make(map[string]*kindCount)
	}
	if k = kinds.m[name]; k == nil {
		k = &kindCount{name: name}
		kinds.m[name] = k
	}
	kinds.m[kind] = k
	return k
}

// leaked runs, as a runtime cleanup, when a tracked object was collected.
// It must not wait for anything: every cleanup in the process runs on the
// same goroutine.
func leaked(t *tracked) {
	if t.done.Load() {
		return
	}
	t.kind.n.Add(1)
	v, _ := sites.LoadOrStore(site{t.kind.name, t.pc[0]}, new(atomic.Uint64))
	n := v.(*atomic.Uint64).Add(1)
	if !isPowerOf10(n) {
		return
	}
	tracked, created := leakSites(t.pc[:])
	attrs := []slog.Attr{slog.String("kind", t.kind.name), slog.String("tracked_at", tracked)}
	if created != "" {
		attrs = append(attrs, slog.String("created_by", created))
	}
	attrs = append(attrs, slog.Uint64("leaked_here", n))
	// On the runtime's cleanup goroutine: queued, never written here.
	logLater(currentLogger(), slog.LevelWarn, "tune: object collected without being closed", attrs...)
}

// leakSites turns the callers Track recorded into the report's places, as
// file:line: tracked, where Track was called (in the constructor); created,
// the constructor's caller (see createdBy).
func leakSites(pc []uintptr) (tracked, created string) {
	for len(pc) > 0 && pc[len(pc)-1] == 0 {
		pc = pc[:len(pc)-1] // a stack shallower than trackFrames
	}
	if len(pc) == 0 {
		return "unknown place", ""
	}
	var frames [2 * trackFrames]runtime.Frame // inlined calls add frames
	n := 0
	it := runtime.CallersFrames(pc)
	for more := true; more && n < len(frames); {
		frames[n], more = it.Next()
		if frames[n].Function == "runtime.goexit" {
			break
		}
		n++
	}
	place := func(f runtime.Frame) string { return f.File + ":" + strconv.Itoa(f.Line) }
	tracked = place(frames[0])
	if i := createdBy(frames[:n]); i > 0 {
		created = place(frames[i])
	}
	return tracked, created
}

// createdBy picks, among frames (frames[0] called Track), the one that
// asked for the object: the first frame in another package than
// frames[0]'s, which skips the constructor's own helpers. Where that
// cannot be the program's own code, it is frames[1], the constructor's
// direct caller: when frames[0] is in package main (nothing outside main
// calls into it but the runtime and frameworks), when the first frame
// outside is in the standard library (net/http calling a handler,
// testing calling a test), or when every recorded frame is in the
// package. It returns 0 when there is no caller.
func createdBy(frames []runtime.Frame) int {
	if len(frames) < 2 {
		return 0
	}
	pkg := funcPackage(frames[0].Function)
	if pkg == "main" {
		return 1
	}
	for i := 1; i < len(frames); i++ {
		if p := funcPackage(frames[i].Function); p != pkg {
			if isStdPackage(p) {
				return 1
			}
			return i
		}
	}
	return 1
}

// funcPackage returns the package path of a function name as the runtime
// gives it: "example.com/db.(*Pool).get" → "example.com/db".
func funcPackage(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i] // type arguments may hold slashes and dots
	}
	slash := strings.LastIndexByte(fn, '/') + 1
	if dot := strings.IndexByte(fn[slash:], '.'); dot >= 0 {
		return fn[:slash+dot]
	}
	return fn
}

// isStdPackage reports whether pkg is in the standard library: its first
// path element has no dot.
func isStdPackage(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return pkg != "" && pkg != "main" && !strings.Contains(first, ".")
}

func isPowerOf10(n uint64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// leakCounts calls yield with each tracked kind and how many of its objects
// leaked, for the metrics, in order of kind. A kind appears, at 0, from its
// first Track on.
func leakCounts(yield func(kind string, n uint64)) {
	kinds.RLock()
	ks := make([]*kindCount, 0, len(kinds.m))
	for key, k := range kinds.m {
		if key == k.name { // the counter's own entry; others are aliases
			ks = append(ks, k)
		}
	}
	kinds.RUnlock()
	sort.Slice(ks, func(i, j int) bool { return ks[i].name < ks[j].name })
	for _, k := range ks {
		yield(k.name, k.n.Load())
	}
}
