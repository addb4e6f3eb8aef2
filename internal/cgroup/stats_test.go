package cgroup

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// statsFixture is the path of a snapshot under this package's testdata/.
func statsFixture(name string) string { return filepath.Join("testdata", name) }

func openStats(t testing.TB, root string) *StatsReader {
	t.Helper()
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	sr := l.OpenStats()
	t.Cleanup(sr.Close)
	return sr
}

// groupWant is what one GroupEvents must hold.
type groupWant struct {
	level int
	dir   string // the group's directory, under the snapshot's sys/fs/cgroup
	GroupEvents
}

const (
	k8sPod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1d2e3f_4a5b_4c6d_8e9f_0a1b2c3d4e5f.slice"
	k8sCtr = k8sPod + "/cri-containerd-4f2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f.scope"
)

func TestStatsSnapshots(t *testing.T) {
	tests := []struct {
		name            string
		root            string
		version         int
		memory, cpu, io PSI
		psiWhy          string // a part of each PSI reason; "" when read
		groups          []groupWant
		unlimited       int // a level without a limit, not read
		eventsWhy       string
		usage, peak     uint64
		usageWhy        string
		peakWhy         string
	}{
		{
			// Kubernetes v2: PSI of the container; events of the container
			// (no limit, always read), of the pod (512 MiB, a sibling was
			// OOM-killed: the pod's count includes it) and of kubepods.slice
			// (node allocatable); kubepods-burstable.slice has no limit and
			// is passed over.
			name: "v2 with PSI", root: statsFixture("stats-v2-psi"), version: 2,
			memory: PSI{Some: PSILine{1.53, 0.80, 0.21, 3460012}, Full: PSILine{0.91, 0.42, 0.10, 1870232}, HasFull: true},
			cpu:    PSI{Some: PSILine{12.50, 9.71, 4.02, 81234567}, Full: PSILine{3.10, 2.05, 0.88, 20456789}, HasFull: true},
			io:     PSI{Some: PSILine{0, 0.03, 0.01, 120456}, Full: PSILine{0, 0.02, 0, 98012}, HasFull: true},
			groups: []groupWant{
				{0, k8sCtr, GroupEvents{}},
				{1, k8sPod, GroupEvents{MemoryEventCounts: MemoryEventCounts{Max: 41, OOM: 1, OOMKill: 1}}},
				{3, "kubepods.slice", GroupEvents{MemoryEventCounts: MemoryEventCounts{Max: 97, OOM: 3, OOMKill: 3}}},
			},
			usage: 210763776, peak: 402653184, unlimited: 2,
		},
		{
			// psi=0 or a kernel before 4.20: no pressure files; a 5.4 kernel
			// has no memory.peak; system.slice has no limit.
			name: "v2 without PSI", root: statsFixture("stats-v2-no-psi"), version: 2,
			psiWhy: "PSI off: psi=0",
			groups: []groupWant{
				{0, "system.slice/billing.service", GroupEvents{MemoryEventCounts: MemoryEventCounts{Max: 7, OOM: 2, OOMKill: 2}}},
			},
			usage: 1069547520, peakWhy: "memory.peak (kernel before 5.19)",
		},
		{
			// v1: the job (256 MiB, OOM-killed twice) and its parent (1 GiB);
			// the hierarchy's root has no limit and is not read.
			name: "v1 with oom_control", root: statsFixture("stats-v1-oom"), version: 1,
			psiWhy: "cgroup v1 has no per-group pressure files",
			groups: []groupWant{
				{0, "memory/batch/job7", GroupEvents{MemoryEventCounts: MemoryEventCounts{OOMKill: 2}, Failcnt: 5821}},
				{1, "memory/batch", GroupEvents{Failcnt: 12}},
			},
			usage: 267911168, peak: 268435456,
		},
		{
			// This machine's layout, memory on v1: the snapshot holds the
			// limit files only.
			name: "hybrid, memory on v1, no event files", root: fixture("hybrid-this-machine"), version: 1,
			psiWhy: "cgroup v1 has no per-group pressure files", eventsWhy: "memory.oom_control",
			usageWhy: "memory.usage_in_bytes", peakWhy: "memory.max_usage_in_bytes",
		},
		{
			// v2, the process in the root group, which has none of the files.
			name: "v2 root group", root: fixture("v2-root-group"), version: 2,
			psiWhy: "(PSI off: psi=0 or CONFIG_PSI unset, or kernel before 4.20)", eventsWhy: "memory.events (kernel before 4.5)",
			usageWhy: "memory.current", peakWhy: "memory.peak",
		},
		{
			name: "no memory controller", root: fixture("v1-no-memory-controller"),
			psiWhy: "the kernel has no memory controller", eventsWhy: "no memory controller",
			usageWhy: "no memory controller", peakWhy: "no memory controller",
		},
		{
			name: "no cgroup mounted", root: fixture("no-mounts"),
			psiWhy: "no memory cgroup: memory", eventsWhy: "no memory cgroup", usageWhy: "no memory cgroup", peakWhy: "no memory cgroup",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr := openStats(t, tt.root)
			var s Stats
			if err := sr.Read(&s); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if s.Version != tt.version {
				t.Errorf("Version %d, want %d", s.Version, tt.version)
			}
			for i, p := range []Pressure{s.Memory, s.CPU, s.IO} {
				name := psiNames[i]
				want := []PSI{tt.memory, tt.cpu, tt.io}[i]
				checkAvail(t, name, p.Avail, tt.psiWhy)
				if p.PSI != want {
					t.Errorf("%s: %+v, want %+v", name, p.PSI, want)
				}
			}
			checkAvail(t, "events", s.Events, tt.eventsWhy)
			if s.NGroups != len(tt.groups) {
				t.Fatalf("%d groups, want %d: %+v", s.NGroups, len(tt.groups), s.Group[:s.NGroups])
			}
			for i, w := range tt.groups {
				w.Level, w.OK = w.level, true
				if s.Group[i] != w.GroupEvents {
					t.Errorf("group %d: %+v, want %+v", i, s.Group[i], w.GroupEvents)
				}
				if dir := filepath.Join(tt.root, "sys/fs/cgroup", w.dir); sr.Dir(w.level) != dir {
					t.Errorf("group %d: Dir(%d) = %s, want %s", i, w.level, sr.Dir(w.level), dir)
				}
				if g, ok := s.EventsAt(w.level); !ok || g != s.Group[i] {
					t.Errorf("EventsAt(%d) = %+v, %v", w.level, g, ok)
				}
			}
			if tt.unlimited > 0 {
				if _, ok := s.EventsAt(tt.unlimited); ok {
					t.Errorf("level %d, without a limit, was read", tt.unlimited)
				}
			}
			checkAvail(t, "usage", s.Usage.Avail, tt.usageWhy)
			checkAvail(t, "peak", s.Peak.Avail, tt.peakWhy)
			if s.Usage.Value != tt.usage || s.Peak.Value != tt.peak {
				t.Errorf("usage %d, peak %d; want %d, %d", s.Usage.Value, s.Peak.Value, tt.usage, tt.peak)
			}
			for _, f := range sr.Files() {
				if !strings.HasPrefix(f, tt.root) {
					t.Errorf("file %s outside the snapshot", f)
				}
			}
			if n := testing.AllocsPerRun(100, func() { sr.Read(&s) }); n != 0 {
				t.Errorf("Read allocates %v times", n)
			}
		})
	}
}

