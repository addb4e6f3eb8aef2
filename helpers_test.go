package tune_test

import (
	"os"
	"sync"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// cleanEnv is the test process's environment without the variables that
// steer tune or the runtime, so a child sees only what a test sets.
func cleanEnv() []string {
	return cgrouptest.ChildEnv("GOTUNE_CRASH_FILE=off")
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binDir is one temporary directory for the programs the tests build,
// removed by TestMain.
func binDir() (string, error) {
	binOnce.Do(func() { binPath, binErr = os.MkdirTemp("", "tune-test-bin-") })
	return binPath, binErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(binPath)
	}
	os.Exit(code)
}
