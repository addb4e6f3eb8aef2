package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo that mounts a cgroup hierarchy.
type Mount struct {
	Root        string   // the subtree of the hierarchy that is mounted ("/" or a group path)
	Point       string   // where it is mounted, e.g. /sys/fs/cgroup/memory
	V2          bool     // a cgroup2 (unified) mount
	Controllers []string // v1 only: the controllers of the hierarchy (cpu, cpuacct, memory, name=systemd, ...)
}

// ParseMountInfo returns the cgroup and cgroup2 mounts listed in the text of
// /proc/self/mountinfo (proc(5)). Other mounts are passed over. A line that
// cannot be parsed is skipped and described in the returned errors; it never
// stops the lines after it from being read. Only the first few such lines
// are described, then one error counts the rest.
func ParseMountInfo(data []byte) ([]Mount, []error) {
	mounts, w := parseMountInfo(data)
	return mounts, w.list("mountinfo")
}

func parseMountInfo(data []byte) ([]Mount, warnings) {
	var mounts []Mount
	var w warnings
	for n, line := range eachLine(data) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// Most lines are other file systems: told apart without
		// allocating, so that a mountinfo of many thousand mounts (or a
		// broken one of many thousand bad lines) costs little.
		fstype, ok := mountType(line)
		if !ok {
			if w.full() {
				w.add(errBadLine)
			} else {
				w.add(fmt.Errorf("mountinfo line %d: %s: expected at least 6 fields, a \"-\" and a file system type", n, quote(line, maxLineQuote)))
			}
			continue
		}
		if string(fstype) != "cgroup" && string(fstype) != "cgroup2" {
			continue
		}
		m, err := parseMountLine(string(line))
		if err != nil {
			w.add(fmt.Errorf("mountinfo line %d: %w", n, err))
			continue
		}
		mounts = append(mounts, m)
	}
	return mounts, w
}

// eachLine yields each line of data (without its newline) with its number,
// counting from 1.
func eachLine(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(data) > 0; n++ {
			line, rest, _ := bytes.Cut(data, []byte("\n"))
			if !yield(n, line) {
				return
			}
			data = rest
		}
	}
}

// maxWarnings is how many passed-over lines are described; the rest are
// counted. A broken snapshot can hold millions.
const maxWarnings = 10

// warnings collects the first maxWarnings problems and counts the rest.
type warnings struct {
	first []error
	more  int
}

func (w *warnings) add(err error) {
	if w.full() {
		w.more++
		return
	}
	w.first = append(w.first, err)
}

// full reports whether a further problem is only counted, so that its
// description need not be built.
func (w *warnings) full() bool { return len(w.first) >= maxWarnings }

// merge adds o's problems after w's.
func (w *warnings) merge(o warnings) {
	for _, e := range o.first {
		w.add(e)
	}
	w.more += o.more
}

// list is the problems described, then one error counting the rest, if
// any; where names what the lines came from.
func (w *warnings) list(where string) []error {
	if w.more == 0 {
		return w.first
	}
	return append(w.first[:len(w.first):len(w.first)],
		fmt.Errorf("%s: %d more lines passed over (only the first %d are described)", where, w.more, len(w.first)))
}