// checkAvail checks a part read (why == "") or not, with a reason that
// holds why.
func checkAvail(t *testing.T, part string, a Avail, why string) {
	t.Helper()
	if why == "" {
		if !a.OK || a.Reason != "" {
			t.Errorf("%s: %+v, want it read", part, a)
		}
		return
	}
	if a.OK || !strings.Contains(a.Reason, why) {
		t.Errorf("%s: %+v, want it unavailable because %q", part, a, why)
	}
}

// TestStatsEverySnapshot: whatever a snapshot lacks, OpenStats and Read
// return no error, and every part is read or says why not.
func TestStatsEverySnapshot(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "proc"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no snapshots: %v", err)
	}
	for _, d := range dirs {
		root := filepath.Dir(d)
		t.Run(filepath.Base(root), func(t *testing.T) {
			sr := openStats(t, root)
			var s Stats
			if err := sr.Read(&s); err != nil {
				t.Errorf("Read: %v", err)
			}
			for part, a := range map[string]Avail{"memory PSI": s.Memory.Avail, "cpu PSI": s.CPU.Avail, "io PSI": s.IO.Avail,
				"events": s.Events, "usage": s.Usage.Avail, "peak": s.Peak.Avail} {
				if a.OK == (a.Reason != "") {
					t.Errorf("%s: %+v", part, a)
				}
			}

			// Told by a limit Reader which ancestors have a memory limit,
			// the same files are opened as by looking.
			l, err := Discover(root)
			if err != nil {
				t.Fatal(err)
			}
			rd := l.Open()
			defer rd.Close()
			rd.Read()
			with := l.OpenStatsWith(rd)
			defer with.Close()
			if a, b := sr.Files(), with.Files(); !slices.Equal(a, b) {
				t.Errorf("OpenStats opened %q, OpenStatsWith %q", a, b)
			}
		})
	}
}

