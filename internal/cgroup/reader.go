package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"slices"
)

// Limit is one kind of limit as one Read found it: the tightest value over
// the process's group and its ancestors, where it came from, and the value
// of the process's own group alone.
type Limit[T int64 | float64] struct {
	Value T      // the tightest limit (bytes for memory, CPUs for cpu); 0: none
	Src   string // the file that set it (for memory.stat, with ":hierarchical_memory_limit")
	Mount string // the mount point Src was read through, as mountinfo lists it
	Level int    // 0: the process's own group; n: n levels up; -1: above every visible group (v1 hierarchical)
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
	src    string // what Limit.Src says
	mount  string // what Limit.Mount says
	f      handle
	period handle // kCPUV1: cpu.cfs_period_us
	pPath  string

	// every > 1 (memory.stat when every ancestor is visible) reads the
	// file only on every n-th Read, or when a visible memory limit
	// changed, and reuses the last value in between.
	every int
	// The value of the last Read that read the file without error, if
	// seen: for memory files, a change of it makes memory.stat be read.
	lastV        int64
	lastOK, seen bool
}

// Reader keeps a layout's limit files open and re-reads them. It is not
// safe for concurrent use.
type Reader struct {
	mem, cpu       []limitFile
	memErr, cpuErr error // from Open: the part cannot be read at all
	files          []string
	reads          int    // how many times Read ran
	memChanged     bool   // in this Read, a visible memory limit differs from the last Read's
	memLevels      uint64 // bit n: the group n levels up has a memory limit (the last Read)

	// self is root/proc/self/cgroup, kept open, and selfWas its content at
	// discovery: on every movedEvery-th Read a difference marks the limits
	// Stale, since the files held open are then another group's.
	root     string
	self     handle
	selfOK   bool
	selfPath string
	selfWas  []byte
	// buf holds what one read of a limit file returns. A read that fills
	// it is an error, never a value cut at its end: the largest file read,
	// a v1 memory.stat, is about 1.5 KiB.
	buf  [16 << 10]byte
	pbuf [64]byte
}

// Open opens the limit files of every directory the layout lists. A file
// that does not exist is no limit at that level (the root of a v2 hierarchy
// has no memory.max); a file that cannot be opened through one mount is
// opened through the next that shows the same group (Hierarchy.Ways); any
// other failure is reported by Read for its part.
func (l *Layout) Open() *Reader {
	r := &Reader{root: l.Root}
	if l.procCgroup != nil {
		r.selfPath, r.selfWas = filepath.Join(l.Root, "proc/self/cgroup"), l.procCgroup
	}
	fs, err := openFS(l.Root)
	if err != nil {
		err = fmt.Errorf("opening the root: %w", err)
		r.memErr, r.cpuErr = err, err
		return r
	}
	defer fs.close()
	r.mem, r.memErr = r.open(fs, l.Memory, true)
	r.cpu, r.cpuErr = r.open(fs, l.CPU, false)
	return r
}

