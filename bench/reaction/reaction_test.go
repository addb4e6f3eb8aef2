package reaction

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// Line is what cmd/follower prints.
type Line struct {
	T          int64 `json:"t"`
	GOMEMLIMIT int64 `json:"gomemlimit"`
}

// child is a running follower inside its group.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines <-chan Line
	g     *cgrouptest.Group
}

// start runs bin with args inside g and, when acct is not nil, inside acct
// too.
func start(t *testing.T, g *cgrouptest.Group, acct *harness.Acct, bin string, args ...string) *child {
	t.Helper()
	c := &child{g: g}
	if acct != nil {
		c.cmd = acct.Command(g, bin, args...)
	} else {
		c.cmd = g.Command(bin, args...)
	}
	c.cmd.Env = harness.Env()
	c.cmd.Stderr = os.Stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Wait()
	})
	c.lines = cgrouptest.JSONLines[Line](t, "follower", out, 64)
	return c
}

// await returns the first line whose GOMEMLIMIT is want, or fails the test
// after the deadline.
func (c *child) await(t *testing.T, want int64, within time.Duration) Line {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("follower exited before GOMEMLIMIT became %d", want)
			}
			if l.GOMEMLIMIT == want {
				return l
			}
		case <-deadline:
			t.Fatalf("GOMEMLIMIT did not become %d within %v", want, within)
		}
	}
}

// Reaction is what the full run writes to reaction.json.
type Reaction struct {
	IntervalDefault string    `json:"interval"`
	Seconds         []float64 `json:"seconds"` // one per lowering
	Max             float64   `json:"max_seconds"`
	Median          float64   `json:"median_seconds"`
}

// TestReaction lowers memory.limit_in_bytes under a follower running
// tune.Init with the default refresh interval (1 s) and times how long
// GOMEMLIMIT takes to follow, as the follower saw it (it checks every
// millisecond). Each lowering comes right after the follower saw the
// previous change, so just after a refresh tick: close to the worst case.
// Quick form: one lowering, asserting GOMEMLIMIT follows at all (within a
// generous 10 s); full form: five, written to reaction.json.
func TestReaction(t *testing.T) {
	trials := 1
	if harness.OutDir() != "" {
		trials = 5
	}
	g := cgrouptest.New(t)
	const high, low = 512 << 20, 256 << 20
	g.SetMemory(t, high)
	bin := harness.Build(t, "./cmd/follower")
	c := start(t, g, nil, bin, "-tune", "-poll", "1ms")
	c.await(t, high*9/10, 10*time.Second)

	var res Reaction
	res.IntervalDefault = "1s"
	for i := range trials {
		if i > 0 {
			g.SetMemory(t, high)
			c.await(t, high*9/10, 10*time.Second)
		}
		t0 := time.Now()
		g.SetMemory(t, low)
		l := c.await(t, low*9/10, 10*time.Second)
		d := time.Unix(0, l.T).Sub(t0)
		t.Logf("lowering %d: GOMEMLIMIT followed after %v", i, d)
		res.Seconds = append(res.Seconds, d.Seconds())
	}
	s := slices.Clone(res.Seconds)
	slices.Sort(s)
	res.Max, res.Median = s[len(s)-1], s[len(s)/2]
	if harness.OutDir() != "" {
		harness.WriteResult(t, "reaction.json", res)
	}
}

// Idle is what the full run writes to idle.json. CPU times are the
// children's cpuacct.usage over the window, in nanoseconds; shares are of
// one core.
type Idle struct {
	Method       string  `json:"method"`
	Seconds      float64 `json:"seconds"`
	TuneNanos    int64   `json:"tune_cpu_ns"`
	PlainNanos   int64   `json:"plain_cpu_ns"`
	TickerNanos  int64   `json:"ticker_cpu_ns"`
	TuneShare    float64 `json:"tune_share"`
	PlainShare   float64 `json:"plain_share"`
	TickerShare  float64 `json:"ticker_share"`
	RefreshShare float64 `json:"refresh_share"` // tune − plain: the whole refresh loop
	WakeShare    float64 `json:"wake_share"`    // empty ticker − plain: a 1 s wake-up alone
	WorkShare    float64 `json:"work_share"`    // tune − empty ticker: the tick's work beyond the wake-up
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
	var kids [3]*child
	var accts [3]*harness.Acct
	for i, args := range [][]string{{"-tune"}, {}, {"-ticker", "1s"}} {
		g := parent.Child(t, fmt.Sprintf("idle-%d", i))
		g.SetMemory(t, 512<<20)
		accts[i] = harness.NewAcct(t, g, fmt.Sprintf("%s-idle-%d", tag, i))
		kids[i] = start(t, g, accts[i], bin, args...)
	}
	kids[0].await(t, (512<<20)*9/10, 10*time.Second) // tune.Init has run
	kids[1].await(t, 1<<63-1, 10*time.Second)
	kids[2].await(t, 1<<63-1, 10*time.Second)
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
	res := Idle{Method: "cpuacct.usage", Seconds: elapsed.Seconds(), TuneNanos: after[0] - before[0], PlainNanos: after[1] - before[1],
		TickerNanos: after[2] - before[2]}
	res.TuneShare, res.PlainShare, res.TickerShare = share(res.TuneNanos), share(res.PlainNanos), share(res.TickerNanos)
	res.RefreshShare = res.TuneShare - res.PlainShare
	res.WakeShare = res.TickerShare - res.PlainShare
	res.WorkShare = res.TuneShare - res.TickerShare
	t.Logf("over %v idle (cpuacct.usage): tune %d ns (%.4f%% of a core), plain %d ns (%.4f%%), plain with an empty 1 s ticker %d ns (%.4f%%); refresh loop (tune − plain) %.4f%%, wake-up alone (ticker − plain) %.4f%%, tick work (tune − ticker) %.4f%%",
		elapsed, res.TuneNanos, 100*res.TuneShare, res.PlainNanos, 100*res.PlainShare, res.TickerNanos, 100*res.TickerShare,
		100*res.RefreshShare, 100*res.WakeShare, 100*res.WorkShare)
	if harness.OutDir() != "" {
		harness.WriteResult(t, "idle.json", res)
	}
}