// mountType returns the file system type of a mountinfo line, without
// allocating: the field after the first "-" field that comes after the
// six fixed ones (fields are separated by spaces only). ok is false when
// there is no such field.
func mountType(line []byte) (fstype []byte, ok bool) {
	n, sep := 0, false
	for len(line) > 0 {
		if line[0] == ' ' {
			line = line[1:]
			continue
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		field := line[:end]
		line = line[end:]
		if sep {
			return field, true
		}
		sep = n >= 6 && string(field) == "-"
		n++
	}
	return nil, false
}

// parseMountLine parses one mountinfo line of a cgroup or cgroup2 mount:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields 1-6 are fixed, then any number of optional fields, a "-", the file
// system type, the source and the super options (which we take to the end of
// the line, whatever it holds).
func parseMountLine(line string) (Mount, error) {
	// The kernel separates fields with spaces and escapes the space, tab,
	// newline and backslash inside them; any other byte (a carriage return,
	// a non-breaking space) is part of a path, so strings.Fields would
	// split where the kernel did not.
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' })
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 6 || sep < 0 || sep+1 >= len(fields) {
		return Mount{}, fmt.Errorf("%s: expected at least 6 fields, a \"-\" and a file system type", quote(line, maxLineQuote))
	}
	fstype := fields[sep+1]
	root, err := unescapeOctal(fields[3])
	if err != nil {
		return Mount{}, fmt.Errorf("root %s: %w", quote(fields[3], maxLineQuote), err)
	}
	point, err := unescapeOctal(fields[4])
	if err != nil {
		return Mount{}, fmt.Errorf("mount point %s: %w", quote(fields[4], maxLineQuote), err)
	}
	m := Mount{Root: root, Point: point, V2: fstype == "cgroup2"}
	if !m.V2 {
		var super string
		if sep+3 < len(fields) {
			super = strings.Join(fields[sep+3:], " ")
		}
		for _, opt := range strings.Split(super, ",") {
			switch opt = strings.TrimSpace(opt); opt {
			case "", "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "noprefix", "xattr":
			default:
				if strings.HasPrefix(opt, "release_agent=") {
					continue
				}
				m.Controllers = append(m.Controllers, opt)
			}
		}
	}
	return m, nil
}

// unescapeOctal undoes the \NNN escapes the kernel writes for space, tab,
// newline and backslash in mountinfo paths.
func unescapeOctal(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", errors.New(`truncated \ escape`)
		}
		v := 0
		for _, c := range []byte(s[i+1 : i+4]) {
			if c < '0' || c > '7' {
				return "", fmt.Errorf(`bad \ escape %q`, s[i:i+4])
			}
			v = v*8 + int(c-'0')
		}
		if v > 0xff {
			return "", fmt.Errorf(`bad \ escape %q`, s[i:i+4])
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// ProcEntry is one line of /proc/self/cgroup.
type ProcEntry struct {
	ID          string   // hierarchy ID; "0" for the unified (v2) hierarchy
	Controllers []string // v1 controllers; empty for v2
	Path        string   // the group's path within the hierarchy
}

// ParseProcCgroup parses the text of /proc/self/cgroup (cgroups(7)):
// "hierarchy-ID:controller-list:cgroup-path" per line. A malformed line is
// skipped and described in the returned errors (the first few; one more
// error counts the rest).
func ParseProcCgroup(data []byte) ([]ProcEntry, []error) {
	entries, w := parseProcCgroup(data)
	return entries, w.list("/proc/self/cgroup")
}

func parseProcCgroup(data []byte) ([]ProcEntry, warnings) {
	var entries []ProcEntry
	var w warnings
	for n, line := range eachLine(data) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		id, rest, ok1 := bytes.Cut(line, []byte(":"))
		ctrls, p, ok2 := bytes.Cut(rest, []byte(":"))
		if !ok1 || !ok2 || len(id) == 0 || !bytes.HasPrefix(p, []byte("/")) {
			if w.full() {
				w.add(errBadLine)
			} else {
				w.add(fmt.Errorf("/proc/self/cgroup line %d: %s is not id:controllers:/path", n, quote(line, maxLineQuote)))
			}
			continue
		}
		e := ProcEntry{ID: string(id), Path: string(p)}
		if len(ctrls) != 0 {
			e.Controllers = strings.Split(string(ctrls), ",")
		}
		entries = append(entries, e)
	}
	return entries, w
}

// errBadLine stands for a passed-over line that is only counted.
var errBadLine = errors.New("line passed over")

// ParseMemoryValue parses a memory limit file: memory.max or memory.high
// (v2: a number of bytes or "max") or memory.limit_in_bytes (v1: a number,
// where -1 and values near math.MaxInt64 mean no limit). It returns the
// limit and whether there is one. It does not allocate unless it fails.
func ParseMemoryValue(b []byte) (int64, bool, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 0, false, nil
	}
	v, err := parseInt(b)
	if err != nil {
		return 0, false, err
	}
	if v == -1 || v >= unlimitedV1 {
		return 0, false, nil
	}
	if v < 0 {
		return 0, false, fmt.Errorf("%d is negative", v)
	}
	return v, true, nil
}

