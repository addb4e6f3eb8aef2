package tune_test

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// cleanEnv is the test process's environment without the variables that
// steer tune or the runtime, so a child sees only what a test sets.
func cleanEnv() []string {
	return cgrouptest.ChildEnv("GOTUNE_CRASH_FILE=off")
}

// syncBuffer is a bytes.Buffer that a child's output may be copied into
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput polls out, with a deadline, until it contains want.
func waitOutput(t *testing.T, out *syncBuffer, want string, within time.Duration) bool {
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
