package main

// Real-kernel tests of `tune -watch`: the built command runs inside a
// cgroup group (v1 here, v1 or v2 in the VM lane) made beneath the test's own, the test changes the
// group's limits and reads the JSON lines the command prints. They skip
// where cgroups cannot be made, and fail instead under
// GOTUNE_TEST_REQUIRE_CGROUPS=1.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// buildTune is this command, built once per test binary (or, in the VM
// lane, ahead of time).
func buildTune(t *testing.T) string {
	t.Helper()
	return cgrouptest.Build(t, ".")
}

func TestMain(m *testing.M) {
	code := m.Run()
	cgrouptest.RemoveBuilds()
	os.Exit(code)
}

// watcher is a running `tune -watch` and the lines it printed.
type watcher struct {
	cmd    *exec.Cmd
	lines  <-chan watchLine
	stderr *cgrouptest.Buffer
	last   watchLine
	wait   time.Duration
}

const watchRefresh = 100 * time.Millisecond

// startWatch runs `tune -watch` inside g with a refresh of watchRefresh.
func startWatch(t *testing.T, g *cgrouptest.Group, env ...string) *watcher {
	t.Helper()
	w := &watcher{
		cmd:    g.Command(buildTune(t), "-watch"),
		stderr: &cgrouptest.Buffer{},
		// Two refresh intervals, plus slack for a loaded machine.
		wait: 2*watchRefresh + 3*time.Second,
	}
	w.cmd.Env = cgrouptest.ChildEnv(append([]string{"GOTUNE_REFRESH=" + watchRefresh.String()}, env...)...)
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting tune -watch: %v", err)
	}
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	})
	w.lines = cgrouptest.JSONLines[watchLine](t, "tune -watch", out, 100)
	return w
}

// expect waits up to w.wait for a line that satisfies ok, and fails the
// test with what was seen if none comes.
func (w *watcher) expect(t *testing.T, what string, ok func(watchLine) bool) {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(w.wait)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case l, open := <-w.lines:
			if !open {
				t.Fatalf("%s: tune -watch ended; lines seen: %v\nstderr:\n%s", what, seen, w.stderr.String())
			}
			w.last = l
			if ok(l) {
				t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			seen = append(seen, describe(l))
		case <-timer.C:
			t.Fatalf("%s: not within %v; lines seen: %v\nstderr:\n%s", what, w.wait, seen, w.stderr.String())
		}
	}
}

