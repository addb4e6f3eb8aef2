package cgroup

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		want  []Mount // nil: no cgroup mount
		nerrs int
	}{
		{"v2", "32 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup", V2: true}}, 0},
		{"v1 combined", "26 25 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup/cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}}}, 0},
		{"v1 named with options", "27 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup/systemd", Controllers: []string{"name=systemd"}}}, 0},
		{"no optional fields, subtree root", "1180 1175 0:35 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory",
			[]Mount{{Root: "/docker/abc", Point: "/sys/fs/cgroup/memory", Controllers: []string{"memory"}}}, 0},
		{"many optional fields", "35 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:16 master:2 propagate_from:3 unbindable - cgroup cgroup rw,memory",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup/memory", Controllers: []string{"memory"}}}, 0},
		{"octal escapes", `612 28 0:27 /batch\040jobs /mnt/cgroup\040root\011x\134y rw - cgroup2 cgroup2 rw`,
			[]Mount{{Root: "/batch jobs", Point: "/mnt/cgroup root\tx\\y", V2: true}}, 0},
		{"carriage return and non-breaking space are path bytes", "36 35 0:30 /a\rb /mnt/job\u00a01 rw - cgroup2 cgroup2 rw",
			[]Mount{{Root: "/a\rb", Point: "/mnt/job\u00a01", V2: true}}, 0},
		{"double spaces between fields", "36  35 0:30 / /sys/fs/cgroup  rw  -  cgroup2 cgroup2 rw",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup", V2: true}}, 0},
		{"super options with spaces", "26 25 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,release_agent=/opt/my agent/x  ,cpuacct",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup/cpu", Controllers: []string{"cpu", "cpuacct"}}}, 0},
		{"source with a space", "26 25 0:22 / /sys/fs/cgroup/memory rw - cgroup my cgroup rw,memory",
			[]Mount{{Root: "/", Point: "/sys/fs/cgroup/memory", Controllers: []string{"cgroup rw", "memory"}}}, 0},
		{"no source or super options", "26 25 0:22 / /sys/fs/cgroup/x rw - cgroup", []Mount{{Root: "/", Point: "/sys/fs/cgroup/x"}}, 0},
		{"nsfs", "612 62 0:4 net:[4026532512] /run/netns/cni-5d3e rw shared:310 - nsfs nsfs rw", nil, 0},
		{"overlay", "1483 1361 0:346 / / rw,relatime master:400 - overlay overlay rw,lowerdir=/a:/b,upperdir=/c,workdir=/d", nil, 0},
		{"9p with escapes", `84 61 0:66 / /mnt/c rw,noatime - 9p C:\134 rw,dirsync,aname=drvfs;path=C:\;uid=1000`, nil, 0},
		{"bad escape in an unrelated mount", `1 2 0:1 / /mnt/a\9x rw - ext4 /dev/sda rw`, nil, 0},
		{"bad escape in a cgroup mount", `1187 1175 0:42 / /sys/fs/cgroup/rdma\9x ro - cgroup cgroup rw,rdma`, nil, 1},
		{"truncated escape", `1187 1175 0:42 / /sys/fs/cgroup/rdma\04 ro - cgroup cgroup rw,rdma`, nil, 1},
		{"escape above a byte", `1187 1175 0:42 / /sys/fs/cgroup/rdma\777 ro - cgroup cgroup rw,rdma`, nil, 1},
		{"no separator", "1121 1174 0:129 / /sys/firmware/efi ro,relatime", nil, 1},
		{"separator but no type", "1121 1174 0:129 / /sys/firmware/efi ro,relatime -", nil, 1},
		{"too few fields", "garbage", nil, 1},
		{"dash among the first six fields", "1 2 - / /x rw - cgroup2 cgroup2 rw", []Mount{{Root: "/", Point: "/x", V2: true}}, 0},
		{"blank", "   ", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseMountInfo([]byte(tt.line))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mounts %#v, want %#v", got, tt.want)
			}
			if len(errs) != tt.nerrs {
				t.Errorf("errors %v, want %d", errs, tt.nerrs)
			}
			for _, e := range errs {
				if !strings.Contains(e.Error(), "mountinfo line 1") {
					t.Errorf("error %q does not name the line", e)
				}
			}
		})
	}
}

