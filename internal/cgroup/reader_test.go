package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fixture is the path of a snapshot under the repository's testdata/.
func fixture(name string) string { return filepath.Join("..", "..", "testdata", name) }

// copyFixture copies a snapshot into a temporary directory the test may
// change.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(fixture(name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// os.WriteFile truncates and rewrites the same inode, as the kernel's
	// cgroup files change under an open descriptor.
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openFixture(t *testing.T, root string) *Reader {
	t.Helper()
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	rd := l.Open()
	t.Cleanup(rd.Close)
	return rd
}

func TestReaderReadAllocs(t *testing.T) {
	tests := []struct {
		name     string
		mem      int64
		memLevel int
		cpu      float64
		files    int
	}{
		// v1: memory.limit_in_bytes at two levels (not the hierarchy's
		// root group, which can hold no limit) and memory.stat; a
		// quota/period pair at two levels
		{"v1-parent-tighter", 256 << 20, 1, 1.5, 3 + 4},
		// v1 with the limit only in hierarchical_memory_limit
		{"v1-hierarchical-above-mount", 768 << 20, -1, 0, 2 + 2},
		// v2: memory.max and memory.high at four levels (not the root,
		// which has neither) and cpu.max at four
		{"k8s-v2-no-ns", 1 << 30, 1, 1.5, 8 + 4},
		{"escaped-paths", 100 << 20, 0, 2.5, 4 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := openFixture(t, fixture(tt.name))
			if n := len(rd.Files()); n != tt.files {
				t.Errorf("%d files open, want %d: %q", n, tt.files, rd.Files())
			}
			l := rd.Read()
			if l.Memory.Err != nil || l.CPU.Err != nil || l.Memory.Value != tt.mem || l.Memory.Level != tt.memLevel || l.CPU.Value != tt.cpu || l.Stale {
				t.Fatalf("Read = %+v, want memory %d (level %d), cpu %v", l, tt.mem, tt.memLevel, tt.cpu)
			}
			if n := testing.AllocsPerRun(200, func() { l = rd.Read() }); n != 0 {
				t.Errorf("Read allocates %v times", n)
			}
			if l.Memory.Value != tt.mem || l.CPU.Value != tt.cpu {
				t.Errorf("a later Read = %+v", l)
			}
		})
	}
}

