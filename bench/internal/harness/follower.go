package harness

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// Follower is a cmd/follower running inside its group.
type Follower struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines <-chan result.FollowerLine
	// First is the line it printed when it was ready.
	First     result.FollowerLine
	firstSeen bool // Await has returned First
}

// StartFollower runs bin (cmd/follower) with args inside g and, when acct
// is not nil, inside acct too, and waits for its first line. It is stopped
// (its standard input closed) when the test ends.
func StartFollower(t *testing.T, g *cgrouptest.Group, acct *Acct, bin string, args ...string) *Follower {
	t.Helper()
	f := &Follower{}
	if acct != nil {
		f.cmd = acct.Command(g, bin, args...)
	} else {
		f.cmd = g.Command(bin, args...)
	}
	f.cmd.Env = Env()
	f.cmd.Stderr = os.Stderr
	var err error
	if f.stdin, err = f.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.stdin.Close()
		f.cmd.Wait()
	})
	f.lines = cgrouptest.JSONLines[result.FollowerLine](t, "follower", out, 64)
	select {
	case l, ok := <-f.lines:
		if !ok {
			t.Fatal("follower exited before it was ready")
		}
		f.First = l
	case <-time.After(30 * time.Second):
		t.Fatal("follower not ready within 30s")
	}
	return f
}

// Await returns the first line whose GOMEMLIMIT is want (the first line
// counts too), or fails the test after within.
func (f *Follower) Await(t *testing.T, want int64, within time.Duration) result.FollowerLine {
	t.Helper()
	if !f.firstSeen && f.First.GOMEMLIMIT == want {
		f.firstSeen = true
		return f.First
	}
	f.firstSeen = true
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-f.lines:
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

// React times how long GOMEMLIMIT takes to follow each kind of change
// of one limit file (result.ReactionKinds), trials times each, and adds
// them to res. set writes the file (-1 removes the limit); from high, it
// is lowered to low, raised back to high and removed, each change made
// right after the follower saw the previous one, so just after a refresh
// tick: close to the worst case. GOMEMLIMIT must become 90% of the limit,
// and, once the limit is gone, what it was before tune.Init. The times
// are the follower's own timestamps (it checks every millisecond).
func (f *Follower) React(t *testing.T, res *result.Reaction, file string, set func(int64), high, low int64, trials int) {
	t.Helper()
	restored := f.First.Before
	want := map[string]int64{"lowered": low * 9 / 10, "raised": high * 9 / 10, "removed": restored}
	to := map[string]int64{"lowered": low, "raised": high, "removed": -1}
	times := map[string][]float64{}
	for i := range trials {
		set(high)
		f.Await(t, high*9/10, 10*time.Second)
		for _, k := range result.ReactionKinds {
			t0 := time.Now()
			set(to[k])
			l := f.Await(t, want[k], 10*time.Second)
			d := time.Unix(0, l.T).Sub(t0)
			t.Logf("%s %s (trial %d): GOMEMLIMIT %d after %v", file, k, i, l.GOMEMLIMIT, d)
			times[k] = append(times[k], d.Seconds())
		}
	}
	for _, k := range result.ReactionKinds {
		res.Add(file, k, times[k])
	}
}
