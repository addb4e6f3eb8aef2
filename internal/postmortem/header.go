package postmortem

// The crash file's header line: which run wrote the file, what it was
// built from, whether its memory pressure was Critical, and the OOM kill
// counts of its memory groups. The run rewrites it in place as its
// pressure goes to and from Critical, so the fields after go= have a
// fixed width: the line keeps its length, and the runtime's crash output,
// which goes after it, is never overwritten.

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// headerInfo is what a crash file's header line says of the run that
// wrote it.
type headerInfo struct {
	exe   string
	pid   int
	start time.Time // when it called Init
	build string    // " version=… revision=…[ modified=true]", made once per crash file (Build.field)
	// critical is set while its memory pressure is Critical: a run that
	// vanished with it set was probably killed by the OOM killer.
	critical bool
	// oom are the OOM kill counts of its memory group and of the ancestors
	// with a memory limit, as it last read them (at Init, and when the
	// pressure rose to Critical).
	oom []GroupCount
}

// field is the header's build fields, with a leading space.
func (b Build) field() string {
	version, revision, modified := b.Version, b.Revision, ""
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	if b.Modified {
		modified = " modified=true"
	}
	return " version=" + version + " revision=" + revision + modified
}

// line is the header line, newline included.
func (h headerInfo) line() string {
	build := h.build
	if build == "" {
		build = Build{}.field()
	}
	critical := 0
	if h.critical {
		critical = 1
	}
	return fmt.Sprintf("%s pid=%d exe=%q start=%s%s go=%s critical=%d oom_kill=%s\n",
		headerPrefix, h.pid, h.exe, h.start.UTC().Format(time.RFC3339Nano), build,
		strings.ReplaceAll(runtime.Version(), " ", "_"), critical, oomField(h.oom))
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

// GroupCount is the OOM kill count of one memory group.
type GroupCount struct {
	Ino   uint64 // the group directory's inode number: which group it is
	Count uint64 // oom_kill: memory.events (v2), memory.oom_control (v1)
	Dir   string // the directory, for messages (not in the header)
}

// maxCount is the highest count the header's fixed-width field holds.
const maxCount = 9_999_999_999

// oomField is the header's oom_kill field: count@inode for each group,
// the count zero-padded to ten digits, or "none".
func oomField(gs []GroupCount) string {
	if len(gs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, g := range gs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%010d@%d", min(g.Count, maxCount), g.Ino)
	}
	return b.String()
}

// parseOOMField reads what oomField writes; an entry it cannot read is
// passed over, and at most cgroup.MaxEventGroups are read.
func parseOOMField(v string) []GroupCount {
	var gs []GroupCount
	for _, e := range strings.Split(v, ",") {
		c, i, ok := strings.Cut(e, "@")
		if !ok {
			continue
		}
		count, err1 := strconv.ParseUint(c, 10, 64)
		ino, err2 := strconv.ParseUint(i, 10, 64)
		if err1 != nil || err2 != nil || ino == 0 {
			continue
		}
		gs = append(gs, GroupCount{Ino: ino, Count: count})
		if len(gs) == cgroup.MaxEventGroups {
			break
		}
	}
	return gs
}

// raiseCounts returns have with each count raised to the one read for the
// same group, if higher; groups not in have are not added (the header's
// length is fixed at Init).
func raiseCounts(have, read []GroupCount) []GroupCount {
	if len(read) == 0 {
		return have
	}
	out := append([]GroupCount(nil), have...)
	for i := range out {
		for _, r := range read {
			if r.Ino == out[i].Ino && r.Count > out[i].Count {
				out[i].Count = r.Count
			}
		}
	}
	return out
}

// markPressure records in the crash file's header whether the memory
// pressure is Critical now and, when oom is not nil, the OOM kill counts
// read now (a count recorded at Init only rises). The header is rewritten
// in place, keeping its length; nothing is done without a crash file.
func (r *Recorder) markPressure(critical bool, oom []GroupCount) {
	s := &r.crash
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return
	}
	h := s.hdr
	h.critical = critical
	h.oom = raiseCounts(h.oom, oom)
	line := h.line()
	if int64(len(line)) != s.header {
		return // not reached: the fields have a fixed width
	}
	if _, err := s.file.WriteAt([]byte(line), 0); err == nil {
		s.hdr = h
	}
}