func TestParseMountInfoBadLineDoesNotStopTheRest(t *testing.T) {
	text := "garbage\n" +
		"1187 1175 0:42 / /sys/fs/cgroup/rdma\\9x ro - cgroup cgroup rw,rdma\n" +
		"\n" +
		"1180 1175 0:35 / /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n" +
		"1121 1174 0:129 / /sys/firmware/efi ro,relatime"
	got, errs := ParseMountInfo([]byte(text))
	if len(got) != 1 || got[0].Point != "/sys/fs/cgroup/memory" {
		t.Errorf("mounts %#v, want only the memory mount", got)
	}
	if len(errs) != 3 {
		t.Fatalf("errors %v, want 3", errs)
	}
	for i, line := range []string{"line 1", "line 2", "line 5"} {
		if !strings.Contains(errs[i].Error(), line) {
			t.Errorf("error %q, want it to name %s", errs[i], line)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  []ProcEntry
		nerrs int
	}{
		{"v2", "0::/", []ProcEntry{{ID: "0", Path: "/"}}, 0},
		{"v2 deep", "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope\n",
			[]ProcEntry{{ID: "0", Path: "/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope"}}, 0},
		{"v1", "4:cpu,cpuacct:/docker/abc\n10:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
			[]ProcEntry{
				{ID: "4", Controllers: []string{"cpu", "cpuacct"}, Path: "/docker/abc"},
				{ID: "10", Controllers: []string{"memory"}, Path: "/docker/abc"},
				{ID: "1", Controllers: []string{"name=systemd"}, Path: "/docker/abc"},
			}, 0},
		{"untranslatable path", "1:name=systemd:/../../../system.slice/containerd.service",
			[]ProcEntry{{ID: "1", Controllers: []string{"name=systemd"}, Path: "/../../../system.slice/containerd.service"}}, 0},
		{"colons and spaces in the path", "0::/batch jobs/a:b", []ProcEntry{{ID: "0", Path: "/batch jobs/a:b"}}, 0},
		{"missing path", "13:misc", nil, 1},
		{"relative path", "13:misc:misc", nil, 1},
		{"empty id", ":memory:/", nil, 1},
		{"bad line among good", "garbage\n0::/a\n\n", []ProcEntry{{ID: "0", Path: "/a"}}, 1},
		{"empty", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseProcCgroup([]byte(tt.text))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries %#v, want %#v", got, tt.want)
			}
			if len(errs) != tt.nerrs {
				t.Errorf("errors %v, want %d", errs, tt.nerrs)
			}
			for _, e := range errs {
				if !strings.Contains(e.Error(), "/proc/self/cgroup line") {
					t.Errorf("error %q does not name the file and line", e)
				}
			}
		})
	}
}

func TestParseMemoryValue(t *testing.T) {
	tests := []struct {
		in      string
		v       int64
		limited bool
		err     string
	}{
		{"536870912\n", 536870912, true, ""},
		{"  1 ", 1, true, ""},
		{"0\n", 0, true, ""}, // the caller refuses it; the parser reports it
		{"max\n", 0, false, ""},
		{"-1\n", 0, false, ""},
		{"9223372036854771712\n", 0, false, ""}, // MaxInt64 rounded to 4 KiB pages
		{"9223372036854710272\n", 0, false, ""}, // ... to 64 KiB pages
		{"9223372036854775807", 0, false, ""},
		{"9223372035781033982", 9223372035781033982, true, ""}, // just over 1 GiB below MaxInt64: still a limit
		{"9223372035781033983", 0, false, ""},                  // 1 GiB below MaxInt64: taken as unlimited
		{"9223372036854775808", 0, false, "out of range"},
		{"99999999999999999999", 0, false, "not a number"},
		{"-2", 0, false, "negative"},
		{"garbage", 0, false, `"garbage" is not a number`},
		{"512M", 0, false, `"512M" is not a number`},
		{"1.5", 0, false, "not a number"},
		{"+5", 0, false, "not a number"},
		{"", 0, false, "not a number"},
		{"-", 0, false, "not a number"},
		{"MAX", 0, false, "not a number"},
		{"max max", 0, false, "not a number"},
	}
	for _, tt := range tests {
		v, limited, err := ParseMemoryValue([]byte(tt.in))
		if v != tt.v || limited != tt.limited || !errMatches(err, tt.err) {
			t.Errorf("ParseMemoryValue(%q) = %d, %v, %v; want %d, %v, error %q", tt.in, v, limited, err, tt.v, tt.limited, tt.err)
		}
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in      string
		v       float64
		limited bool
		err     string
	}{
		{"150000 100000\n", 1.5, true, ""},
		{"50000 100000", 0.5, true, ""},
		{"100000 50000", 2, true, ""},
		{"max 100000\n", 0, false, ""},
		{"0 100000", 0, true, ""}, // the caller refuses it
		{"50000   100000", 0.5, true, ""},
		{"max", 0, false, `expected "quota period"`},
		{"100000", 0, false, `expected "quota period"`},
		{"", 0, false, `expected "quota period"`},
		{"1.5 100000", 0, false, `quota: "1.5" is not a number`},
		{"50000 0", 0, false, "period 0 is not positive"},
		{"50000 -100000", 0, false, "period -100000 is not positive"},
		{"max garbage", 0, false, `period: "garbage" is not a number`},
		{"-1 100000", 0, false, "quota -1 is negative"},
		{"50000 100000 7", 0, false, "period"},
	}
	for _, tt := range tests {
		v, limited, err := ParseCPUMax([]byte(tt.in))
		if v != tt.v || limited != tt.limited || !errMatches(err, tt.err) {
			t.Errorf("ParseCPUMax(%q) = %v, %v, %v; want %v, %v, error %q", tt.in, v, limited, err, tt.v, tt.limited, tt.err)
		}
	}
}