func (r *Reader) open(fs *fsys, h Hierarchy, memory bool) ([]limitFile, error) {
	if h.Err != nil {
		return nil, h.Err
	}
	if len(h.Ways) == 0 {
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
	add := func(lf limitFile, ways []Dir, name string) {
		names := []string{name}
		if lf.kind == kCPUV1 {
			names = append(names, "cpu.cfs_period_us")
		}
		hs, way, paths, err := openWays(fs, ways, names)
		if errors.Is(err, errAbsent) {
			return
		}
		if err != nil {
			errs = append(errs, err)
			return
		}
		lf.f, lf.path, lf.mount = hs[0], paths[0], way.Mount
		if lf.src == "" {
			lf.src = lf.path
		}
		if lf.kind == kCPUV1 {
			lf.period, lf.pPath = hs[1], paths[1]
		}
		r.files = append(r.files, paths...)
		out = append(out, lf)
	}
	// On v1, when the mounts show the hierarchy up to its real root
	// group, which can hold no limit, every ancestor of the process is a
	// directory whose own file is read. Only the real root has a
	// release_agent file: under a cgroup namespace the mount's root is
	// also "/", but the top directory is the namespace's root group, which
	// may hold the container's limit, with more ancestors hidden above it.
	// (v2 needs no such test: its root has no limit files at all.)
	top := len(h.Ways) - 1
	whole := h.Version == 1 && slices.ContainsFunc(h.Ways[top], func(d Dir) bool {
		return fs.exists(filepath.Join(d.Path, "release_agent"))
	})
	levels := h.Ways
	if whole && len(levels) > 1 {
		levels = levels[:top]
	}
	for level, ways := range levels {
		for _, s := range specs {
			add(limitFile{kind: s.kind, level: level}, ways, s.name)
		}
	}
	if memory && h.Version == 1 {
		// hierarchical_memory_limit brings in ancestors that are not
		// visible as directories. When all of them are (whole), it adds
		// nothing, so the costly memory.stat (most of a v1 tick's time) is
		// not read at first, and then only on every 10th Read, as a guard,
		// or when a visible limit changed: the kernel's value, read before
		// the change, still holds the old limit.
		lf := limitFile{kind: kMemStat, level: -1, every: 1}
		if whole {
			lf.every = 10
		}
		n := len(out)
		add(lf, h.Ways[0], "memory.stat")
		if len(out) > n {
			out[n].src = out[n].path + ":hierarchical_memory_limit"
		}
	}
	if len(errs) == 0 && !slices.ContainsFunc(out, func(lf limitFile) bool { return lf.level == 0 }) {
		// No file in the process's own group: tell a missing group from one
		// without limits (a stat only on this rare path keeps Open cheap).
		var err error
		for _, d := range h.Ways[0] {
			e := fs.stat(d.Path)
			if e == nil {
				err = nil
				break
			}
			if err == nil {
				err = e
			}
		}
		if err != nil {
			part := "cpu"
			if memory {
				part = "memory"
			}
			return nil, fmt.Errorf("%s (cgroup v%d): the process's group directory: %w", part, h.Version, err)
		}
	}
	return out, errors.Join(errs...)
}

// errAbsent is openWays' answer when the file exists through no way.
var errAbsent = errors.New("no such file")

// openWays opens the files names in one group directory, through the first
// way that can open them all. A missing first file is no file (errAbsent)
// if it is missing through every way; a missing companion file (the v1
// period beside its quota) is an error. Any other failure (permission
// denied, a file that is not a regular file) moves on to the next way and
// is returned if no way works.
func openWays(fs *fsys, ways []Dir, names []string) ([]handle, Dir, []string, error) {
	var firstErr error
	for _, w := range ways {
		hs := make([]handle, 0, len(names))
		paths := make([]string, 0, len(names))
		var err error
		for _, name := range names {
			p := filepath.Join(w.Path, name)
			var h handle
			if h, err = fs.open(p); err != nil {
				break
			}
			hs, paths = append(hs, h), append(paths, p)
		}
		if err == nil {
			return hs, w, paths, nil
		}
		for _, h := range hs {
			h.close()
		}
		if len(hs) == 0 && errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		return nil, Dir{}, nil, errAbsent
	}
	return nil, Dir{}, nil, firstErr
}

// MemoryLimited reports, as of the last Read, whether the group level
// levels up has a memory limit of its own (0: the process's group).
func (r *Reader) MemoryLimited(level int) bool {
	return level >= 0 && level < 64 && r.memLevels&(1<<level) != 0
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
	if r.selfOK || r.selfPath == "" || len(r.selfWas) >= len(r.buf) {
		return
	}
	fs, err := openFS(r.root)
	if err != nil {
		return
	}
	defer fs.close()
	if h, err := fs.open(r.selfPath); err == nil {
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
	r.memChanged = false
	l.Stale = r.moved()
	var stale bool
	l.Memory, r.memLevels, stale = readPart(r, r.mem, r.memErr, "a limit of 0 is not applied", (*Reader).readMem)
	l.Stale = l.Stale || stale
	l.CPU, _, stale = readPart(r, r.cpu, r.cpuErr, "a quota of 0 is not applied", (*Reader).readCPU)
	l.Stale = l.Stale || stale
	return l
}

// readPart reads one kind of limit from its files, nearest group first,
// and keeps the tightest. levels has bit n set when the group n levels up
// has a limit of its own; stale reports a file that could not be read any
// more.
func readPart[T int64 | float64](r *Reader, files []limitFile, openErr error, zero string,
	read func(*Reader, *limitFile) (T, bool, error)) (p Limit[T], levels uint64, stale bool) {
	if openErr != nil {
		return Limit[T]{Err: openErr}, 0, false
	}
	for i := range files {
		lf := &files[i]
		v, ok, err := read(r, lf)
		if err != nil {
			return Limit[T]{Err: err}, 0, isIOErr(err)
		}
		if !ok {
			continue
		}
		if v == 0 {
			return Limit[T]{Err: fmt.Errorf("%s: %s", lf.src, zero)}, 0, false
		}
		if lf.level >= 0 && lf.level < 64 {
			levels |= 1 << lf.level
		}
		if lf.level == 0 {
			p.Own = v
		}
		// Strictly less: on a tie the nearest group (read first) is named,
		// and a hierarchical_memory_limit (read last) that only repeats a
		// visible group's limit is not taken for a hidden ancestor's.
		if p.Value == 0 || v < p.Value {
			p.Value, p.Src, p.Mount, p.Level = v, lf.src, lf.mount, lf.level
		}
	}
	return p, levels, false
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

// readAt reads the whole file into buf. A read that fills buf is an error:
// the file may go on, and a number cut at the end of the buffer would be
// read as another number.
func readAt(f handle, buf []byte, path string) ([]byte, error) {
	n, err := f.readAt0(buf)
	if err != nil {
		return nil, &ioError{fmt.Errorf("reading %s: %w", path, err)}
	}
	if n == len(buf) {
		return nil, fmt.Errorf("%s: %d bytes or more, longer than the kernel writes it: refused rather than cut", path, n)
	}
	return buf[:n], nil
}

func (r *Reader) readMem(lf *limitFile) (int64, bool, error) {
	if lf.every > 1 && !r.memChanged && r.reads%lf.every != lf.every-1 {
		return lf.lastV, lf.lastOK, nil // not read yet: no limit from it
	}
	v, ok, err := r.readMemFile(lf)
	if lf.kind != kMemStat && r.reads > 0 && (err != nil || !lf.seen || v != lf.lastV || ok != lf.lastOK) {
		r.memChanged = true
	}
	lf.lastV, lf.lastOK, lf.seen = v, ok, err == nil
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
			return 0, false, fmt.Errorf("%s: %s: %w", lf.path, quote(bytes.TrimSpace(b), maxContentQuote), err)
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
