package cgroup

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets, one per parser. Run one with
//
//	go test -run='^$' -fuzz='^FuzzParseMountInfo$' -fuzztime=20s ./internal/cgroup
//
// Seeds are the snapshots under testdata/, the f.Add calls below and the
// crashers kept in testdata/fuzz/<Name>/. Plain `go test` runs every seed.

// addSnapshotSeeds adds the file rel of every snapshot under testdata/.
func addSnapshotSeeds(f *testing.F, rel string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", rel))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no testdata/*/%s seeds", rel)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// kernelEscape escapes a path as the kernel writes it in mountinfo
// (fs/proc_namespace.c: mangle, seq_escape with " \t\n\\").
func kernelEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case ' ', '\t', '\n', '\\':
			b.WriteString(fmt.Sprintf("\\%03o", c))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lines counts the lines a parser may report on.
func lines(s string) int { return strings.Count(s, "\n") + 1 }

func FuzzParseMountInfo(f *testing.F) {
	addSnapshotSeeds(f, "proc/self/mountinfo")
	for _, s := range []string{
		"",
		"\n\n",
		"-",
		"1 2 3 4 5 6 - cgroup2",
		"1 2 3 4 5 6 - cgroup",
		"1 2 - - - - - cgroup - -",
		`1 2 0:1 \ \ rw - cgroup2 x rw`,
		`1 2 0:1 / /a\ rw - cgroup2 x rw`,
		`1 2 0:1 / /a\0 rw - cgroup2 x rw`,
		`1 2 0:1 / /a\00 rw - cgroup2 x rw`,
		`1 2 0:1 / /a\000 rw - cgroup2 x rw`,
		`1 2 0:1 / /a\400 rw - cgroup2 x rw`,
		`1 2 0:1 /\134\134 /a\040\011\012 rw - cgroup x rw,memory,,, ,cpu`,
		"35 25 0:31 / /sys/fs/cgroup/memory rw shared:1 master:2 propagate_from:3 unbindable - cgroup cgroup rw,memory",
		"26 25 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,release_agent=/opt/my agent/x,cpuacct",
		"612 62 0:4 net:[4026532512] /run/netns/cni rw shared:310 - nsfs nsfs rw",
		"1 2 0:1 / /x rw\t-\tcgroup2\tcgroup2\trw",
		"1 2 0:1 / /x rw - cgroup2 cgroup2 rw\r\n",
		"\x00\xff - cgroup",
		strings.Repeat("garbage\n", 12) + "1 2 0:1 / /x rw - cgroup2 cgroup2 rw",
		"1 2 0:1 /../../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n1 2 0:1 / /../../x rw - cgroup2 cgroup2 rw",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mounts, errs := ParseMountInfo([]byte(s))
		if len(mounts)+len(errs) > lines(s) {
			t.Fatalf("%d mounts and %d errors from %d lines", len(mounts), len(errs), lines(s))
		}
		for _, m := range mounts {
			if m.V2 && len(m.Controllers) != 0 {
				t.Errorf("cgroup2 mount with v1 controllers: %+v", m)
			}
			for _, c := range m.Controllers {
				if c == "" || strings.Contains(c, ",") || c != strings.TrimSpace(c) {
					t.Errorf("controller %q in %+v", c, m)
				}
			}
		}
		checkWarnings(t, errs, "mountinfo line ", "mountinfo: ")
		// Used as a path, s comes back intact from a line escaped the way
		// the kernel escapes mountinfo (space, tab, newline, backslash).
		if s != "" && !strings.ContainsRune(s, 0) {
			line := "36 35 0:30 " + kernelEscape("/"+s) + " " + kernelEscape("/mnt/"+s) + " rw,relatime shared:9 master:1 - cgroup2 cgroup2 rw"
			got, errs := ParseMountInfo([]byte(line))
			if len(errs) != 0 || len(got) != 1 || got[0].Root != "/"+s || got[0].Point != "/mnt/"+s || !got[0].V2 {
				t.Errorf("line %q: %+v, %v; want root %q, point %q", line, got, errs, "/"+s, "/mnt/"+s)
			}
		}
		// Lines are independent: each line alone gives the same mounts.
		var again []Mount
		for _, line := range strings.Split(s, "\n") {
			m, _ := ParseMountInfo([]byte(line))
			again = append(again, m...)
		}
		if len(again) != len(mounts) {
			t.Errorf("line by line: %d mounts, all at once: %d", len(again), len(mounts))
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	addSnapshotSeeds(f, "proc/self/cgroup")
	for _, s := range []string{
		"", "0::/", "0::", "::/", ":", "0:memory", "1:name=systemd:/../../..", "4:cpu,cpuacct:/a:b:c",
		"10:memory:/\n\n\n0::/x", "x:y:/z", "0:,,:/", "\x00:\xff:/\x00",
		strings.Repeat("bad\n", 12) + "0::/", "0::/../../../../init.scope", "0::/a/../../b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries, errs := ParseProcCgroup([]byte(s))
		if len(entries)+len(errs) > lines(s) {
			t.Fatalf("%d entries and %d errors from %d lines", len(entries), len(errs), lines(s))
		}
		for _, e := range entries {
			if e.ID == "" || !strings.HasPrefix(e.Path, "/") || strings.Contains(e.ID, ":") {
				t.Errorf("entry %+v", e)
			}
			for _, c := range e.Controllers {
				if strings.ContainsAny(c, ",:\n") {
					t.Errorf("controller %q in %+v", c, e)
				}
			}
		}
		checkWarnings(t, errs, "/proc/self/cgroup line ", "/proc/self/cgroup: ")
		// Whatever the entries, resolving them never panics.
		mounts, _ := ParseMountInfo([]byte("1 2 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n1 2 0:2 / /m rw - cgroup cgroup rw,memory,cpu"))
		checkLayout(t, Resolve("/r", entries, mounts), entries, mounts)
	})
}

// checkWarnings checks what every parser's errors promise: each names its
// line, at most maxWarnings of them, then one that counts the rest.
func checkWarnings(t *testing.T, errs []error, line, summary string) {
	t.Helper()
	if len(errs) > maxWarnings+1 {
		t.Errorf("%d errors", len(errs))
	}
	for i, e := range errs {
		switch {
		case e == nil:
			t.Errorf("error %d is nil", i)
		case i == maxWarnings:
			if !strings.HasPrefix(e.Error(), summary) || !strings.Contains(e.Error(), "more lines passed over") {
				t.Errorf("error %v does not count the rest", e)
			}
		case !strings.HasPrefix(e.Error(), line):
			t.Errorf("error %v does not name its line", e)
		}
	}
}

// checkLayout checks what Resolve promises, whatever its input.
func checkLayout(t *testing.T, l *Layout, entries []ProcEntry, mounts []Mount) {
	t.Helper()
	hasV2 := false
	for _, e := range entries {
		hasV2 = hasV2 || e.ID == "0" && len(e.Controllers) == 0
	}
	points := map[string]bool{}
	for _, m := range mounts {
		points[m.Point] = true
	}
	for _, h := range []Hierarchy{l.Memory, l.CPU} {
		if (h.Version != 0) != (len(h.Dirs) > 0) || h.Err != nil && h.Version != 0 || len(h.Ways) != len(h.Dirs) {
			t.Errorf("hierarchy %+v", h)
		}
		// Neither found nor an error: only when the process is in no
		// hierarchy that could have the controller.
		if h.Version == 0 && h.Err == nil && (len(entries) == 0 || hasV2) {
			t.Errorf("hierarchy %+v from %+v", h, entries)
		}
		for i, ways := range h.Ways {
			if len(ways) == 0 || len(ways) > maxWays || ways[0].Path != h.Dirs[i] {
				t.Errorf("level %d: ways %q, dir %q", i, ways, h.Dirs[i])
			}
			for _, w := range ways {
				// under the root, and no ".." to climb out of it
				if !strings.HasPrefix(w.Path, "/r/") && w.Path != "/r" || slices.Contains(strings.Split(w.Path, "/"), "..") {
					t.Errorf("directory %q outside the root", w.Path)
				}
				if !points[w.Mount] {
					t.Errorf("way %+v through no mount of mountinfo", w)
				}
			}
		}
		if h.Err != nil && len(h.Err.Error()) > 2<<10 {
			t.Errorf("an error of %d bytes", len(h.Err.Error()))
		}
	}
	if len(l.Warnings) > maxWarnings+1 {
		t.Errorf("%d warnings", len(l.Warnings))
	}
}

// FuzzResolve: any /proc/self/cgroup against any mountinfo.
func FuzzResolve(f *testing.F) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "proc", "self"))
	if err != nil || len(dirs) == 0 {
		f.Fatalf("no snapshots: %v", err)
	}
	for _, d := range dirs {
		cg, err1 := os.ReadFile(filepath.Join(d, "cgroup"))
		mi, err2 := os.ReadFile(filepath.Join(d, "mountinfo"))
		if err1 == nil && err2 == nil {
			f.Add(string(cg), string(mi))
		}
	}
	v2 := func(root, point string) string {
		return "29 22 0:26 " + root + " " + point + " rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
	}
	for _, s := range [][2]string{
		// the Go runtime's out-of-namespace cases
		{"0::/../../../../init.scope", v2("/../../..", "/mnt") + v2("/../../../..", "/sys/fs/cgroup")},
		{"0::/../../../..", v2("/../../..", "/mnt") + v2("/../../../..", "/sys/fs/cgroup")},
		{"0::/../../init", v2("/../../..", "/sys/fs/cgroup")},
		{"0::/..", v2("/", "/sys/fs/cgroup")},
		{"0::/a/../../b", v2("/..", "/sys/fs/cgroup")},
		// several mounts of one hierarchy
		{"0::/s/app", v2("/s/app", "/sys/fs/cgroup") + v2("/", "/host/a") + v2("/s", "/mnt/s") + v2("/", "/host/b") + v2("/", "/host/c") + v2("/", "/host/d")},
		{"4:memory:/a\n5:memory:/b\n0::/x\n0::/y", "1 2 0:1 / /m rw - cgroup cgroup rw,memory\n" + v2("/", "/u")},
		// mount points that climb out, or are too long
		{"0::/a", v2("/", "/../../../../sys/fs/cgroup") + v2("/", "/sys/../../x")},
		{"0::/a", v2("/", "/"+strings.Repeat("p", 5000))},
		{"0::/" + strings.Repeat("a/", 2100), v2("/", "/sys/fs/cgroup")},
		// many bad lines
		{strings.Repeat("bad\n", 30) + "0::/", strings.Repeat("bad line\n", 30) + v2("/", "/sys/fs/cgroup")},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cg, mi string) {
		entries, _ := ParseProcCgroup([]byte(cg))
		mounts, _ := ParseMountInfo([]byte(mi))
		checkLayout(t, Resolve("/r", entries, mounts), entries, mounts)
	})
}

