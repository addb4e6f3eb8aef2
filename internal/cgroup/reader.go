package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Limit is one kind of limit as one Read found it: the tightest value over
// the process's group and its ancestors, where it came from, and the value
// of the process's own group alone.
type Limit[T int64 | float64] struct {
	Value T      // the tightest limit (bytes for memory, CPUs for cpu); 0: none
	Src   string // the file that set it (for memory.stat, with ":hierarchical_memory_limit")
	Level int    // 0: the process's own group; n: n levels up; -1: above the mount point (v1 hierarchical)
	Own   T      // the limit of the process's own group alone (for cpu, what the Go runtime sees); 0: none
	Err   error  // reading or parsing failed; Value is then 0
}

// Same reports whether l and m would lead to the same decisions: every
// field equal, errors compared by presence only (a new error value is made
// on each failed read).
func (l Limit[T]) Same(m Limit[T]) bool {
	le, me := l.Err, m.Err
	l.Err, m.Err = nil, nil
	return l == m && (le == nil) == (me == nil)
}

// Limits is what one Read found.
type Limits struct {
	Memory Limit[int64]
	CPU    Limit[float64]

	// Stale is set when a file that was opened could not be read any more
	// (its group was removed), or when the process was moved to other
	// groups (checked on every 10th Read): run Discover again.
	Stale bool
}

// Same reports whether l and m would lead to the same decisions.
func (l Limits) Same(m Limits) bool {
	return l.Memory.Same(m.Memory) && l.CPU.Same(m.CPU)
}

type fileKind uint8

const (
	kMemV1   fileKind = iota // memory.limit_in_bytes
	kMemStat                 // memory.stat, hierarchical_memory_limit
	kMemV2                   // memory.max or memory.high
	kCPUMax                  // cpu.max
	kCPUV1                   // cpu.cfs_quota_us, paired with cpu.cfs_period_us
)

type limitFile struct {
	kind   fileKind
	level  int
	path   string
	src    string // what Limits.*Src says
	f      handle
	period handle // kCPUV1: cpu.cfs_period_us
	pPath  string

	// every > 1 reads the file only on every n-th Read and reuses the
	// last value in between (see Open on memory.stat).
	every          int
	lastV          int64
	lastOK, cached bool
}

// Reader keeps a layout's limit files open and re-reads them. It is not
// safe for concurrent use.
type Reader struct {
	mem, cpu       []limitFile
	memErr, cpuErr error // from Open: the part cannot be read at all
	files          []string
	reads          int // how many times Read ran

	// self is root/proc/self/cgroup, kept open, and selfWas its content at
	// discovery: on every movedEvery-th Read a difference marks the limits
	// Stale, since the files held open are then another group's.
	self     handle
	selfOK   bool
	selfPath string
	selfWas  []byte
	buf      [8192]byte
	pbuf     [64]byte
}

// Open opens the limit files of every directory the layout lists. A file
// that does not exist is no limit at that level (the root of a v2 hierarchy
// has no memory.max); any other failure is reported by Read for its part.
func (l *Layout) Open() *Reader {
	r := &Reader{}
	if l.procCgroup != nil {
		r.selfPath, r.selfWas = filepath.Join(l.Root, "proc/self/cgroup"), l.procCgroup
	}
	r.mem, r.memErr = r.open(l.Memory, true)
	r.cpu, r.cpuErr = r.open(l.CPU, false)
	return r
}