// unlimitedV1 is where "no limit" starts for cgroup v1 memory files. The
// kernel reports an unset limit as math.MaxInt64 rounded down to a whole
// page (9223372036854771712 with 4 KiB pages, less with larger pages), so
// anything within 1 GiB of math.MaxInt64 is taken to be unlimited: no
// machine has that much memory.
const unlimitedV1 = 1<<63 - 1 - 1<<30

// ParseCPUMax parses cgroup v2 cpu.max: "$MAX $PERIOD", where $MAX is
// "max" for no limit. It returns the limit in CPUs and whether there is one.
func ParseCPUMax(b []byte) (float64, bool, error) {
	b = bytes.TrimSpace(b)
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return 0, false, errors.New("expected \"quota period\"")
	}
	period, err := parseInt(bytes.TrimSpace(b[sp+1:]))
	if err != nil {
		return 0, false, fmt.Errorf("period: %w", err)
	}
	if string(b[:sp]) == "max" {
		return 0, false, nil
	}
	quota, err := parseInt(b[:sp])
	if err != nil {
		return 0, false, fmt.Errorf("quota: %w", err)
	}
	return cpuLimit(quota, period)
}

// ParseCPUV1 takes the contents of cpu.cfs_quota_us and cpu.cfs_period_us
// and returns the limit in CPUs and whether there is one (-1 means none).
func ParseCPUV1(quotaText, periodText []byte) (float64, bool, error) {
	quota, err := parseInt(bytes.TrimSpace(quotaText))
	if err != nil {
		return 0, false, fmt.Errorf("cpu.cfs_quota_us: %w", err)
	}
	if quota == -1 {
		return 0, false, nil
	}
	period, err := parseInt(bytes.TrimSpace(periodText))
	if err != nil {
		return 0, false, fmt.Errorf("cpu.cfs_period_us: %w", err)
	}
	if quota < 0 {
		return 0, false, fmt.Errorf("cpu.cfs_quota_us: %d is negative (only -1 means no limit)", quota)
	}
	if period <= 0 {
		return 0, false, fmt.Errorf("cpu.cfs_period_us: %d is not positive", period)
	}
	return cpuLimit(quota, period)
}

func cpuLimit(quota, period int64) (float64, bool, error) {
	if period <= 0 {
		return 0, false, fmt.Errorf("period %d is not positive", period)
	}
	if quota < 0 {
		return 0, false, fmt.Errorf("quota %d is negative", quota)
	}
	return float64(quota) / float64(period), true, nil
}

// ParseMemoryStat finds key (such as hierarchical_memory_limit) in the text
// of a v1 memory.stat file and returns its value as ParseMemoryValue would.
// found is false when the key is absent. It does not allocate unless it
// fails.
func ParseMemoryStat(b []byte, key string) (v int64, limited, found bool, err error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ' ' {
			v, limited, err = ParseMemoryValue(line[len(key)+1:])
			return v, limited, true, err
		}
	}
	return 0, false, false, nil
}

// parseInt parses a base-10 int64 with an optional leading '-' without
// allocating on success.
func parseInt(b []byte) (int64, error) {
	neg := false
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, fmt.Errorf("%s is not a number", quote(b, maxContentQuote))
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s is not a number", quote(b, maxContentQuote))
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<63-1 {
		return 0, fmt.Errorf("%s is out of range", quote(b, maxContentQuote))
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// Quoting limits: what a message quotes of a mountinfo or
// /proc/self/cgroup line, and of a limit file's content (which, in a
// hostile snapshot, could be anything).
const (
	maxLineQuote    = 80
	maxContentQuote = 32
)

// quote is s quoted as strconv.Quote does (so it is printable), cut to
// its first max bytes, with "..." after the quote when it was cut.
func quote[S string | []byte](s S, max int) string {
	if len(s) > max {
		return strconv.Quote(string(s[:max])) + "..."
	}
	return strconv.Quote(string(s))
}
