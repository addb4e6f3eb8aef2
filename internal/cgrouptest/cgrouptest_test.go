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
		g.SetCPU(t, 50000, 100000)
		if g.Version == 2 {
			g.SetMemoryHigh(t, 32<<20)
			readBack(t, filepath.Join(g.Memory, "memory.high"), "33554432")
		}
		readBack(t, g.MemoryFile(), "67108864")
		readBack(t, g.CPUFile(), map[bool]string{true: "50000 100000", false: "50000"}[g.Version == 2])
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
	for _, d := range g.Dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the test (stat: %v)", d, err)
		}
	}
}

// readBack checks that the control file holds want.
func readBack(t *testing.T, file, want string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s holds %q, want %q", file, got, want)
	}
}
