package reaction

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestReaction changes the memory limit under a follower running
// tune.Init with the default refresh interval (1 s) and times how long
// GOMEMLIMIT takes to follow, as the follower saw it (it checks every
// millisecond): the limit lowered, raised and removed, each change right
// after the follower saw the previous one, so just after a refresh tick:
// close to the worst case. On cgroup v1 the file is memory.limit_in_bytes;
// on v2 (the VM lane's guest) memory.max, then memory.high with memory.max
// unlimited. Quick form: one round, asserting GOMEMLIMIT follows each
// change at all (within a generous 10 s); full form: five, written to
// reaction.json (CI form in the guest: two).
func TestReaction(t *testing.T) {
	trials := harness.Pick(1, 2, 5)
	g := cgrouptest.New(t)
	const high, low = 512 << 20, 256 << 20
	g.SetMemory(t, high)
	bin := harness.Build(t, "./cmd/follower")
	f := harness.StartFollower(t, g, nil, bin, "-tune", "-poll", "1ms")
	if f.First.GOMEMLIMIT != high*9/10 {
		t.Fatalf("follower started with GOMEMLIMIT %d, want 90%% of %d", f.First.GOMEMLIMIT, int64(high))
	}

	res := result.Reaction{Interval: "1s", Trials: trials}
	files := []string{filepath.Base(g.MemoryFile())}
	f.React(t, &res, files[0], func(n int64) { g.SetMemory(t, n) }, high, low, trials)
	if g.Version == 2 {
		g.SetMemory(t, -1)
		files = append(files, "memory.high")
		f.React(t, &res, "memory.high", func(n int64) { g.SetMemoryHigh(t, n) }, high, low, trials)
	}
	if err := res.Check(files...); err != nil {
		t.Fatal(err)
	}
	if harness.OutDir() != "" {
		harness.WriteResult(t, result.ReactionFile, res)
	}
}

// TestIdleCPU measures the CPU that tune's refresh loop costs while the
// program idles. Three followers run side by side for 60 s, each in its
// own memory group and its own cpuacct group: one with tune.Init (default
// 1 s refresh), a plain idle Go program, and a plain one whose only work is
// an empty loop on a 1 s ticker (what the wake-ups of any periodic work
// cost on this machine, before doing anything). CPU time is each group's
// cpuacct.usage, in nanoseconds and counting every thread, exited ones
// too. tune − plain is the loop's cost; empty ticker − plain the wake-up's
// share of it; tune − empty ticker the work of the tick itself.
//
// Quick form: checks that cpuacct.usage agrees with the kernel's rusage of
// a child that burns CPU, and runs the three for a moment.
func TestIdleCPU(t *testing.T) {
	window := 200 * time.Millisecond
	if harness.OutDir() != "" {
		window = 60 * time.Second
	}
	parent := cgrouptest.New(t)
	tag := filepath.Base(parent.Memory)

	// cpuacct.usage must see the CPU a child burns, as its rusage does.
	g := parent.Child(t, "burn")
	acct := harness.NewAcct(t, g, tag+"-burn")
	u0, err := acct.Usage()
	if err != nil {
		t.Fatal(err)
	}
	burn := acct.Command(g, "/bin/sh", "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`)
	if out, err := burn.CombinedOutput(); err != nil {
		t.Fatalf("burning CPU in %s: %v\n%s", acct.Dir, err, out)
	}
	u1, err := acct.Usage()
	if err != nil {
		t.Fatal(err)
	}
	ru := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	got := time.Duration(u1 - u0)
	t.Logf("a CPU-burning child: cpuacct.usage %v, rusage %v", got, ru)
	if ru < 20*time.Millisecond {
		t.Fatalf("the burning child used only %v of CPU (rusage): too little to check cpuacct.usage against", ru)
	}
	if got < ru*8/10 || got > ru*12/10+5*time.Millisecond {
		t.Fatalf("cpuacct.usage of %s grew by %v while the child's rusage is %v: it does not measure the child's CPU", acct.Dir, got, ru)
	}

	bin := harness.Build(t, "./cmd/follower")
	var kids [3]*harness.Follower
	var accts [3]*harness.Acct
	for i, args := range [][]string{{"-tune"}, {}, {"-ticker", "1s"}} {
		g := parent.Child(t, fmt.Sprintf("idle-%d", i))
		g.SetMemory(t, 512<<20)
		accts[i] = harness.NewAcct(t, g, fmt.Sprintf("%s-idle-%d", tag, i))
		kids[i] = harness.StartFollower(t, g, accts[i], bin, args...)
	}
	kids[0].Await(t, (512<<20)*9/10, 10*time.Second) // tune.Init has run
	kids[1].Await(t, 1<<63-1, 10*time.Second)
	kids[2].Await(t, 1<<63-1, 10*time.Second)
	var before, after [3]int64
	for i, a := range accts {
		if before[i], err = a.Usage(); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for an event
	elapsed := time.Since(t0)
	for i, a := range accts {
		if after[i], err = a.Usage(); err != nil {
			t.Fatal(err)
		}
	}
	share := func(ns int64) float64 { return float64(ns) / float64(elapsed.Nanoseconds()) }
	res := result.Idle{Method: "cpuacct.usage", Seconds: elapsed.Seconds(), TuneNanos: after[0] - before[0], PlainNanos: after[1] - before[1],
		TickerNanos: after[2] - before[2]}
	res.TuneShare, res.PlainShare, res.TickerShare = share(res.TuneNanos), share(res.PlainNanos), share(res.TickerNanos)
	res.RefreshShare = res.TuneShare - res.PlainShare
	res.WakeShare = res.TickerShare - res.PlainShare
	res.WorkShare = res.TuneShare - res.TickerShare
	t.Logf("over %v idle (cpuacct.usage): tune %d ns (%.4f%% of a core), plain %d ns (%.4f%%), plain with an empty 1 s ticker %d ns (%.4f%%); refresh loop (tune − plain) %.4f%%, wake-up alone (ticker − plain) %.4f%%, tick work (tune − ticker) %.4f%%",
		elapsed, res.TuneNanos, 100*res.TuneShare, res.PlainNanos, 100*res.PlainShare, res.TickerNanos, 100*res.TickerShare,
		100*res.RefreshShare, 100*res.WakeShare, 100*res.WorkShare)
	if harness.OutDir() != "" {
		harness.WriteResult(t, result.IdleFile, res)
	}
}
