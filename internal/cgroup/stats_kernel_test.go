package cgroup

// A real-kernel test of the StatsReader: on this host's cgroup v1 memory
// hierarchy, a child allocates past its group's limit and is OOM-killed.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// oomChildEnv makes the test binary a child that allocates on command
// (TestMain runs oomChild).
const oomChildEnv = "GOTUNE_TEST_OOM_CHILD"

// oomChild is the child TestStatsSeeAnOOMKill runs: it prints "ready",
// then for each line on stdin "alloc N" allocates and touches N MiB, keeps
// it and prints "ok"; "grow" allocates 4 MiB at a time until the kernel
// kills it. It returns when stdin closes.
func oomChild() int {
	var kept [][]byte
	alloc := func(mib int) {
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		kept = append(kept, b)
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "alloc":
			n, _ := strconv.Atoi(arg)
			alloc(n)
			fmt.Println("ok")
		case "grow":
			for {
				alloc(4)
			}
		}
	}
	return 0
}

// TestStatsSeeAnOOMKill runs a child in a group beneath the test's own,
// makes it allocate past a memory limit and checks what the StatsReader
// (opened on the child's groups) sees: usage move, failcnt rise at the
// group whose limit was hit, and oom_kill rise at the child's own group
// (v1 keeps event counts where they happen: an ancestor's limit shows in
// its failcnt, not in its oom_kill).
func TestStatsSeeAnOOMKill(t *testing.T) {
	const limit = 96 << 20
	tests := []struct {
		name      string
		limitedUp bool // the limit is on the parent of the child's group
	}{
		{"limit on the group", false},
		{"limit on the parent", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := cgrouptest.New(t)
			limited, in := g, g
			if tt.limitedUp {
				in = g.Child(t, "leaf")
			}
			limited.SetMemory(t, limit)
			cgrouptest.Write(t, limited.Memory, "memory.swappiness", "0")

			cmd := in.Command(os.Args[0], "-test.run=^$")
			cmd.Env = cgrouptest.ChildEnv(oomChildEnv + "=1")
			stdin, stdout := cgrouptest.StartPiped(t, cmd)
			out := bufio.NewScanner(stdout)
			expect := func(want string) {
				t.Helper()
				if !out.Scan() || out.Text() != want {
					t.Fatalf("child said %q (%v), want %q", out.Text(), out.Err(), want)
				}
			}
			expect("ready")

			sr := childStats(t, cmd.Process.Pid)
			want := map[int]string{0: in.Memory}
			if tt.limitedUp {
				want[1] = limited.Memory
			}
			for level, dir := range want {
				if sr.Dir(level) != dir {
					t.Fatalf("level %d: %s, want %s", level, sr.Dir(level), dir)
				}
			}
			var before, mid, after Stats
			read := func(s *Stats) {
				t.Helper()
				if err := sr.Read(s); err != nil {
					t.Fatal(err)
				}
				if !s.Events.OK || !s.Usage.OK || !s.Peak.OK || s.Version != 1 || s.Memory.OK || s.Memory.Reason != reasonV1PSI {
					t.Fatalf("Stats %+v", s)
				}
			}
			read(&before)
			own, _ := before.EventsAt(0)
			lim, ok := before.EventsAt(len(want) - 1)
			if !ok || own.OOMKill != 0 || lim.OOMKill != 0 || lim.Failcnt != 0 {
				t.Fatalf("a fresh group: %+v", before.Group[:before.NGroups])
			}

			fmt.Fprintln(stdin, "alloc 16")
			expect("ok")
			read(&mid)
			if mid.Usage.Value < before.Usage.Value+15<<20 {
				t.Errorf("usage %d after 16 MiB more, was %d", mid.Usage.Value, before.Usage.Value)
			}

			fmt.Fprintln(stdin, "grow")
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child ended with %v, want SIGKILL from the OOM killer", err)
			}
			// The count is raised before the signal is sent; poll briefly
			// all the same, the kernel owes no ordering to our Wait.
			deadline := time.Now().Add(5 * time.Second)
			for {
				read(&after)
				if g, _ := after.EventsAt(0); g.OOMKill >= 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond) // polling the kernel's counter
			}
			// The peak is re-read on every 10th Read.
			for range peakEvery {
				read(&after)
			}
			own, _ = after.EventsAt(0)
			lim, _ = after.EventsAt(len(want) - 1)
			t.Logf("before %+v\nafter %+v\nusage %d → %d → %d, peak %d", before.Group[:before.NGroups], after.Group[:after.NGroups],
				before.Usage.Value, mid.Usage.Value, after.Usage.Value, after.Peak.Value)
			if own.OOMKill != 1 {
				t.Errorf("oom_kill of the child's group %d, want 1", own.OOMKill)
			}
			if lim.Failcnt == 0 {
				t.Errorf("failcnt of the limited group did not rise")
			}
			if tt.limitedUp {
				if lim.OOMKill != 0 {
					t.Errorf("the parent's oom_kill %d: v1 counts a kill only in the victim's group", lim.OOMKill)
				}
				if own.Failcnt != 0 {
					t.Errorf("the leaf's failcnt %d: it has no limit to hit", own.Failcnt)
				}
			}
			// The peak of a leaf below the limited group can pass the limit
			// by a charge batch: the kernel raises each counter on the way
			// up and undoes it when an ancestor refuses.
			if after.Peak.Value < limit*9/10 || after.Peak.Value > limit+1<<20 {
				t.Errorf("peak %d, want near the limit %d", after.Peak.Value, limit)
			}
			if after.Usage.Value >= mid.Usage.Value {
				t.Errorf("usage %d after the kill, %d before", after.Usage.Value, mid.Usage.Value)
			}
		})
	}
}

// childStats opens a StatsReader on the groups of process pid.
func childStats(t *testing.T, pid int) *StatsReader {
	t.Helper()
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := ParseProcCgroup(cg)
	mounts, _ := ParseMountInfo(mi)
	l := Resolve("/", entries, mounts)
	if l.Memory.Version != 1 {
		cgrouptest.Unavailable(t, "the memory controller is not on cgroup v1 here: %+v", l.Memory)
	}
	sr := l.OpenStats()
	t.Cleanup(sr.Close)
	return sr
}