// checkLimit checks what every parser returning (value, limited, error)
// promises.
func checkLimit[T int64 | float64](t *testing.T, v T, limited bool, err error) {
	t.Helper()
	switch {
	case err != nil:
		if v != 0 || limited || err.Error() == "" {
			t.Errorf("error %v with value %v, limited %v", err, v, limited)
		}
	case limited:
		if v < 0 || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Errorf("limit %v", v)
		}
	default:
		if v != 0 {
			t.Errorf("no limit, but value %v", v)
		}
	}
}

// plainInt matches what the kernel writes for a number.
var plainInt = regexp.MustCompile(`^-?[0-9]{1,18}$`)

func FuzzParseMemoryValue(f *testing.F) {
	addSnapshotSeeds(f, "sys/fs/cgroup/memory.max")
	addSnapshotSeeds(f, "sys/fs/cgroup/memory/memory.limit_in_bytes")
	for _, s := range []string{
		"", "max", "max\n", " max ", "MAX", "-1", "-2", "0", "1", "9223372036854771712", "9223372036854710272",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
		"99999999999999999999", "512M", "1.5", "+5", "-", "--1", "1 2", "\t42\n", "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, limited, err := ParseMemoryValue([]byte(s))
		checkLimit(t, v, limited, err)
		if limited && v >= unlimitedV1 {
			t.Errorf("%q: limit %d is in the unlimited range", s, v)
		}
		// Against strconv for what the kernel can write.
		if trimmed := strings.TrimSpace(s); plainInt.MatchString(trimmed) {
			n, _ := strconv.ParseInt(trimmed, 10, 64)
			switch {
			case n == -1 || n >= unlimitedV1:
				if limited || err != nil {
					t.Errorf("%q: %d, %v, %v; want no limit", s, v, limited, err)
				}
			case n < 0:
				if err == nil {
					t.Errorf("%q: no error for a negative value", s)
				}
			default:
				if !limited || v != n || err != nil {
					t.Errorf("%q: %d, %v, %v; want %d", s, v, limited, err, n)
				}
			}
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	addSnapshotSeeds(f, "sys/fs/cgroup/cpu.max")
	for _, s := range []string{
		"", "max", "max 100000", "max 0", "150000 100000", "0 100000", "1 1", "9223372036854775807 1",
		"1 9223372036854775807", "-1 100000", "1.5 100000", "50000 -1", " 50000 100000 ", "50000\t100000",
		"50000  100000", "50000 100000 7", "max max", "\x00 \x00",
	} {
		f.Add(s)
	}
	quotaPeriod := regexp.MustCompile(`^([0-9]{1,18}) ([0-9]{1,18})$`)
	f.Fuzz(func(t *testing.T, s string) {
		v, limited, err := ParseCPUMax([]byte(s))
		checkLimit(t, v, limited, err)
		if m := quotaPeriod.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
			q, _ := strconv.ParseInt(m[1], 10, 64)
			p, _ := strconv.ParseInt(m[2], 10, 64)
			if p > 0 && (!limited || err != nil || v != float64(q)/float64(p)) {
				t.Errorf("%q: %v, %v, %v; want %v", s, v, limited, err, float64(q)/float64(p))
			}
			if p == 0 && err == nil {
				t.Errorf("%q: no error for period 0", s)
			}
		}
	})
}

func FuzzParseCPUV1(f *testing.F) {
	quotas, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "sys/fs/cgroup/*/cpu.cfs_quota_us"))
	for _, q := range quotas {
		qb, err1 := os.ReadFile(q)
		pb, err2 := os.ReadFile(filepath.Join(filepath.Dir(q), "cpu.cfs_period_us"))
		if err1 == nil && err2 == nil {
			f.Add(string(qb), string(pb))
		}
	}
	for _, s := range [][2]string{
		{"-1", "100000"}, {"150000", "100000"}, {"0", "100000"}, {"100000", "0"}, {"-1", ""}, {"", ""},
		{"-2", "100000"}, {"garbage", "100000"}, {"50000", "garbage"}, {"9223372036854775807", "1"},
		{"1000\n", "1000000\n"}, {" 1 ", " 1 "},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, quota, period string) {
		v, limited, err := ParseCPUV1([]byte(quota), []byte(period))
		checkLimit(t, v, limited, err)
		if strings.TrimSpace(quota) == "-1" && (limited || err != nil) {
			t.Errorf("quota -1: %v, %v, %v; want no limit", v, limited, err)
		}
		if err != nil && !strings.Contains(err.Error(), "cpu.cfs_") {
			t.Errorf("error %q names neither file", err)
		}
	})
}