// TestStatsRereadsOpenFiles: the counters move between reads; a file that
// turns bad fails its part alone, with an error naming it, and the next
// good read recovers.
func TestStatsRereadsOpenFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "snap")
	if err := os.CopyFS(root, os.DirFS(statsFixture("stats-v2-psi"))); err != nil {
		t.Fatal(err)
	}
	ctr := filepath.Join(root, "sys/fs/cgroup", k8sCtr)
	pod := filepath.Join(root, "sys/fs/cgroup", k8sPod)
	sr := openStats(t, root)
	var s Stats

	steps := []struct {
		file, content string
		err           string // a part of the error Read returns
		check         func(Stats) bool
	}{
		{filepath.Join(ctr, "memory.pressure"), "some avg10=30.00 avg60=10.00 avg300=2.00 total=9460012\nfull avg10=25.50 avg60=8.00 avg300=1.50 total=7870232\n", "",
			func(s Stats) bool {
				return s.Memory.OK && s.Memory.Full.Avg10 == 25.5 && s.Memory.Full.Total == 7870232
			}},
		{filepath.Join(pod, "memory.events"), "low 0\nhigh 0\nmax 45\noom 2\noom_kill 2\noom_group_kill 0\n", "",
			func(s Stats) bool { g, ok := s.EventsAt(1); return ok && g.OOMKill == 2 && g.Max == 45 && s.Events.OK }},
		// a longer value, then a shorter one: no stale bytes
		{filepath.Join(ctr, "memory.current"), "1210763776\n", "", func(s Stats) bool { return s.Usage.Value == 1210763776 }},
		{filepath.Join(ctr, "memory.current"), "4096\n", "", func(s Stats) bool { return s.Usage.OK && s.Usage.Value == 4096 }},
		// a bad file fails its part only
		{filepath.Join(ctr, "memory.pressure"), "some avg10=x total=1\n", filepath.Join(ctr, "memory.pressure") + `: line 1: "some avg10=x total=1": "x" is not a decimal number`,
			func(s Stats) bool {
				return !s.Memory.OK && s.Memory.Reason == ReasonReadFailed && s.Memory.PSI == PSI{} && s.CPU.OK && s.Events.OK && s.Usage.OK
			}},
		{filepath.Join(pod, "memory.events"), "oom_kill many\n", filepath.Join(pod, "memory.events") + `: line 1: "oom_kill": "many" is not a number`,
			func(s Stats) bool {
				g0, ok0 := s.EventsAt(0)
				_, ok1 := s.EventsAt(1)
				return !s.Events.OK && s.Events.Reason == ReasonReadFailed && ok0 && g0.Level == 0 && !ok1 && !s.Memory.OK
			}},
		// PSI mended (without its full line now); the others are still bad
		{filepath.Join(ctr, "memory.pressure"), "some avg10=0.00 avg60=0.00 avg300=0.00 total=9460013\n", "memory.events: line 1",
			func(s Stats) bool { return s.Memory.OK && !s.Memory.HasFull && s.Memory.Some.Total == 9460013 }},
	}
	for i, st := range steps {
		writeFile(t, st.file, st.content)
		err := sr.Read(&s)
		if !errMatches(err, st.err) {
			t.Errorf("step %d: error %v, want one with %q", i, err, st.err)
		}
		if !st.check(s) {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	writeFile(t, filepath.Join(pod, "memory.events"), "oom_kill 3\n")
	if err := sr.Read(&s); err != nil || !s.Events.OK || !s.Memory.OK {
		t.Errorf("after the files were mended: %v, %+v", err, s)
	}

	// The peak, a high-water mark, is read on every 10th Read: a change
	// shows within 10, and not on the next Read unless that is a 10th.
	peak := filepath.Join(ctr, "memory.peak")
	readUntil := func(what string, want func(error, Stats) bool) {
		t.Helper()
		for i := 1; i <= peakEvery; i++ {
			err := sr.Read(&s)
			if want(err, s) {
				if (sr.reads-1)%peakEvery != 0 {
					t.Errorf("%s: seen on read %d of the reader, which does not read the peak", what, sr.reads)
				}
				return
			}
		}
		t.Errorf("%s: not seen within %d reads: %+v", what, peakEvery, s.Peak)
	}
	writeFile(t, peak, "502653184\n")
	readUntil("a higher peak", func(err error, s Stats) bool { return err == nil && s.Peak.OK && s.Peak.Value == 502653184 })
	// a file larger than any statistics file (1 MiB): read again on every
	// Read until it reads well
	writeFile(t, peak, strings.Repeat("9", 1<<20))
	readUntil("a huge peak file", func(err error, s Stats) bool {
		return errMatches(err, "memory.peak: 1024 bytes or more") && !s.Peak.OK && s.Peak.Value == 0
	})
	writeFile(t, peak, "602653184\n")
	if err := sr.Read(&s); err != nil || !s.Peak.OK || s.Peak.Value != 602653184 {
		t.Errorf("after a failed peak read, the next Read reads it: %v, %+v", err, s.Peak)
	}
}

func TestStatsClose(t *testing.T) {
	sr := openStats(t, statsFixture("stats-v1-oom"))
	if len(sr.Files()) != 1+1+2+2 { // usage, peak, and two groups' oom_control and failcnt
		t.Errorf("files open: %q", sr.Files())
	}
	sr.Close()
	sr.Close()
	var s Stats
	if err := sr.Read(&s); err != nil {
		t.Fatal(err)
	}
	if s.Events.OK || s.Usage.OK || s.NGroups != 0 || !strings.Contains(s.Usage.Reason, "closed") {
		t.Errorf("Read after Close: %+v", s)
	}
}

// BenchmarkStatsRead reads the kernel's view on this machine (its real
// files; beside it the limit Reader on the same layout, to compare in one
// run) and in snapshots.
func BenchmarkStatsRead(b *testing.B) {
	for _, name := range []string{"host", "host-limit-reader", "stats-v2-psi", "stats-v1-oom"} {
		b.Run(name, func(b *testing.B) {
			root := statsFixture(name)
			if strings.HasPrefix(name, "host") {
				if runtime.GOOS != "linux" {
					b.Skip("no cgroups here")
				}
				root = "/"
			}
			l, err := Discover(root)
			if err != nil {
				b.Fatal(err)
			}
			if name == "host-limit-reader" {
				rd := l.Open()
				defer rd.Close()
				b.ReportAllocs()
				for b.Loop() {
					rd.Read()
				}
				return
			}
			sr := l.OpenStats()
			defer sr.Close()
			var s Stats
			if err := sr.Read(&s); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sr.Read(&s)
			}
		})
	}
}

