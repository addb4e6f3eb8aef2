package tune_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
)

// TestLastWordsReadOnlyDirectory: a program whose crash file sits in a
// directory it cannot write (its crash file exists, its own; the directory
// is not) reaches Critical: the last words cost one Warn line naming the
// directory, and nothing else. Root ignores permissions, so under root the
// program runs as nobody.
func TestLastWordsReadOnlyDirectory(t *testing.T) {
	r := runners()[len(runners())-1] // nobody under root, else the test's user
	dir := sharedDir(t)
	bin := filepath.Join(sharedDir(t), "oomer")
	if err := os.Link(build(t, "./internal/testprog/oomer"), bin); err != nil {
		t.Fatal(err)
	}
	crash := filepath.Join(dir, "app.crash")
	hdr := fmt.Sprintf("tune crash file: pid=1 exe=%q start=2026-01-01T00:00:00Z version=v revision=r go=go1.26\n", bin)
	writeAs(t, crash, hdr, 0o600, r.uid)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o777) }) // before sharedDir's removal

	cmd := oomerCmd(t, crash, []string{"GOMEMLIMIT=64MiB", "GOTUNE_TERMINATION_LOG=off"}, "grow", "-rate", "16", "-max", "160")
	cmd.Path = bin
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	run := runOomer(t, cmd, 2*time.Minute)
	if run.state.ExitCode() != 0 || !strings.Contains(run.stdout, `"event":"max"`) {
		t.Fatalf("%s: the program ended with %v\nstdout:\n%s\nstderr:\n%s", r.name, run.state, run.stdout, run.stderr)
	}
	if len(logLines(t, run.stderr, "memory pressure critical")) == 0 {
		t.Fatalf("%s: the program never reached critical pressure: the case is not exercised\nstderr:\n%s", r.name, run.stderr)
	}
	warns := logLines(t, run.stderr, "last words")
	if len(warns) != 1 || warns[0]["level"] != "WARN" || !strings.Contains(fmt.Sprint(warns[0]["msg"]), crash+".lastwords-") ||
		!strings.Contains(fmt.Sprint(warns[0]["msg"]), "permission denied") {
		t.Errorf("%s: want one Warn line about the last words naming the directory, got %v\nstderr:\n%s", r.name, warns, run.stderr)
	}
	if names := tune.FilesIn(t, dir); !slices.Equal(names, []string{"app.crash"}) {
		t.Errorf("%s: files in the directory: %v, want only the crash file", r.name, names)
	}
}
