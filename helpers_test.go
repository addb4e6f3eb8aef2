package tune_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// cleanEnv is the test process's environment without the variables that
// steer tune or the runtime, so a child sees only what a test sets.
func cleanEnv() []string {
	return cgrouptest.ChildEnv("GOTUNE_CRASH_FILE=off")
}

// waitOutput polls out, with a deadline, until it contains want.
func waitOutput(t *testing.T, out *cgrouptest.Buffer, want string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling a child's output, with a deadline
	}
	return true
}

func TestMain(m *testing.M) {
	code := m.Run()
	cgrouptest.RemoveBuilds()
	os.Exit(code)
}