func TestReaderRereadsOpenFiles(t *testing.T) {
	root := copyFixture(t, "k8s-v2-no-ns")
	pod := filepath.Join(root, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3e8f1a2b_4c5d_4e7f_8091_a2b3c4d5e6f7.slice")
	ctr := filepath.Join(pod, "cri-containerd-9f3c2b7e1d4a5f6081726354a9b8c7d6e5f40312a1b2c3d4e5f60718293a4b5c.scope")
	rd := openFixture(t, root)

	steps := []struct {
		file, content string
		mem           int64
		memSrc        string
		cpu, leaf     float64
		memErr        string
		cpuErr        string
	}{
		{"", "", 1 << 30, filepath.Join(pod, "memory.max"), 1.5, 0, "", ""},
		// the container gets a tighter memory.high and its own quota
		{filepath.Join(ctr, "memory.high"), "536870912\n", 512 << 20, filepath.Join(ctr, "memory.high"), 1.5, 0, "", ""},
		{filepath.Join(ctr, "cpu.max"), "50000 100000\n", 512 << 20, filepath.Join(ctr, "memory.high"), 0.5, 0.5, "", ""},
		// a longer value than before, then a shorter one: no stale bytes
		{filepath.Join(pod, "memory.max"), "268435456000\n", 512 << 20, filepath.Join(ctr, "memory.high"), 0.5, 0.5, "", ""},
		{filepath.Join(pod, "memory.max"), "4096\n", 4096, filepath.Join(pod, "memory.max"), 0.5, 0.5, "", ""},
		// a file turns bad: that part fails, the other is still read
		{filepath.Join(pod, "memory.max"), "garbage\n", 0, "", 0.5, 0.5, `memory.max: "garbage" is not a number`, ""},
		{filepath.Join(ctr, "cpu.max"), "0 100000\n", 0, "", 0, 0, `memory.max: "garbage"`, "cpu.max: a quota of 0 is not applied"},
		{filepath.Join(pod, "memory.max"), "max\n", 512 << 20, filepath.Join(ctr, "memory.high"), 0, 0, "", "a quota of 0"},
		{filepath.Join(ctr, "cpu.max"), "max 100000\n", 512 << 20, filepath.Join(ctr, "memory.high"), 1.5, 0, "", ""},
	}
	for i, s := range steps {
		if s.file != "" {
			writeFile(t, s.file, s.content)
		}
		l := rd.Read()
		if l.Memory.Value != s.mem || l.Memory.Src != s.memSrc || l.CPU.Value != s.cpu || l.CPU.Own != s.leaf {
			t.Errorf("step %d: %+v; want memory %d from %s, cpu %v (leaf %v)", i, l, s.mem, s.memSrc, s.cpu, s.leaf)
		}
		if !errMatches(l.Memory.Err, s.memErr) || !errMatches(l.CPU.Err, s.cpuErr) {
			t.Errorf("step %d: errors %v / %v, want %q / %q", i, l.Memory.Err, l.CPU.Err, s.memErr, s.cpuErr)
		}
		if l.Stale {
			t.Errorf("step %d: Stale set by a content error", i)
		}
	}
}

func TestReaderV1(t *testing.T) {
	root := copyFixture(t, "v1-parent-tighter")
	job := filepath.Join(root, "sys/fs/cgroup/cpu,cpuacct/batch/job42")
	rd := openFixture(t, root)
	if l := rd.Read(); l.CPU.Value != 1.5 || l.CPU.Own != 4 || l.CPU.Level != 1 {
		t.Fatalf("Read = %+v", l)
	}
	writeFile(t, filepath.Join(job, "cpu.cfs_period_us"), "400000\n") // the leaf is now 1 CPU
	if l := rd.Read(); l.CPU.Value != 1 || l.CPU.Own != 1 || l.CPU.Level != 0 || l.CPU.Src != filepath.Join(job, "cpu.cfs_quota_us") {
		t.Errorf("after a period change: %+v", l)
	}
	writeFile(t, filepath.Join(job, "cpu.cfs_period_us"), "0\n")
	if l := rd.Read(); l.CPU.Err == nil || !strings.Contains(l.CPU.Err.Error(), "cpu.cfs_period_us: 0 is not positive") || !strings.Contains(l.CPU.Err.Error(), job) {
		t.Errorf("after period 0: %v", l.CPU.Err)
	}
	memStat := filepath.Join(root, "sys/fs/cgroup/memory/batch/job42/memory.stat")
	data, err := os.ReadFile(memStat)
	if err != nil {
		t.Fatal(err)
	}
	// The mount's root is "/", so every ancestor's own file is read on
	// each Read and memory.stat only on every 10th: a change there (an
	// ancestor hidden by a cgroup namespace) shows within 10 reads, and
	// not on the very next one unless that is a 10th.
	readUntil := func(what string, ok func(Limits) bool) {
		t.Helper()
		for i := 1; i <= 10; i++ {
			l := rd.Read()
			if ok(l) {
				t.Logf("%s: seen on read %d", what, i)
				return
			}
			if i == 10 {
				t.Errorf("%s: not seen within 10 reads: %+v", what, l)
			}
		}
	}
	writeFile(t, memStat, strings.Replace(string(data), "hierarchical_memory_limit 268435456", "hierarchical_memory_limit 134217728", 1))
	readUntil("an ancestor above the mount tightened", func(l Limits) bool {
		return l.Memory.Value == 128<<20 && l.Memory.Level == -1 && l.Memory.Src == memStat+":hierarchical_memory_limit"
	})
	writeFile(t, memStat, strings.Replace(string(data), "hierarchical_memory_limit 268435456", "hierarchical_memory_limit x", 1))
	readUntil("a bad memory.stat", func(l Limits) bool {
		return l.Memory.Err != nil && strings.Contains(l.Memory.Err.Error(), memStat+":hierarchical_memory_limit") && strings.Contains(l.Memory.Err.Error(), `"x"`)
	})
}

func TestReaderV1SubtreeMountReadsMemoryStatEveryTime(t *testing.T) {
	root := copyFixture(t, "k8s-v1")
	rd := openFixture(t, root)
	first := rd.Read()
	if first.Memory.Err != nil {
		t.Fatalf("Read = %+v", first)
	}
	var memStat string
	for _, f := range rd.Files() {
		if strings.HasSuffix(f, "memory.stat") {
			memStat = f
		}
	}
	data, err := os.ReadFile(memStat)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^hierarchical_memory_limit \d+$`)
	if !re.Match(data) {
		t.Fatalf("%s has no hierarchical_memory_limit line", memStat)
	}
	writeFile(t, memStat, re.ReplaceAllString(string(data), "hierarchical_memory_limit 1048576"))
	if l := rd.Read(); l.Memory.Value != 1<<20 || l.Memory.Level != -1 {
		t.Errorf("a subtree mount must re-read memory.stat on every Read: %+v", l)
	}
}

func TestReaderOpenErrors(t *testing.T) {
	// the process's group directory is missing from the snapshot
	root := copyFixture(t, "v2-child-tighter")
	if err := os.RemoveAll(filepath.Join(root, "sys/fs/cgroup/batch.slice/job43.scope")); err != nil {
		t.Fatal(err)
	}
	rd := openFixture(t, root)
	l := rd.Read()
	for part, err := range map[string]error{"memory (cgroup v2)": l.Memory.Err, "cpu (cgroup v2)": l.CPU.Err} {
		if err == nil || !strings.Contains(err.Error(), "job43.scope") || !strings.HasPrefix(err.Error(), part) {
			t.Errorf("error %v, want one naming %s and the missing group", err, part)
		}
	}
	if l.Memory.Value != 0 || l.CPU.Value != 0 {
		t.Errorf("limits %+v from a missing group", l)
	}

	// a v1 quota without its period
	root = copyFixture(t, "k8s-v1")
	if err := os.Remove(filepath.Join(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")); err != nil {
		t.Fatal(err)
	}
	rd = openFixture(t, root)
	l = rd.Read()
	if l.CPU.Err == nil || !strings.Contains(l.CPU.Err.Error(), "cpu.cfs_period_us") || l.Memory.Err != nil || l.Memory.Value != 512<<20 {
		t.Errorf("Read = %+v, want a CPU error naming cpu.cfs_period_us and memory read", l)
	}
}

func TestReaderClose(t *testing.T) {
	rd := openFixture(t, fixture("k8s-v1"))
	rd.Close()
	rd.Close() // twice is harmless
	if l := rd.Read(); l.Memory.Value != 0 || l.CPU.Value != 0 || l.Memory.Err != nil || l.CPU.Err != nil {
		t.Errorf("Read after Close = %+v, want nothing", l)
	}
}

func BenchmarkReaderRead(b *testing.B) {
	for _, name := range []string{"v1-parent-tighter", "k8s-v2-no-ns"} {
		b.Run(name, func(b *testing.B) {
			l, err := Discover(fixture(name))
			if err != nil {
				b.Fatal(err)
			}
			rd := l.Open()
			defer rd.Close()
			b.ReportAllocs()
			for b.Loop() {
				rd.Read()
			}
		})
	}
}

// TestReaderNoticesAMove: a process moved to other groups keeps reading
// its old groups' files, which stay readable while the groups exist; the
// reader notices through /proc/self/cgroup on every 10th Read.
func TestReaderNoticesAMove(t *testing.T) {
	root := copyFixture(t, "v2-child-tighter")
	rd := openFixture(t, root)
	rd.WatchMoves()
	self := filepath.Join(root, "proc/self/cgroup")
	for i := 1; i <= 2*movedEvery; i++ {
		if i == movedEvery+3 {
			writeFile(t, self, "0::/batch.slice\n")
		}
		l := rd.Read()
		if want := i == 2*movedEvery; l.Stale != want {
			t.Errorf("read %d: Stale = %v, want %v", i, l.Stale, want)
		}
	}
}

// TestReaderV1FollowsOwnLimitAtOnce: with the whole v1 hierarchy visible,
// memory.stat is read only now and then, and its hierarchical_memory_limit
// still holds a group's old limit after the group's own file changed. The
// first Read after a raise or a removal must give the new value and name
// the visible file that set it, whichever Read of the ten it falls on.
func TestReaderV1FollowsOwnLimitAtOnce(t *testing.T) {
	root := copyFixture(t, "v1-child-tighter")
	batch := filepath.Join(root, "sys/fs/cgroup/memory/batch")
	job := filepath.Join(batch, "job43")
	stat, err := os.ReadFile(filepath.Join(job, "memory.stat"))
	if err != nil {
		t.Fatal(err)
	}
	hier := regexp.MustCompile(`(?m)^hierarchical_memory_limit \d+$`)
	const unlimited = 9223372036854771712
	// set writes the limits of the group and its parent, and memory.stat
	// as the kernel computes it from them.
	set := func(own, parent int64) {
		t.Helper()
		writeFile(t, filepath.Join(job, "memory.limit_in_bytes"), strconv.FormatInt(own, 10)+"\n")
		writeFile(t, filepath.Join(batch, "memory.limit_in_bytes"), strconv.FormatInt(parent, 10)+"\n")
		writeFile(t, filepath.Join(job, "memory.stat"), hier.ReplaceAllString(string(stat), "hierarchical_memory_limit "+strconv.FormatInt(min(own, parent), 10)))
	}
	ownFile, parentFile := filepath.Join(job, "memory.limit_in_bytes"), filepath.Join(batch, "memory.limit_in_bytes")
	steps := []struct {
		own, parent int64
		value       int64
		src         string
		level       int
	}{
		{256 << 20, unlimited, 256 << 20, ownFile, 0},
		{512 << 20, unlimited, 512 << 20, ownFile, 0},    // raised
		{-1, unlimited, 0, "", 0},                        // removed
		{-1, 1 << 30, 1 << 30, parentFile, 1},            // the parent gets one
		{256 << 20, 1 << 30, 256 << 20, ownFile, 0},      // the group gets one back
		{unlimited, unlimited, 0, "", 0},                 // both removed
		{128 << 20, 128 << 20, 128 << 20, ownFile, 0},    // a tie: the nearest group
		{128 << 20, 64 << 20, 64 << 20, parentFile, 1},   // the parent lowered below
		{unlimited, 64 << 20, 64 << 20, parentFile, 1},   // the group's removed, the parent's stays
		{512 << 20, unlimited, 512 << 20, ownFile, 0},    // swapped
		{unlimited, 512 << 20, 512 << 20, parentFile, 1}, // and back
		{300 << 20, unlimited, 300 << 20, ownFile, 0},    //
		{unlimited, unlimited, 0, "", 0},                 //
	}
	rd := openFixture(t, root)
	// Each step is taken at a different Read of the ten (13 steps of 3
	// Reads), so the change falls on every phase of memory.stat's cycle.
	for i := 0; i < 3*len(steps); i++ {
		s := steps[i/3]
		if i%3 == 0 {
			set(s.own, s.parent)
		}
		l := rd.Read()
		if l.Memory.Err != nil || l.Memory.Value != s.value || l.Memory.Src != s.src || l.Memory.Level != s.level {
			t.Errorf("read %d (step %d, %d after the change): %d from %q level %d (%v); want %d from %q level %d",
				i, i/3, i%3, l.Memory.Value, l.Memory.Src, l.Memory.Level, l.Memory.Err, s.value, s.src, s.level)
		}
	}
}

// TestReaderRefusesAFullBuffer: a read that fills the reader's buffer may
// have cut the file, and a number cut at the end is another number.
func TestReaderRefusesAFullBuffer(t *testing.T) {
	var r Reader
	size := len(r.buf)
	root := copyFixture(t, "k8s-v1") // a subtree mount: memory.stat read on every Read
	rd := openFixture(t, root)
	var memStat string
	for _, f := range rd.Files() {
		if strings.HasSuffix(f, "memory.stat") {
			memStat = f
		}
	}
	line := "hierarchical_memory_limit 268435456\n" // below the group's own 512 MiB
	pad := func(n int) string {                     // n bytes of other memory.stat lines
		s := strings.Repeat("total_cache 0\n", n/14+1)
		return s[:n-1] + "\n"
	}
	tests := []struct {
		name    string
		content string
		value   int64
		err     string
	}{
		{"one byte under the buffer", pad(size-1-len(line)) + line, 256 << 20, ""},
		{"exactly the buffer", pad(size-len(line)) + line, 0, fmt.Sprintf("%d bytes or more", size)},
		{"one byte over the buffer", pad(size+1-len(line)) + line, 0, fmt.Sprintf("%d bytes or more", size)},
		// "hierarchical_memory_limit 26" ends the buffer: without the
		// check, a limit of 26 bytes
		{"a limit cut at the buffer's end", pad(size-len(line)+8) + line, 0, "refused rather than cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, memStat, tt.content)
			l := rd.Read()
			if tt.err == "" {
				if l.Memory.Err != nil || l.Memory.Value != tt.value {
					t.Errorf("Read = %+v, want %d", l.Memory, tt.value)
				}
				return
			}
			if l.Memory.Value != 0 || l.Memory.Err == nil || !strings.Contains(l.Memory.Err.Error(), tt.err) || !strings.Contains(l.Memory.Err.Error(), memStat) {
				t.Errorf("Read = %+v, want an error naming %s and containing %q", l.Memory, memStat, tt.err)
			}
			if l.Stale {
				t.Error("Stale set by a file too long")
			}
		})
	}
	// the same for a limit file and the v1 period, which has its own buffer
	writeFile(t, memStat, line)
	period := filepath.Join(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")
	writeFile(t, period, strings.Repeat("0", 64))
	if l := rd.Read(); l.CPU.Err == nil || !strings.Contains(l.CPU.Err.Error(), period+": 64 bytes or more") {
		t.Errorf("a 64-byte period: %+v", l.CPU)
	}
	writeFile(t, period, strings.Repeat(" ", 56)+"100000\n")
	if l := rd.Read(); l.CPU.Err != nil || l.CPU.Value != 0.5 {
		t.Errorf("a 63-byte period: %+v", l.CPU)
	}
}

// TestReaderQuotesLittle: a file that is not a number is quoted in the
// error, at most 32 bytes of it, printable.
func TestReaderQuotesLittle(t *testing.T) {
	root := copyFixture(t, "v2-child-tighter")
	job := filepath.Join(root, "sys/fs/cgroup/batch.slice/job43.scope")
	writeFile(t, filepath.Join(job, "memory.max"), "root:$6$saltsaltsaltsa$hashhashhashhashhashhashhashhash:19000:0:99999:7:::\n\x00\x1b[2J")
	writeFile(t, filepath.Join(job, "cpu.max"), "\x1b[31mred 100000 and a great deal more text after it\n")
	rd := openFixture(t, root)
	l := rd.Read()
	for _, c := range []struct {
		err  error
		want string
	}{
		{l.Memory.Err, `memory.max: "root:$6$saltsaltsaltsa$hashhashh"... is not a number`},
		{l.CPU.Err, `cpu.max: "\x1b[31mred 100000 and a great deal"...: period: "100000 and a great deal more tex"... is not a number`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want it to contain %s", c.err, c.want)
		}
		if c.err != nil && (strings.Contains(c.err.Error(), "hashhashhashhash") || strings.ContainsAny(c.err.Error(), "\x00\x1b")) {
			t.Errorf("error %q quotes too much, or unprintable bytes", c.err)
		}
	}
}

// TestLimitSame: parts compare field by field, errors by presence only
// (each failed read makes a new error value).
func TestLimitSame(t *testing.T) {
	a := Limit[int64]{Value: 1, Src: "x", Level: 1, Own: 2, Mount: "/m"}
	for name, b := range map[string]Limit[int64]{
		"value": {Value: 2, Src: "x", Level: 1, Own: 2, Mount: "/m"},
		"src":   {Value: 1, Src: "y", Level: 1, Own: 2, Mount: "/m"},
		"level": {Value: 1, Src: "x", Level: 2, Own: 2, Mount: "/m"},
		"own":   {Value: 1, Src: "x", Level: 1, Own: 3, Mount: "/m"},
		"mount": {Value: 1, Src: "x", Level: 1, Own: 2, Mount: "/n"},
		"error": {Value: 1, Src: "x", Level: 1, Own: 2, Mount: "/m", Err: errors.New("e")},
	} {
		if a.Same(b) {
			t.Errorf("a part differing in %s is Same", name)
		}
	}
	e1, e2 := a, a
	e1.Err, e2.Err = errors.New("one"), errors.New("two")
	if !e1.Same(e2) || !a.Same(a) {
		t.Error("equal parts (errors by presence) are not Same")
	}
	if !(Limits{Memory: e1}).Same(Limits{Memory: e2}) || (Limits{Memory: a}).Same(Limits{}) {
		t.Error("Limits.Same does not follow its parts")
	}
}