func (r *Reader) open(h Hierarchy, memory bool) ([]limitFile, error) {
	if h.Err != nil {
		return nil, h.Err
	}
	if len(h.Dirs) == 0 {
		return nil, nil
	}
	type spec struct {
		kind fileKind
		name string
	}
	var specs []spec
	switch {
	case memory && h.Version == 1:
		specs = []spec{{kMemV1, "memory.limit_in_bytes"}}
	case memory:
		specs = []spec{{kMemV2, "memory.max"}, {kMemV2, "memory.high"}}
	case h.Version == 1:
		specs = []spec{{kCPUV1, "cpu.cfs_quota_us"}}
	default:
		specs = []spec{{kCPUMax, "cpu.max"}}
	}
	var out []limitFile
	var errs []error
	add := func(lf limitFile) {
		f, err := openHandle(lf.path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			errs = append(errs, err)
			return
		}
		if lf.kind == kCPUV1 {
			lf.pPath = filepath.Join(filepath.Dir(lf.path), "cpu.cfs_period_us")
			p, err := openHandle(lf.pPath)
			if err != nil {
				f.close()
				errs = append(errs, err)
				return
			}
			lf.period = p
			r.files = append(r.files, lf.path, lf.pPath)
		} else {
			r.files = append(r.files, lf.path)
		}
		lf.f = f
		out = append(out, lf)
	}
	// On v1, a mount of the whole hierarchy ends at the real root cgroup,
	// which can hold no limit, and every ancestor of the process is then a
	// directory whose own file is read. Only the real root has a
	// release_agent file: under a cgroup namespace the mount's root is
	// also "/", but the top directory is the namespace's root group, which
	// may hold the container's limit, with more ancestors hidden above it.
	// (v2 needs no such test: its root has no limit files at all.)
	whole := h.Version == 1 && h.MountRoot == "/" && exists(filepath.Join(h.Dirs[len(h.Dirs)-1], "release_agent"))
	dirs := h.Dirs
	if whole && len(dirs) > 1 {
		dirs = dirs[:len(dirs)-1]
	}
	for level, dir := range dirs {
		for _, s := range specs {
			p := filepath.Join(dir, s.name)
			add(limitFile{kind: s.kind, level: level, path: p, src: p})
		}
	}
	if memory && h.Version == 1 {
		// hierarchical_memory_limit brings in ancestors that are not
		// visible as directories. When all of them are (whole), it adds
		// nothing, so the costly memory.stat (most of a v1 tick's time) is
		// not read at first and then only on every 10th Read, as a guard.
		p := filepath.Join(h.Dirs[0], "memory.stat")
		lf := limitFile{kind: kMemStat, level: -1, path: p, src: p + ":hierarchical_memory_limit", every: 1}
		if whole {
			lf.every, lf.cached = 10, true
		}
		add(lf)
	}
	if !slices.ContainsFunc(out, func(lf limitFile) bool { return lf.level == 0 }) {
		// No file in the process's own group: tell a missing group from one without limits
		// (a stat only on this rare path keeps Open cheap).
		if _, err := os.Stat(h.Dirs[0]); err != nil {
			part := "cpu"
			if memory {
				part = "memory"
			}
			return nil, fmt.Errorf("%s (cgroup v%d): the process's group directory: %w", part, h.Version, err)
		}
	}
	return out, errors.Join(errs...)
}

// Files lists the files the reader has open, in the order they are read.
func (r *Reader) Files() []string { return r.files }

// Close closes every file the reader holds.
func (r *Reader) Close() {
	for _, set := range [][]limitFile{r.mem, r.cpu} {
		for _, lf := range set {
			lf.f.close()
			if lf.kind == kCPUV1 {
				lf.period.close()
			}
		}
	}
	if r.selfOK {
		r.self.close()
		r.selfOK = false
	}
	r.mem, r.cpu = nil, nil
}

// WatchMoves makes Read check, on every movedEvery-th call, whether the
// process was moved to other groups (see Limits.Stale). A reader that
// lives only for one Read (Detect, or Init without a refresh loop) need not
// call it.
func (r *Reader) WatchMoves() {
	if r.selfOK || r.selfPath == "" {
		return
	}
	if h, err := openHandle(r.selfPath); err == nil {
		r.self, r.selfOK = h, true
	}
}

// movedEvery is how often Read checks /proc/self/cgroup for a move.
const movedEvery = 10

// moved reports whether /proc/self/cgroup no longer says what it said at
// discovery. It does not allocate.
func (r *Reader) moved() bool {
	if !r.selfOK || r.reads%movedEvery != movedEvery-1 {
		return false
	}
	n, err := r.self.readAt0(r.buf[:])
	return err != nil || !bytes.Equal(r.buf[:n], r.selfWas)
}

