package cgroup

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	v2 := func(root, point string) Mount { return Mount{Root: root, Point: point, V2: true} }
	v1 := func(root, point string, ctrl ...string) Mount {
		return Mount{Root: root, Point: point, Controllers: ctrl}
	}
	e2 := func(p string) ProcEntry { return ProcEntry{ID: "0", Path: p} }
	e1 := func(id, p string, ctrl ...string) ProcEntry { return ProcEntry{ID: id, Controllers: ctrl, Path: p} }
	type want struct {
		version int
		mount   string
		dirs    []string // relative to the root /r
		err     string
	}
	tests := []struct {
		name    string
		root    string
		entries []ProcEntry
		mounts  []Mount
		mem     want
		cpu     want
		hasV2   bool
		warns   []string // a substring of each warning
	}{
		{name: "v2 namespace root",
			entries: []ProcEntry{e2("/")}, mounts: []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup"}, ""}},
		{name: "v2 deep group",
			entries: []ProcEntry{e2("/a.slice/b.scope")}, mounts: []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/a.slice/b.scope", "sys/fs/cgroup/a.slice", "sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/a.slice/b.scope", "sys/fs/cgroup/a.slice", "sys/fs/cgroup"}, ""}},
		{name: "v1 subtree mounted at the group",
			entries: []ProcEntry{e1("10", "/docker/x", "memory"), e1("4", "/docker/x", "cpu", "cpuacct")},
			mounts:  []Mount{v1("/docker/x", "/sys/fs/cgroup/memory", "memory"), v1("/docker/x", "/sys/fs/cgroup/cpu,cpuacct", "cpu", "cpuacct")},
			mem:     want{1, "/sys/fs/cgroup/memory", []string{"sys/fs/cgroup/memory"}, ""},
			cpu:     want{1, "/sys/fs/cgroup/cpu,cpuacct", []string{"sys/fs/cgroup/cpu,cpuacct"}, ""}},
		{name: "v1 process below the mounted subtree",
			entries: []ProcEntry{e1("10", "/docker/x/worker", "memory")},
			mounts:  []Mount{v1("/docker/x", "/sys/fs/cgroup/memory", "memory")},
			mem:     want{1, "/sys/fs/cgroup/memory", []string{"sys/fs/cgroup/memory/worker", "sys/fs/cgroup/memory"}, ""},
			cpu:     want{}}, // in no hierarchy with cpu: the kernel has none, so no limit and no error
		{name: "nearest mount root first, a wider mount adds the ancestors it shows",
			entries: []ProcEntry{e2("/a/b")},
			mounts:  []Mount{v2("/", "/sys/fs/cgroup"), v2("/a", "/mnt/a"), v2("/x", "/mnt/x")}, hasV2: true,
			mem: want{2, "/mnt/a", []string{"mnt/a/b", "mnt/a", "sys/fs/cgroup"}, ""},
			cpu: want{2, "/mnt/a", []string{"mnt/a/b", "mnt/a", "sys/fs/cgroup"}, ""}},
		{name: "a root that is a string prefix but not a path prefix",
			entries: []ProcEntry{e2("/abc")}, mounts: []Mount{v2("/ab", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{err: `memory (cgroup v2): group "/abc" is outside every mounted subtree`},
			cpu: want{err: `cpu (cgroup v2): group "/abc" is outside every mounted subtree`}},
		{name: "group outside the namespace",
			entries: []ProcEntry{e1("10", "/../../x", "memory"), e1("4", "/", "cpu")},
			mounts:  []Mount{v1("/", "/sys/fs/cgroup/memory", "memory"), v1("/", "/sys/fs/cgroup/cpu", "cpu")},
			mem:     want{err: `memory (cgroup v1): group "/../../x" is outside`},
			cpu:     want{1, "/sys/fs/cgroup/cpu", []string{"sys/fs/cgroup/cpu"}, ""}},
		{name: "mount root above the namespace",
			entries: []ProcEntry{e2("/")}, mounts: []Mount{v2("/../../..", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{err: `memory (cgroup v2): group "/" is outside every mounted subtree of its hierarchy (mount roots ["/../../.."])`},
			cpu: want{err: `cpu (cgroup v2): group "/" is outside`}},
		// a group outside the namespace's root, aligned with a mount root
		// outside it too (after nsenter -C): the Go runtime's own cases
		{name: "group and mount root above the namespace, aligned",
			entries: []ProcEntry{e2("/../../../../init.scope")},
			mounts:  []Mount{v2("/../../..", "/mnt"), v2("/../../../..", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/init.scope", "sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/init.scope", "sys/fs/cgroup"}, ""}},
		{name: "the process in the mount root above the namespace",
			entries: []ProcEntry{e2("/../../../..")},
			mounts:  []Mount{v2("/../../..", "/mnt"), v2("/../../../..", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup"}, ""}},
		{name: "a mount root above the group's branch: the path below it is unknown",
			entries: []ProcEntry{e2("/../../init.scope")},
			mounts:  []Mount{v2("/../../..", "/sys/fs/cgroup"), v2("/", "/mnt")}, hasV2: true,
			mem: want{err: `memory (cgroup v2): group "/../../init.scope" is outside every mounted subtree of its hierarchy (mount roots ["/../../.." "/"])`},
			cpu: want{err: `cpu (cgroup v2): group "/../../init.scope" is outside`}},
		{name: "'..' inside a path is cleaned lexically",
			entries: []ProcEntry{e2("/a/../../b")},
			mounts:  []Mount{v2("/..", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/b", "sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup/b", "sys/fs/cgroup"}, ""}},
		// several mounts of one hierarchy
		{name: "the container's subtree and the host's whole hierarchy",
			entries: []ProcEntry{e2("/batch.slice/ctr.scope")},
			mounts:  []Mount{v2("/batch.slice/ctr.scope", "/sys/fs/cgroup"), v2("/", "/host/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup", "host/cgroup/batch.slice", "host/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"sys/fs/cgroup", "host/cgroup/batch.slice", "host/cgroup"}, ""}},
		{name: "a mount point with '..' is refused, another mount used",
			entries: []ProcEntry{e1("10", "/a", "memory"), e1("4", "/a", "cpu")},
			mounts:  []Mount{v1("/", "/../../../../sys/fs/cgroup/memory", "memory"), v1("/", "/m", "memory"), v1("/", "/sys/../../cpu", "cpu")},
			mem:     want{1, "/m", []string{"m/a", "m"}, ""},
			cpu:     want{err: `cpu (cgroup v1): mount point "/sys/../../cpu" has ".." in it, which no kernel writes and which would lead out of the root: refused`},
			warns:   []string{`memory (cgroup v1): mount point "/../../../../sys/fs/cgroup/memory" has ".." in it, which no kernel writes and which would lead out of the root: refused; another mount is read`}},
		{name: "error lists three mount roots and counts the rest",
			entries: []ProcEntry{e2("/x")},
			mounts:  []Mount{v2("/a", "/1"), v2("/b", "/2"), v2("/c", "/3"), v2("/d", "/4"), v2("/e", "/5")}, hasV2: true,
			mem: want{err: `group "/x" is outside every mounted subtree of its hierarchy (mount roots ["/a" "/b" "/c"] and 2 more)`},
			cpu: want{err: `and 2 more`}},
		{name: "a group path longer than PATH_MAX",
			entries: []ProcEntry{e2("/" + strings.Repeat("a/", 2048))},
			mounts:  []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{err: `is 4097 bytes, longer than the kernel writes (PATH_MAX 4096)`},
			cpu: want{err: `is 4097 bytes`}},
		{name: "hybrid: the v1 hierarchy wins",
			entries: []ProcEntry{e1("10", "/s/app", "memory"), e1("4", "/s/app", "cpu", "cpuacct"), e2("/s/app")},
			mounts:  []Mount{v2("/", "/sys/fs/cgroup/unified"), v1("/", "/sys/fs/cgroup/memory", "memory"), v1("/", "/sys/fs/cgroup/cpu,cpuacct", "cpu", "cpuacct")},
			hasV2:   true,
			mem:     want{1, "/sys/fs/cgroup/memory", []string{"sys/fs/cgroup/memory/s/app", "sys/fs/cgroup/memory/s", "sys/fs/cgroup/memory"}, ""},
			cpu:     want{1, "/sys/fs/cgroup/cpu,cpuacct", []string{"sys/fs/cgroup/cpu,cpuacct/s/app", "sys/fs/cgroup/cpu,cpuacct/s", "sys/fs/cgroup/cpu,cpuacct"}, ""}},
		{name: "hybrid: memory only on v2",
			entries: []ProcEntry{e1("4", "/s/app", "cpu", "cpuacct"), e2("/s/app")},
			mounts:  []Mount{v2("/", "/sys/fs/cgroup/unified"), v1("/", "/sys/fs/cgroup/cpu,cpuacct", "cpu", "cpuacct")},
			hasV2:   true,
			mem:     want{2, "/sys/fs/cgroup/unified", []string{"sys/fs/cgroup/unified/s/app", "sys/fs/cgroup/unified/s", "sys/fs/cgroup/unified"}, ""},
			cpu:     want{1, "/sys/fs/cgroup/cpu,cpuacct", []string{"sys/fs/cgroup/cpu,cpuacct/s/app", "sys/fs/cgroup/cpu,cpuacct/s", "sys/fs/cgroup/cpu,cpuacct"}, ""}},
		{name: "v1-bound controller not mounted: no fall back to v2",
			entries: []ProcEntry{e1("10", "/s/app", "memory"), e1("4", "/s/app", "cpu"), e2("/s/app")},
			mounts:  []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{err: "memory (cgroup v1): not mounted"},
			cpu: want{err: "cpu (cgroup v1): not mounted"}},
		{name: "named and unrelated hierarchies are ignored",
			entries: []ProcEntry{e1("1", "/../..", "name=systemd"), e1("3", "/", "cpuset"), e2("/")},
			mounts:  []Mount{v1("/", "/sys/fs/cgroup/systemd", "name=systemd"), v1("/", "/sys/fs/cgroup/cpuset", "cpuset"), v2("/", "/sys/fs/cgroup/unified")},
			hasV2:   true,
			mem:     want{2, "/sys/fs/cgroup/unified", []string{"sys/fs/cgroup/unified"}, ""},
			cpu:     want{2, "/sys/fs/cgroup/unified", []string{"sys/fs/cgroup/unified"}, ""}},
		{name: "nothing mounted",
			entries: []ProcEntry{e2("/")},
			mem:     want{err: "memory (cgroup v2): not mounted"},
			cpu:     want{err: "cpu (cgroup v2): not mounted"}},
		{name: "no entries",
			mounts: []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{err: "memory: /proc/self/cgroup lists no cgroup"},
			cpu: want{err: "cpu: /proc/self/cgroup lists no cgroup"}},
		{name: "v1 host without the memory controller",
			entries: []ProcEntry{e1("4", "/s/app", "cpu", "cpuacct"), e1("1", "/s/app", "name=systemd")},
			mounts:  []Mount{v1("/", "/sys/fs/cgroup/cpu,cpuacct", "cpu", "cpuacct"), v1("/", "/sys/fs/cgroup/systemd", "name=systemd")},
			mem:     want{},
			cpu:     want{1, "/sys/fs/cgroup/cpu,cpuacct", []string{"sys/fs/cgroup/cpu,cpuacct/s/app", "sys/fs/cgroup/cpu,cpuacct/s", "sys/fs/cgroup/cpu,cpuacct"}, ""}},
		{name: "empty root means /", root: "",
			entries: []ProcEntry{e2("/a")}, mounts: []Mount{v2("/", "/sys/fs/cgroup")}, hasV2: true,
			mem: want{2, "/sys/fs/cgroup", []string{"/sys/fs/cgroup/a", "/sys/fs/cgroup"}, ""},
			cpu: want{2, "/sys/fs/cgroup", []string{"/sys/fs/cgroup/a", "/sys/fs/cgroup"}, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := "/r"

			if tt.name == "empty root means /" {
				root = tt.root
			}
			l := Resolve(root, tt.entries, tt.mounts)
			if len(l.Warnings) != len(tt.warns) {
				t.Errorf("warnings %q, want %d", l.Warnings, len(tt.warns))
			}
			for i, w := range tt.warns {
				if i < len(l.Warnings) && !strings.Contains(l.Warnings[i].Error(), w) {
					t.Errorf("warning %q does not contain %q", l.Warnings[i], w)
				}
			}
			if l.HasV2 != tt.hasV2 {
				t.Errorf("HasV2 = %v, want %v", l.HasV2, tt.hasV2)
			}
			if root == "" && l.Root != "/" {
				t.Errorf("Root = %q, want /", l.Root)
			}
			for _, c := range []struct {
				name string
				got  Hierarchy
				want want
			}{{"memory", l.Memory, tt.mem}, {"cpu", l.CPU, tt.cpu}} {
				var dirs []string
				for _, d := range c.want.dirs {
					if !filepath.IsAbs(d) {
						d = filepath.Join(root, d)
					}
					dirs = append(dirs, d)
				}
				if c.got.Version != c.want.version || c.got.Mount != c.want.mount || !reflect.DeepEqual(c.got.Dirs, dirs) {
					t.Errorf("%s: version %d mount %q dirs %q; want %d %q %q", c.name, c.got.Version, c.got.Mount, c.got.Dirs, c.want.version, c.want.mount, dirs)
				}
				if c.want.err == "" && c.got.Err != nil || c.want.err != "" && (c.got.Err == nil || !strings.Contains(c.got.Err.Error(), c.want.err)) {
					t.Errorf("%s: error %v, want %q", c.name, c.got.Err, c.want.err)
				}
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "unrelated-bad-lines")
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if l.Memory.Err != nil || l.CPU.Err != nil || l.Memory.Version != 1 || l.CPU.Version != 1 {
		t.Errorf("memory %+v, cpu %+v: want both found on v1", l.Memory, l.CPU)
	}
	// the "13:misc" line of /proc/self/cgroup, the rdma mount's bad escape
	// and the truncated last line of mountinfo
	var w []string
	for _, e := range l.Warnings {
		w = append(w, e.Error())
	}
	if len(w) != 3 || !strings.Contains(w[0], `"13:misc"`) || !strings.Contains(w[1], "rdma") || !strings.Contains(w[2], "/sys/firmware/efi") {
		t.Errorf("warnings %q, want the three bad lines", w)
	}

	// a relative root, "." included
	for _, c := range []struct{ dir, root string }{{"..", "v2-child-tighter"}, {".", "."}} {
		t.Run("root "+c.root, func(t *testing.T) {
			t.Chdir(filepath.Join(fixture("v2-child-tighter"), c.dir))
			l, err := Discover(c.root)
			if err != nil {
				t.Fatal(err)
			}
			rd := l.Open()
			defer rd.Close()
			want := filepath.Join(c.root, "sys/fs/cgroup/batch.slice/job43.scope/memory.max")
			if lim := rd.Read(); lim.Memory.Err != nil || lim.Memory.Value != 128<<20 || lim.Memory.Src != want {
				t.Errorf("Read = %+v, want 128 MiB from %s", lim.Memory, want)
			}
		})
	}

	for _, missing := range []string{"proc/self/cgroup", "proc/self/mountinfo"} {
		dir := t.TempDir()
		for _, f := range []string{"proc/self/cgroup", "proc/self/mountinfo"} {
			if f != missing {
				writeFile(t, filepath.Join(dir, f), "0::/\n")
			}
		}
		if _, err := Discover(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, missing)) {
			t.Errorf("Discover without %s: error %v, want one naming it", missing, err)
		}
	}
}

// TestResolveWays: every mount that shows a group is a way to it, nearest
// mount root first, then in mountinfo order, at most maxWays.
func TestResolveWays(t *testing.T) {
	mounts := []Mount{
		{Root: "/", Point: "/host/a", V2: true},
		{Root: "/s/app", Point: "/sys/fs/cgroup", V2: true},
		{Root: "/", Point: "/host/b", V2: true},
		{Root: "/s", Point: "/mnt/s", V2: true},
		{Root: "/", Point: "/host/c", V2: true},
		{Root: "/", Point: "/host/d", V2: true}, // a fourth way to "/" is not kept
		{Root: "/other", Point: "/mnt/other", V2: true},
	}
	l := Resolve("/r", []ProcEntry{{ID: "0", Path: "/s/app"}}, mounts)
	want := [][]Dir{
		{{"/r/sys/fs/cgroup", "/sys/fs/cgroup"}, {"/r/mnt/s/app", "/mnt/s"}, {"/r/host/a/s/app", "/host/a"}},
		{{"/r/mnt/s", "/mnt/s"}, {"/r/host/a/s", "/host/a"}, {"/r/host/b/s", "/host/b"}},
		{{"/r/host/a", "/host/a"}, {"/r/host/b", "/host/b"}, {"/r/host/c", "/host/c"}},
	}
	if !reflect.DeepEqual(l.Memory.Ways, want) {
		t.Errorf("ways\n%q\nwant\n%q", l.Memory.Ways, want)
	}
	if !reflect.DeepEqual(l.Memory.Dirs, []string{"/r/sys/fs/cgroup", "/r/mnt/s", "/r/host/a"}) || l.Memory.Mount != "/sys/fs/cgroup" || l.Memory.MountRoot != "/s/app" {
		t.Errorf("dirs %q, mount %q root %q", l.Memory.Dirs, l.Memory.Mount, l.Memory.MountRoot)
	}
}

// TestResolveDuplicateLines: the kernel writes one line per hierarchy; a
// second line for the same controller is passed over with a warning.
func TestResolveDuplicateLines(t *testing.T) {
	entries := []ProcEntry{{ID: "4", Controllers: []string{"memory"}, Path: "/a"}, {ID: "5", Controllers: []string{"memory"}, Path: "/b"},
		{ID: "0", Path: "/x"}, {ID: "0", Path: "/y"}}
	mounts := []Mount{{Root: "/", Point: "/m", Controllers: []string{"memory"}}, {Root: "/", Point: "/u", V2: true}}
	l := Resolve("/r", entries, mounts)
	if l.Memory.Group != "/a" || l.CPU.Group != "/x" {
		t.Errorf("groups %q %q, want the first lines' /a and /x", l.Memory.Group, l.CPU.Group)
	}
	var w []string
	for _, e := range l.Warnings {
		w = append(w, e.Error())
	}
	if len(w) != 2 || !strings.Contains(w[0], "2 lines for the v2 hierarchy") || !strings.Contains(w[1], `2 lines bind memory to a v1 hierarchy; the first (hierarchy "4") is used`) {
		t.Errorf("warnings %q", w)
	}
}

// manyHierarchies makes a /proc/self/cgroup of n lines and a mountinfo of
// n cgroup mounts, every one carrying memory and cpu, none holding the
// group of the line with the same number.
func manyHierarchies(n int) (procCgroup, mountinfo string) {
	var cg, mi strings.Builder
	for i := range n {
		fmt.Fprintf(&cg, "%d:memory,cpu,h%d:/g/%d\n", i+1, i, i)
		fmt.Fprintf(&mi, "%d 25 0:%d /g/%d/x /sys/fs/cgroup/h%d rw,nosuid,nodev,noexec,relatime shared:%d - cgroup cgroup rw,memory,cpu,h%d\n", 100+i, 30+i, i, i, i, i)
	}
	return cg.String(), mi.String()
}

// BenchmarkDiscover: discovery's cost against the number of
// /proc/self/cgroup lines and cgroup mounts (n of each, as in
// TestHostileManyHierarchies). It grows linearly: ns/op at 10000 is about
// 10 times that at 1000.
func BenchmarkDiscover(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			root := b.TempDir()
			cg, mi := manyHierarchies(n)
			writeFile(b, filepath.Join(root, "proc/self/cgroup"), cg)
			writeFile(b, filepath.Join(root, "proc/self/mountinfo"), mi)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Discover(root); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