// TestStatsHostileFiles: a file one byte short of the buffer is read, one
// that fills it is an error naming it, and /dev/zero in place of a file
// ends at once with the part unavailable (an error from Read, or a reason
// from OpenStats where symbolic links are not followed).
func TestStatsHostileFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "snap")
	if err := os.CopyFS(root, os.DirFS(statsFixture("stats-v1-oom"))); err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(root, "sys/fs/cgroup/memory/batch/job7")
	oom := filepath.Join(job, "memory.oom_control")
	usage := filepath.Join(job, "memory.usage_in_bytes")
	sr := openStats(t, root)
	var s Stats

	pad := func(n int) string { // "oom_kill 5\n" and unknown keys, n bytes in all
		b := []byte("oom_kill 5\n")
		for len(b) < n {
			b = append(b, "x 0\n"...)
		}
		b = b[:n]
		b[n-1] = '\n'
		return string(b)
	}
	writeFile(t, oom, pad(len(sr.buf)-1))
	if err := sr.Read(&s); err != nil || s.Group[0].OOMKill != 5 {
		t.Errorf("a file of %d bytes: %v, %+v", len(sr.buf)-1, err, s.Group[0])
	}
	writeFile(t, oom, pad(len(sr.buf)))
	if err := sr.Read(&s); !errMatches(err, oom+": 1024 bytes or more") || s.Events.OK || s.Group[0].OK {
		t.Errorf("a file of %d bytes: %v, %+v", len(sr.buf), err, s.Group[0])
	}

	if err := os.Remove(usage); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", usage); err != nil {
		t.Fatal(err)
	}
	sr = openStats(t, root)
	err := sr.Read(&s)
	switch {
	case s.Usage.OK:
		t.Errorf("/dev/zero as %s read as %d", usage, s.Usage.Value)
	case s.Usage.Reason == ReasonReadFailed:
		if !errMatches(err, usage+": longer than") {
			t.Errorf("/dev/zero: %v", err)
		}
	case !strings.Contains(s.Usage.Reason, usage):
		t.Errorf("/dev/zero not opened, but the reason does not name it: %q", s.Usage.Reason)
	}
}