func TestParseCPUV1(t *testing.T) {
	tests := []struct {
		quota, period string
		v             float64
		limited       bool
		err           string
	}{
		{"150000\n", "100000\n", 1.5, true, ""},
		{"100000", "50000", 2, true, ""},
		{"-1\n", "100000\n", 0, false, ""},
		{"-1", "garbage", 0, false, ""}, // no limit: the period does not matter
		{"0", "100000", 0, true, ""},    // the caller refuses it
		{"garbage", "100000", 0, false, `cpu.cfs_quota_us: "garbage" is not a number`},
		{"50000", "", 0, false, `cpu.cfs_period_us: "" is not a number`},
		{"50000", "0", 0, false, "cpu.cfs_period_us: 0 is not positive"},
		{"-5", "100000", 0, false, "cpu.cfs_quota_us: -5 is negative"},
	}
	for _, tt := range tests {
		v, limited, err := ParseCPUV1([]byte(tt.quota), []byte(tt.period))
		if v != tt.v || limited != tt.limited || !errMatches(err, tt.err) {
			t.Errorf("ParseCPUV1(%q, %q) = %v, %v, %v; want %v, %v, error %q", tt.quota, tt.period, v, limited, err, tt.v, tt.limited, tt.err)
		}
	}
}

func TestParseMemoryStat(t *testing.T) {
	const stat = "cache 5111808\nrss 1712128\nhierarchical_memory_limit 805306368\nhierarchical_memsw_limit 9223372036854771712\ntotal_cache 5111808\n"
	tests := []struct {
		name, text, key string
		v               int64
		limited, found  bool
		err             string
	}{
		{"limit", stat, "hierarchical_memory_limit", 805306368, true, true, ""},
		{"unlimited", stat, "hierarchical_memsw_limit", 0, false, true, ""},
		{"first line", stat, "cache", 5111808, true, true, ""},
		{"prefix of another key is not a match", stat, "hierarchical_memory", 0, false, false, ""},
		{"suffix of another key is not a match", "total_hierarchical_memory_limit 5\n", "hierarchical_memory_limit", 0, false, false, ""},
		{"absent", "cache 1\nrss 2", "hierarchical_memory_limit", 0, false, false, ""},
		{"last line without newline", "cache 1\nhierarchical_memory_limit 4096", "hierarchical_memory_limit", 4096, true, true, ""},
		{"garbage value", "hierarchical_memory_limit garbage\n", "hierarchical_memory_limit", 0, false, true, `"garbage" is not a number`},
		{"no value", "hierarchical_memory_limit \n", "hierarchical_memory_limit", 0, false, true, "not a number"},
		{"key alone", "hierarchical_memory_limit\n", "hierarchical_memory_limit", 0, false, false, ""},
		{"empty", "", "hierarchical_memory_limit", 0, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, limited, found, err := ParseMemoryStat([]byte(tt.text), tt.key)
			if v != tt.v || limited != tt.limited || found != tt.found || !errMatches(err, tt.err) {
				t.Errorf("got %d, %v, %v, %v; want %d, %v, %v, error %q", v, limited, found, err, tt.v, tt.limited, tt.found, tt.err)
			}
		})
	}
}

func TestParseNoAllocOnSuccess(t *testing.T) {
	mem, cpu, stat := []byte("536870912\n"), []byte("150000 100000\n"), []byte("cache 1\nhierarchical_memory_limit 805306368\n")
	q, p := []byte("150000\n"), []byte("100000\n")
	for name, f := range map[string]func(){
		"ParseMemoryValue": func() { ParseMemoryValue(mem) },
		"ParseCPUMax":      func() { ParseCPUMax(cpu) },
		"ParseCPUV1":       func() { ParseCPUV1(q, p) },
		"ParseMemoryStat":  func() { ParseMemoryStat(stat, "hierarchical_memory_limit") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

// errMatches reports whether err is nil when want is "" and otherwise
// contains want.
func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
