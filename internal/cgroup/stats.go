package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// The kernel's own view of the process's memory group, beside its limits:
//
//   - cgroup v2: memory.pressure, cpu.pressure and io.pressure (pressure
//     stall information, Linux 4.20) of the process's group;
//     memory.events of the group and of every visible ancestor that has a
//     memory limit; memory.current and memory.peak (Linux 5.19) of the
//     group. memory.events is hierarchical: an ancestor's counts include
//     every group below it, the process's own and its siblings' (a pod's
//     count rises when any of its containers is OOM-killed).
//   - cgroup v1: memory.oom_control (oom_kill since Linux 4.13, under_oom)
//     and memory.failcnt of the group and of every visible ancestor that
//     has a memory limit; memory.usage_in_bytes and
//     memory.max_usage_in_bytes of the group. v1 has no pressure files, and
//     its oom_kill counts only the group's own processes (the kernel does
//     not carry v1 events up the tree).
//
// On a hybrid host the memory controller's hierarchy decides: with memory
// on v1, the cgroup2 group's pressure files are not read (the process's
// cgroup2 group there is usually not the container's). Which ancestors
// have a limit is decided at OpenStats; a limit set later on another
// ancestor is seen after the next discovery.

// MaxEventGroups is how many groups' memory events Stats holds: the
// process's own and up to seven ancestors with a memory limit, nearest
// first. Deeper ones are not read.
const MaxEventGroups = 8

// Avail says whether a part of Stats holds values.
type Avail struct {
	OK bool // the part was read this time
	// Reason says why not: chosen at OpenStats for a part this host does
	// not have ("cgroup v1 has no per-group pressure files"), or
	// ReasonReadFailed when the part's file was open but this read failed
	// (Read returns the error). Empty when OK.
	Reason string
}

// ReasonReadFailed is Avail.Reason for a part whose read failed.
const ReasonReadFailed = "reading failed (see the error)"

// Pressure is one pressure file as one Read found it.
type Pressure struct {
	Avail
	PSI
}

// Bytes is an amount of memory read from one file.
type Bytes struct {
	Avail
	Value uint64 // in bytes
}

// GroupEvents are one group's memory events as one Read found them.
type GroupEvents struct {
	// Level is the group: 0 the process's own, n: n levels up. It is the
	// index into Layout.Memory.Dirs (StatsReader.Dir names it).
	Level int
	OK    bool // read this time

	// cgroup v2: memory.events (hierarchical: see the package's notes). On
	// v1, OOMKill holds memory.oom_control's oom_kill (the group's own
	// processes only) and the other counts stay 0.
	MemoryEventCounts

	// cgroup v1: memory.oom_control and memory.failcnt.
	UnderOOM       bool   // the group (or an ancestor) is out of memory right now
	OOMKillDisable bool   // the group's OOM killer is off: tasks wait at the limit
	Failcnt        uint64 // how often usage hit memory.limit_in_bytes (v1's counterpart of v2's max)
}

// Stats is the kernel's view of the process's memory group at one Read. It
// is a plain value (no slices, maps or pointers; its strings are made at
// OpenStats and never change) that can be copied and kept as the previous
// reading.
type Stats struct {
	Version int // the memory controller's cgroup version: 1 or 2; 0 when it was not found

	// Pressure stall information of the process's group (cgroup v2 only).
	Memory, CPU, IO Pressure

	// Events holds Group[:NGroups]: the process's group first, then each
	// ancestor with a memory limit, nearest first.
	Events  Avail
	Group   [MaxEventGroups]GroupEvents
	NGroups int

	Usage Bytes // the group's memory in use (page cache and kernel memory included)
	// Peak is the most Usage has been since the group was made (v1: since
	// memory.max_usage_in_bytes was last reset). A high-water mark, it is
	// read on every 10th Read only, so a rise can show up to 9 Reads late.
	Peak Bytes
}

// EventsAt returns the events of the group at level, and whether that group
// was read.
func (s *Stats) EventsAt(level int) (GroupEvents, bool) {
	for _, g := range s.Group[:min(max(s.NGroups, 0), MaxEventGroups)] {
		if g.Level == level {
			return g, g.OK
		}
	}
	return GroupEvents{}, false
}

// statFile is one file the StatsReader keeps open.
type statFile struct {
	f    handle
	path string
	open bool
}

// eventFiles are one group's event files: memory.events on v2;
// memory.oom_control and memory.failcnt on v1.
type eventFiles struct {
	level   int
	events  statFile
	failcnt statFile
}

// StatsReader keeps the files of the kernel's view of the group open and
// re-reads them. It is not safe for concurrent use.
type StatsReader struct {
	version     int
	psi         [3]statFile // memory, cpu, io
	psiWhy      [3]string
	groups      []eventFiles
	eventsWhy   string
	usage, peak statFile
	usageWhy    string
	peakWhy     string
	dirs        []string
	files       []string
	reads       int    // how many times Read ran
	peakV       uint64 // the peak as last read
	peakOK      bool
	fs          *fsys // while opening
	buf         [1024]byte
}

