package tune_test

import (
	"os"
	"strings"
	"sync"
	"testing"
)

// cleanEnv is the test process's environment without the variables that
// steer tune or the runtime, so a child sees only what a test sets.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GOTUNE") || k == "GOMEMLIMIT" || k == "GOMAXPROCS" || k == "AUTOMEMLIMIT" || k == "GOGC" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOTUNE_CRASH_FILE=off")
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