func FuzzParseMemoryStat(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "sys/fs/cgroup/memory/memory.stat"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b), "hierarchical_memory_limit")
		}
	}
	for _, s := range [][2]string{
		{"", "hierarchical_memory_limit"}, {"hierarchical_memory_limit", "hierarchical_memory_limit"},
		{"hierarchical_memory_limit ", "hierarchical_memory_limit"}, {"hierarchical_memory_limit x\n", "hierarchical_memory_limit"},
		{"a 1\nb 2\n", ""}, {" 1\n", ""}, {"a 1\na 2", "a"}, {"\n\n\n", "a"}, {"a  1", "a"}, {"a\t1", "a"},
		{"total_hierarchical_memory_limit 1\nhierarchical_memory_limit 2", "hierarchical_memory_limit"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, stat, key string) {
		v, limited, found, err := ParseMemoryStat([]byte(stat), key)
		checkLimit(t, v, limited, err)
		if !found && (v != 0 || limited || err != nil) {
			t.Errorf("key %q not found, but %d, %v, %v", key, v, limited, err)
		}
		// found agrees with a plain search for the first "key " line
		// whose key has no newline in it.
		if !strings.Contains(key, "\n") {
			want := false
			for _, line := range strings.Split(stat, "\n") {
				if strings.HasPrefix(line, key+" ") {
					want = true
					break
				}
			}
			if found != want {
				t.Errorf("found = %v, want %v", found, want)
			}
		}
		if found && err == nil {
			// the value is the one after the first matching line
			for _, line := range bytes.Split([]byte(stat), []byte("\n")) {
				if bytes.HasPrefix(line, []byte(key+" ")) {
					w, wl, _ := ParseMemoryValue(line[len(key)+1:])
					if w != v || wl != limited {
						t.Errorf("value %d, %v; the line says %d, %v", v, limited, w, wl)
					}
					break
				}
			}
		}
	})
}