func describe(l watchLine) string {
	s := func(p *int64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	q := "null"
	if l.CPU.Quota != nil {
		q = fmt.Sprint(*l.CPU.Quota)
	}
	return fmt.Sprintf("{limit %s gomemlimit %s quota %s gomaxprocs %d pressure %s}",
		s(l.Memory.Limit), s(l.Memory.GOMEMLIMIT), q, l.CPU.GOMAXPROCS, l.Pressure.Level)
}

func is(p *int64, v int64) bool { return p != nil && *p == v }

func ninety(b int64) int64 { return int64(0.9 * float64(b)) }

func TestWatchFollowsLimits(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	g.SetCPU(t, 100000, 100000) // 1 CPU
	// The floor policy makes a quota change visible on a 2-CPU machine:
	// quota 1 → GOMAXPROCS 1, quota 2 → 2.
	w := startWatch(t, g, "GOTUNE_MAXPROCS=floor")

	w.expect(t, "first line: 300MiB limit, GOMEMLIMIT 90% of it, GOMAXPROCS 1", func(l watchLine) bool {
		return is(l.Memory.Limit, 300<<20) && is(l.Memory.GOMEMLIMIT, ninety(300<<20)) &&
			l.CPU.Quota != nil && *l.CPU.Quota == 1 && l.CPU.GOMAXPROCS == 1
	})
	steps := []struct {
		name   string
		change func()
		ok     func(watchLine) bool
	}{
		{"memory lowered to 200MiB", func() { g.SetMemory(t, 200<<20) }, func(l watchLine) bool {
			return is(l.Memory.Limit, 200<<20) && is(l.Memory.GOMEMLIMIT, ninety(200<<20))
		}},
		{"memory raised to 400MiB", func() { g.SetMemory(t, 400<<20) }, func(l watchLine) bool {
			return is(l.Memory.Limit, 400<<20) && is(l.Memory.GOMEMLIMIT, ninety(400<<20))
		}},
		{"CPU quota raised to 2", func() { g.SetCPU(t, 200000, 100000) }, func(l watchLine) bool {
			return l.CPU.Quota != nil && *l.CPU.Quota == 2 && l.CPU.GOMAXPROCS == 2
		}},
		{"CPU quota lowered to 1", func() { g.SetCPU(t, 100000, 100000) }, func(l watchLine) bool {
			return l.CPU.Quota != nil && *l.CPU.Quota == 1 && l.CPU.GOMAXPROCS == 1
		}},
		// The floor policy hands GOMAXPROCS back to the runtime when the
		// quota goes (the auto policy's hand back is in
		// TestWatchAncestorQuota).
		{"CPU quota removed: GOMAXPROCS back to the runtime's default", func() { g.SetCPU(t, -1, 100000) }, func(l watchLine) bool {
			return l.CPU.Quota == nil && l.CPU.GOMAXPROCS == runtime.NumCPU() && l.CPU.Action == tune.ActionRuntime
		}},
		{"CPU quota back at 1", func() { g.SetCPU(t, 100000, 100000) }, func(l watchLine) bool {
			return l.CPU.Quota != nil && *l.CPU.Quota == 1 && l.CPU.GOMAXPROCS == 1
		}},
		{"memory limit removed: GOMEMLIMIT back to none", func() { g.SetMemory(t, -1) }, func(l watchLine) bool {
			return l.Memory.Limit == nil && l.Memory.GOMEMLIMIT == nil
		}},
		{"memory limit back", func() { g.SetMemory(t, 250<<20) }, func(l watchLine) bool {
			return is(l.Memory.Limit, 250<<20) && is(l.Memory.GOMEMLIMIT, ninety(250<<20))
		}},
	}
	for _, s := range steps {
		s.change()
		w.expect(t, s.name, s.ok)
	}
	if l := w.last; l.Pressure.Level.String() != "none" {
		t.Errorf("pressure level %s in an idle command, want none", l.Pressure.Level)
	}

	// SIGTERM ends it cleanly.
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range w.lines {
	}
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("tune -watch after SIGTERM: %v, want exit status 0\nstderr:\n%s", err, w.stderr.String())
	}
	// Each change was one Info line naming old → new and the source, and
	// none named a source that was not (cgroup v1's memory.stat, stale
	// after a raise or a removal, once read as "an ancestor's").
	log := w.stderr.String()
	if strings.Contains(log, "above the mount point") {
		t.Errorf("a change was put down to an ancestor above the mount point:\n%s", log)
	}
	for _, want := range []string{
		"memory limit 300MiB → 200MiB, GOMEMLIMIT 270MiB → 180MiB (set: 0.9 × own group's limit from " + g.MemoryFile(),
		"memory limit 400MiB → none, GOMEMLIMIT 360MiB → none (restored",
		"CPU quota 1 → 2, GOMAXPROCS 1 → 2 (set: floor of own group's quota 2 from " + g.CPUFile(),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestWatchAncestorQuota: with more CPUs than a parent group's quota and
// no quota on the process's own group, the Go runtime (which reads only its
// own group) would run on every CPU. tune's auto policy takes GOMAXPROCS
// over for the parent's quota, and hands it back to the runtime
// (runtime.SetDefaultGOMAXPROCS) when the quota is removed or raised to
// every CPU. This host has 2 CPUs, where the two agree: the VM lane's
// guests have more.
func TestWatchAncestorQuota(t *testing.T) {
	n := runtime.NumCPU()
	cgrouptest.Needs(t, n > 2, "more than 2 CPUs")
	parent := cgrouptest.New(t)
	child := parent.Child(t, "app")
	parent.SetCPU(t, 200000, 100000)
	w := startWatch(t, child)

	quota := func(l watchLine, q float64) bool { return l.CPU.Quota != nil && *l.CPU.Quota == q }
	takenOver := func(l watchLine) bool { return quota(l, 2) && l.CPU.GOMAXPROCS == 2 && l.CPU.Action == "set" }
	handedBack := func(l watchLine) bool { return l.CPU.GOMAXPROCS == n && l.CPU.Action == "runtime" }
	w.expect(t, fmt.Sprintf("first line: the parent's 2 CPUs, GOMAXPROCS 2 set (the runtime's default is %d)", n), takenOver)
	steps := []struct {
		name   string
		change func()
		ok     func(watchLine) bool
	}{
		{"the parent's quota removed: handed back", func() { parent.SetCPU(t, -1, 100000) }, func(l watchLine) bool {
			return l.CPU.Quota == nil && handedBack(l)
		}},
		{"the parent's quota back at 2 CPUs: taken over", func() { parent.SetCPU(t, 200000, 100000) }, takenOver},
		{fmt.Sprintf("the parent's quota raised to %d CPUs: handed back", n), func() { parent.SetCPU(t, int64(n)*100000, 100000) }, func(l watchLine) bool {
			return quota(l, float64(n)) && handedBack(l)
		}},
	}
	for _, s := range steps {
		s.change()
		w.expect(t, s.name, s.ok)
	}
}

func TestWatchEnvironmentWins(t *testing.T) {
	g := cgrouptest.New(t)
	g.SetMemory(t, 300<<20)
	g.SetCPU(t, 100000, 100000)
	w := startWatch(t, g, "GOMEMLIMIT=100MiB", "GOMAXPROCS=2", "GOTUNE_MAXPROCS=floor")

	w.expect(t, "first line: GOMEMLIMIT and GOMAXPROCS from the environment", func(l watchLine) bool {
		return is(l.Memory.Limit, 300<<20) && is(l.Memory.GOMEMLIMIT, 100<<20) && l.CPU.GOMAXPROCS == 2
	})
	g.SetMemory(t, 200<<20)
	g.SetCPU(t, 150000, 100000)
	w.expect(t, "limits followed, GOMEMLIMIT and GOMAXPROCS left as the environment says", func(l watchLine) bool {
		if l.Memory.GOMEMLIMIT == nil || *l.Memory.GOMEMLIMIT != 100<<20 || l.CPU.GOMAXPROCS != 2 {
			t.Errorf("the environment lost: %s", describe(l))
		}
		return is(l.Memory.Limit, 200<<20) && l.CPU.Quota != nil && *l.CPU.Quota == 1.5
	})
}

// TestWatchUsage checks the flag combination -watch refuses.
func TestWatchUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-watch", "-root", t.TempDir()}, &stdout, &stderr); code != 2 {
		t.Errorf("tune -watch -root: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "-watch") {
		t.Errorf("usage error does not name -watch: %q", stderr.String())
	}
}

// TestWatchInProcess runs watch itself until its context ends: the first
// line is the state after Init, -json puts the full report before it.
func TestWatchInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		code := watch(ctx, pw, io.Discard, true)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	var rep struct {
		Cgroup struct{ Mode string }
		CPU    struct{ GOMAXPROCS int }
	}
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &rep) != nil || rep.Cgroup.Mode == "" || rep.CPU.GOMAXPROCS == 0 {
		t.Fatalf("first line is not the report: %q", sc.Bytes())
	}
	var l watchLine
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &l) != nil || l.CPU.GOMAXPROCS == 0 || l.Time.IsZero() {
		t.Fatalf("second line is not a watch line: %q", sc.Bytes())
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 && code != 1 {
		t.Errorf("watch returned %d", code)
	}
}