// Read re-reads every open file and returns the tightest limits. It does
// not allocate unless something fails.
func (r *Reader) Read() Limits {
	var l Limits
	defer func() { r.reads++ }()
	l.Stale = r.moved()
	var stale bool
	l.Memory, stale = readPart(r, r.mem, r.memErr, "a limit of 0 is not applied", (*Reader).readMem)
	l.Stale = l.Stale || stale
	l.CPU, stale = readPart(r, r.cpu, r.cpuErr, "a quota of 0 is not applied", (*Reader).readCPU)
	l.Stale = l.Stale || stale
	return l
}

// readPart reads one kind of limit from its files, nearest group first,
// and keeps the tightest. stale reports a file that could not be read any
// more.
func readPart[T int64 | float64](r *Reader, files []limitFile, openErr error, zero string,
	read func(*Reader, *limitFile) (T, bool, error)) (p Limit[T], stale bool) {
	if openErr != nil {
		return Limit[T]{Err: openErr}, false
	}
	for i := range files {
		lf := &files[i]
		v, ok, err := read(r, lf)
		if err != nil {
			return Limit[T]{Err: err}, isIOErr(err)
		}
		if !ok {
			continue
		}
		if v == 0 {
			return Limit[T]{Err: fmt.Errorf("%s: %s", lf.src, zero)}, false
		}
		if lf.level == 0 {
			p.Own = v
		}
		// Strictly less: on a tie the nearest group (read first) is named.
		if p.Value == 0 || v < p.Value {
			p.Value, p.Src, p.Level = v, lf.src, lf.level
		}
	}
	return p, false
}

// ioError marks a failure to read a file that was open, as opposed to a
// file whose content does not parse.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// IsIOError reports whether err is a failure to read a file that was open
// (its group was removed, say), as opposed to content that does not parse.
func IsIOError(err error) bool { return isIOErr(err) }

func isIOErr(err error) bool {
	var e *ioError
	return errors.As(err, &e)
}

func readAt(f handle, buf []byte, path string) ([]byte, error) {
	n, err := f.readAt0(buf)
	if err != nil {
		return nil, &ioError{fmt.Errorf("reading %s: %w", path, err)}
	}
	return buf[:n], nil
}

func (r *Reader) readMem(lf *limitFile) (int64, bool, error) {
	if lf.every > 1 && lf.cached && r.reads%lf.every != 0 {
		return lf.lastV, lf.lastOK, nil
	}
	v, ok, err := r.readMemFile(lf)
	lf.lastV, lf.lastOK, lf.cached = v, ok, err == nil
	return v, ok, err
}

func (r *Reader) readMemFile(lf *limitFile) (int64, bool, error) {
	b, err := readAt(lf.f, r.buf[:], lf.path)
	if err != nil {
		return 0, false, err
	}
	if lf.kind == kMemStat {
		v, ok, found, err := ParseMemoryStat(b, "hierarchical_memory_limit")
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", lf.src, err)
		}
		if !found {
			return 0, false, nil
		}
		return v, ok, nil
	}
	v, ok, err := ParseMemoryValue(b)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", lf.path, err)
	}
	return v, ok, nil
}

func (r *Reader) readCPU(lf *limitFile) (float64, bool, error) {
	b, err := readAt(lf.f, r.buf[:], lf.path)
	if err != nil {
		return 0, false, err
	}
	if lf.kind == kCPUMax {
		v, ok, err := ParseCPUMax(b)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %q: %w", lf.path, clip(strings.TrimSpace(string(b))), err)
		}
		return v, ok, nil
	}
	if string(bytes.TrimSpace(b)) == "-1" {
		return 0, false, nil // no quota: the period does not matter
	}
	p, err := readAt(lf.period, r.pbuf[:], lf.pPath)
	if err != nil {
		return 0, false, err
	}
	v, ok, err := ParseCPUV1(b, p)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", filepath.Dir(lf.path), err)
	}
	return v, ok, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
