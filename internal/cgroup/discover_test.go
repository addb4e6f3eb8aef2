package cgroup

import (
	"path/filepath"
	"reflect"
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