// TestWatchFollowsAMove: a process moved to other groups is followed. With
// its old group removed, the open limit files go stale; with the old group
// still there (its files stay readable), the move is noticed through
// /proc/self/cgroup, compared on every 10th tick. Either way discovery runs
// again.
func TestWatchFollowsAMove(t *testing.T) {
	for _, removeOld := range []bool{true, false} {
		t.Run(fmt.Sprintf("old group removed=%v", removeOld), func(t *testing.T) {
			a := cgrouptest.New(t)
			a.SetMemory(t, 300<<20)
			b := cgrouptest.New(t)
			b.SetMemory(t, 200<<20)
			w := startWatch(t, a)
			w.expect(t, "first line: group a's 300MiB", func(l watchLine) bool { return is(l.Memory.Limit, 300<<20) })

			b.MoveTo(t, w.cmd.Process.Pid)
			if removeOld {
				for _, dir := range a.Dirs() {
					if err := os.Remove(dir); err != nil {
						t.Fatalf("removing the old group: %v", err)
					}
				}
			}
			w.expect(t, "group b's 200MiB after rediscovery", func(l watchLine) bool {
				return is(l.Memory.Limit, 200<<20) && is(l.Memory.GOMEMLIMIT, ninety(200<<20))
			})
			// The log is complete once the command has exited.
			w.cmd.Process.Signal(syscall.SIGTERM)
			for range w.lines {
			}
			w.cmd.Wait()
			log := w.stderr.String()
			t.Logf("tune -watch log:\n%s", log)
			if !strings.Contains(log, "were discovered again\" memory_group="+b.Memory) {
				t.Errorf("no log line for the rediscovery:\n%s", log)
			}
		})
	}
}
