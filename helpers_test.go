package tune_test

import (
	"os"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// cleanEnv is the test process's environment without the variables that
// steer tune or the runtime, so a child sees only what a test sets.
func cleanEnv() []string {
	return cgrouptest.ChildEnv("GOTUNE_CRASH_FILE=off")
}

func TestMain(m *testing.M) {
	code := m.Run()
	cgrouptest.RemoveBuilds()
	os.Exit(code)
}