// peakEvery is how often Read reads the peak file.
const peakEvery = 10

var psiNames = [3]string{"memory.pressure", "cpu.pressure", "io.pressure"}

// OpenStats opens the files of the kernel's view of the memory group. A
// file that does not exist makes its part unavailable, with the reason
// in Stats; nothing here is an error.
func (l *Layout) OpenStats() *StatsReader { return l.OpenStatsWith(nil) }

// OpenStatsWith is OpenStats taking which ancestors have a memory limit
// from rd's last Read (a Reader of the same layout), rather than opening
// their limit files once more; rd nil is OpenStats.
func (l *Layout) OpenStatsWith(rd *Reader) *StatsReader {
	r := &StatsReader{}
	h := l.Memory
	why := ""
	switch {
	case h.Err != nil:
		why = "no memory cgroup: " + h.Err.Error()
	case h.Version == 0 || len(h.Dirs) == 0:
		why = "the kernel has no memory controller"
	}
	if why != "" {
		r.psiWhy = [3]string{why, why, why}
		r.eventsWhy, r.usageWhy, r.peakWhy = why, why, why
		return r
	}
	r.version, r.dirs = h.Version, h.Dirs
	group := h.Dirs[0]
	fs, err := openFS(l.Root)
	if err != nil {
		why := "opening the root: " + err.Error()
		r.psiWhy = [3]string{why, why, why}
		r.eventsWhy, r.usageWhy, r.peakWhy = why, why, why
		return r
	}
	r.fs = fs
	defer func() { fs.close(); r.fs = nil }()

	if h.Version == 1 {
		r.psiWhy = [3]string{reasonV1PSI, reasonV1PSI, reasonV1PSI}
	} else {
		for i, name := range psiNames {
			r.psi[i], r.psiWhy[i] = r.openPSI(filepath.Join(group, name))
		}
	}

	usage, peak, peakOld := "memory.current", "memory.peak", "kernel before 5.19"
	if h.Version == 1 {
		usage, peak, peakOld = "memory.usage_in_bytes", "memory.max_usage_in_bytes", ""
	}
	r.usage, r.usageWhy = r.openFile(filepath.Join(group, usage), "")
	r.peak, r.peakWhy = r.openFile(filepath.Join(group, peak), peakOld)

	var whyNot []string
	for level, dir := range h.Dirs {
		if len(r.groups) == MaxEventGroups {
			break
		}
		if level > 0 && (rd != nil && !rd.MemoryLimited(level) || rd == nil && !r.limited(dir, h.Version)) {
			continue
		}
		g := eventFiles{level: level}
		var why string
		if h.Version == 1 {
			g.events, why = r.openFile(filepath.Join(dir, "memory.oom_control"), "")
			if g.events.open {
				g.failcnt, _ = r.openFile(filepath.Join(dir, "memory.failcnt"), "")
			}
		} else {
			g.events, why = r.openFile(filepath.Join(dir, "memory.events"), "kernel before 4.5")
		}
		if !g.events.open {
			whyNot = append(whyNot, why)
			continue
		}
		r.groups = append(r.groups, g)
	}
	if len(r.groups) == 0 {
		r.eventsWhy = "no memory events file"
		if len(whyNot) > 0 {
			r.eventsWhy = whyNot[0]
		}
	}
	return r
}

// reasonV1PSI is why a v1 memory group has no pressure files.
const reasonV1PSI = "cgroup v1 has no per-group pressure files (PSI needs cgroup v2)"

// openFile opens path, or says why it cannot be read: absent (with what
// that usually means, old), or failing to open.
func (r *StatsReader) openFile(path, old string) (statFile, string) {
	f, err := r.fs.open(path)
	if errors.Is(err, fs.ErrNotExist) {
		why := "no " + path
		if old != "" {
			why += " (" + old + ")"
		}
		return statFile{}, why
	}
	if err != nil {
		return statFile{}, err.Error()
	}
	r.files = append(r.files, path)
	return statFile{f: f, path: path, open: true}, ""
}

// openPSI opens a pressure file and reads it once: a kernel booted with
// psi=0 may show the files and refuse to read them.
func (r *StatsReader) openPSI(path string) (statFile, string) {
	sf, why := r.openFile(path, "PSI off: psi=0 or CONFIG_PSI unset, or kernel before 4.20")
	if !sf.open {
		return sf, why
	}
	if _, err := sf.f.readAt0(r.buf[:]); errors.Is(err, errors.ErrUnsupported) {
		sf.f.close()
		r.files = r.files[:len(r.files)-1]
		return statFile{}, path + ": PSI is off (psi=0)"
	}
	return sf, ""
}

