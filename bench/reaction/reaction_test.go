package reaction

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
	lines chan Line
	g     *cgrouptest.Group
}

func start(t *testing.T, g *cgrouptest.Group, bin string, args ...string) *child {
	t.Helper()
	c := &child{g: g, lines: make(chan Line, 64)}
	c.cmd = g.Command(bin, args...)
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
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l Line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("follower printed %q: %v", sc.Text(), err)
				return
			}
			c.lines <- l
		}
	}()
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
	c := start(t, g, bin, "-tune", "-poll", "1ms")
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

// cpuNanos is the CPU time, in nanoseconds, that every thread of pid has
// run so far: the first field of /proc/<pid>/task/<tid>/schedstat, exact
// to the nanosecond (/proc/<pid>/stat counts in 10 ms clock ticks, too
// coarse for an idle program).
func cpuNanos(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat (%v)", pid, err)
	}
	var sum int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited; a Go program rarely lets one go
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return 0, fmt.Errorf("%s: %q has no fields", p, b)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", p, f[0])
		}
		sum += n
	}
	return sum, nil
}

// rusageNanos is this process's user and system CPU time from getrusage.
func rusageNanos(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Idle is what the full run writes to idle.json.
type Idle struct {
	Seconds      float64 `json:"seconds"`
	TuneNanos    int64   `json:"tune_cpu_ns"`
	PlainNanos   int64   `json:"plain_cpu_ns"`
	TickerNanos  int64   `json:"ticker_cpu_ns"`
	TuneShare    float64 `json:"tune_share"`    // of one core
	PlainShare   float64 `json:"plain_share"`   // of one core
	TickerShare  float64 `json:"ticker_share"`  // of one core
	RefreshShare float64 `json:"refresh_share"` // tune − plain
}

// TestIdleCPU measures the CPU that tune's refresh loop costs while the
// program idles: a follower with tune.Init (default 1 s refresh) and a
// plain idle Go program run side by side in groups with memory limits for
// 60 s; the difference of their CPU times over that window, as a share of
// one core, is the loop's cost. A third child, plain but for an empty loop
// on a 1 s ticker, shows how much of that is the wake-up alone. Quick form: checks that cpuNanos sees CPU
// burnt by this process, and runs the pair for a moment.
func TestIdleCPU(t *testing.T) {
	window := 200 * time.Millisecond
	if harness.OutDir() != "" {
		window = 60 * time.Second
	}
	// cpuNanos must agree with getrusage on CPU this process burns. (Spin
	// by CPU time, not wall time: on a shared machine 50 ms of wall time
	// may hold only a few ms of CPU.)
	self0, err := cpuNanos(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ru0 := rusageNanos(t)
	for rusageNanos(t)-ru0 < 50_000_000 {
	}
	self1, err := cpuNanos(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := self1 - self0; d < 40_000_000 {
		t.Fatalf("cpuNanos saw %d ns while getrusage saw 50 ms of CPU: it does not measure CPU time", d)
	}

	parent := cgrouptest.New(t)
	bin := harness.Build(t, "./cmd/follower")
	// Side by side: tune, a plain idle Go program, and a plain one whose
	// only work is an empty loop on a 1 s ticker (what the wake-ups of any
	// periodic work cost on this machine, before doing anything).
	var kids [3]*child
	for i, args := range [][]string{{"-tune"}, {}, {"-ticker", "1s"}} {
		g := parent.Child(t, fmt.Sprintf("idle-%d", i))
		g.SetMemory(t, 512<<20)
		kids[i] = start(t, g, bin, args...)
	}
	kids[0].await(t, (512<<20)*9/10, 10*time.Second) // tune.Init has run
	kids[1].await(t, 1<<63-1, 10*time.Second)
	kids[2].await(t, 1<<63-1, 10*time.Second)
	var before, after [3]int64
	for i, k := range kids {
		if before[i], err = cpuNanos(k.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for an event
	elapsed := time.Since(t0)
	for i, k := range kids {
		if after[i], err = cpuNanos(k.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	share := func(ns int64) float64 { return float64(ns) / float64(elapsed.Nanoseconds()) }
	res := Idle{Seconds: elapsed.Seconds(), TuneNanos: after[0] - before[0], PlainNanos: after[1] - before[1],
		TickerNanos: after[2] - before[2]}
	res.TuneShare, res.PlainShare, res.TickerShare = share(res.TuneNanos), share(res.PlainNanos), share(res.TickerNanos)
	res.RefreshShare = res.TuneShare - res.PlainShare
	t.Logf("over %v idle: tune %d ns (%.4f%% of a core), plain %d ns (%.4f%%), plain with an empty 1 s ticker %d ns (%.4f%%), refresh loop %.4f%%",
		elapsed, res.TuneNanos, 100*res.TuneShare, res.PlainNanos, 100*res.PlainShare, res.TickerNanos, 100*res.TickerShare, 100*res.RefreshShare)
	if harness.OutDir() != "" {
		harness.WriteResult(t, "idle.json", res)
	}
}
