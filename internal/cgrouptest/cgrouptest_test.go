package cgrouptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRunsInsideAndRemoves(t *testing.T) {
	var g *Group
	t.Run("make", func(t *testing.T) {
		g = New(t)
		g.SetMemory(t, 64<<20)
		out, err := g.Command("cat", "/proc/self/cgroup").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, want := range []string{filepath.Base(g.Memory)} {
			if !strings.Contains(string(out), want) {
				t.Errorf("child's /proc/self/cgroup lacks %s:\n%s", want, out)
			}
		}
	})
	if g == nil {
		t.SkipNow() // the subtest skipped, or failed and said why
	}
	for _, d := range []string{g.Memory, g.CPU} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the test (stat: %v)", d, err)
		}
	}
}