// limited reports whether the group in dir has a memory limit now.
func (r *StatsReader) limited(dir string, version int) bool {
	names := []string{"memory.max", "memory.high"}
	if version == 1 {
		names = []string{"memory.limit_in_bytes"}
	}
	for _, name := range names {
		f, err := r.fs.open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		n, err := f.readAt0(r.buf[:])
		f.close()
		if err != nil {
			continue
		}
		if _, ok, err := ParseMemoryValue(r.buf[:n]); ok && err == nil {
			return true
		}
	}
	return false
}

// Files lists the files the reader has open.
func (r *StatsReader) Files() []string { return r.files }

// Dir returns the directory of the group at level (GroupEvents.Level), or
// "" when there is none.
func (r *StatsReader) Dir(level int) string {
	if level < 0 || level >= len(r.dirs) {
		return ""
	}
	return r.dirs[level]
}

// Close closes every file the reader holds. Read after Close finds every
// part unavailable.
func (r *StatsReader) Close() {
	for i := range r.psi {
		r.psi[i].close()
	}
	for i := range r.groups {
		r.groups[i].events.close()
		r.groups[i].failcnt.close()
	}
	r.usage.close()
	r.peak.close()
	r.groups = nil
	r.files = nil
	const closed = "the reader was closed"
	r.psiWhy = [3]string{closed, closed, closed}
	r.eventsWhy, r.usageWhy, r.peakWhy = closed, closed, closed
}

func (f *statFile) close() {
	if f.open {
		f.f.close()
		f.open = false
	}
}

// Read re-reads every open file into s, each with one pread (the peak on
// every 10th Read: see Stats.Peak). A part whose
// read fails is marked unavailable (ReasonReadFailed) and the failures are
// returned, each naming its file. It does not allocate unless something
// fails.
func (r *StatsReader) Read(s *Stats) error {
	*s = Stats{Version: r.version}
	var errs []error
	fail := func(a *Avail, err error) {
		a.OK, a.Reason = false, ReasonReadFailed
		errs = append(errs, err)
	}

	for i, p := range [3]*Pressure{&s.Memory, &s.CPU, &s.IO} {
		f := &r.psi[i]
		if !f.open {
			p.Reason = r.psiWhy[i]
			continue
		}
		b, err := r.read(f)
		if err == nil {
			p.PSI, err = ParsePSI(b)
			err = wrapParse(f, err)
		}
		if err != nil {
			fail(&p.Avail, err)
			continue
		}
		p.OK = true
	}

	if !r.usage.open {
		s.Usage.Reason = r.usageWhy
	} else if v, err := r.readCount(&r.usage); err != nil {
		fail(&s.Usage.Avail, err)
	} else {
		s.Usage.Value, s.Usage.OK = v, true
	}

	// The peak is a high-water mark: read on every peakEvery-th Read (and
	// after a failure), only its rise shows late.
	switch {
	case !r.peak.open:
		s.Peak.Reason = r.peakWhy
	case r.reads%peakEvery == 0 || !r.peakOK:
		v, err := r.readCount(&r.peak)
		r.peakV, r.peakOK = v, err == nil
		if err != nil {
			fail(&s.Peak.Avail, err)
			break
		}
		fallthrough
	default:
		s.Peak.Value, s.Peak.OK = r.peakV, true
	}
	r.reads++

	s.Events.OK = len(r.groups) > 0
	s.Events.Reason = r.eventsWhy
	for i := range r.groups {
		g, e := &r.groups[i], &s.Group[i]
		e.Level = g.level
		if err := r.readEvents(g, e); err != nil {
			fail(&s.Events, err)
			continue
		}
		e.OK = true
	}
	s.NGroups = len(r.groups)

	if errs != nil {
		return errors.Join(errs...)
	}
	return nil
}

// readEvents reads one group's event files into e.
func (r *StatsReader) readEvents(g *eventFiles, e *GroupEvents) error {
	b, err := r.read(&g.events)
	if err != nil {
		return err
	}
	if r.version == 2 {
		e.MemoryEventCounts, err = ParseMemoryEvents(b)
		return wrapParse(&g.events, err)
	}
	o, err := ParseOOMControl(b)
	if err != nil {
		return wrapParse(&g.events, err)
	}
	e.OOMKill, e.UnderOOM, e.OOMKillDisable = o.OOMKill, o.UnderOOM, o.KillDisable
	if g.failcnt.open {
		e.Failcnt, err = r.readCount(&g.failcnt)
	}
	return err
}

func (r *StatsReader) readCount(f *statFile) (uint64, error) {
	b, err := r.read(f)
	if err != nil {
		return 0, err
	}
	v, err := ParseCount(b)
	return v, wrapParse(f, err)
}

// read reads f whole into the reader's buffer. A file that fills the
// buffer is not one of the small files read here.
func (r *StatsReader) read(f *statFile) ([]byte, error) {
	b, err := readAt(f.f, r.buf[:], f.path)
	if err == nil && len(b) == len(r.buf) {
		err = fmt.Errorf("%s: longer than %d bytes: not a cgroup statistics file", f.path, len(r.buf))
	}
	return b, err
}

func wrapParse(f *statFile, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}
