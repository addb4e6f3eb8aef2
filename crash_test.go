package tune_test

// Crash output tests. The crashes are real: internal/testprog/crasher is
// built and run as a child process that calls Init with a crash file in
// the test's temporary directory and then panics, breaks a map, exits or
// waits for SIGQUIT. The rest (permissions, symbolic links, rotation, two
// Inits) runs Init in this process and switches the crash output off again
// at the end.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
)

// crasherRun is what one run of the crasher showed.
type crasherRun struct {
	pid    int
	code   int
	stderr string
	prev   struct {
		Found bool
		Crash tune.Crash
	}
}

// crasherCmd is a command running the crasher with args, in the test
// environment plus env.
func crasherCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(build(t, "./internal/testprog/crasher"), args...)
	// "GOTUNE_CRASH_FILE=" (blank) undoes cleanEnv's "off".
	cmd.Env = append(append(cleanEnv(), "GOTUNE_CRASH_FILE="), env...)
	return cmd
}

// startCrasher starts the crasher; its stdout is read by the caller.
func startCrasher(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bufio.Reader) {
	t.Helper()
	return startCmd(t, crasherCmd(t, env, args...))
}

// startCmd starts cmd (the crasher, however run); its stdout is read by
// the caller.
func startCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, *bytes.Buffer, *bufio.Reader) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		r.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &stderr, bufio.NewReader(r)
}

// runCrasher runs the crasher to its end. In sigquit mode it sends SIGQUIT
// once the child says it is ready.
func runCrasher(t *testing.T, env []string, args ...string) crasherRun {
	t.Helper()
	return runCmd(t, crasherCmd(t, env, args...), args[0])
}

// runCmd runs cmd, the crasher in mode, to its end.
func runCmd(t *testing.T, cmd *exec.Cmd, mode string) crasherRun {
	t.Helper()
	cmd, stderr, stdout := startCmd(t, cmd)
	var run crasherRun
	run.pid = cmd.Process.Pid
	if line, err := stdout.ReadBytes('\n'); err != nil || json.Unmarshal(line, &run.prev) != nil {
		cmd.Wait()
		t.Fatalf("crasher %v: no PreviousCrash line (%v): %q\nstderr:\n%s", cmd.Args, err, line, stderr)
	}
	if mode == "sigquit" {
		if line, err := stdout.ReadString('\n'); line != "ready\n" {
			t.Fatalf("crasher sigquit: want \"ready\", got %q (%v)", line, err)
		}
		if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
	}
	err := cmd.Wait()
	run.stderr = stderr.String()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("crasher %v: %v", cmd.Args, err)
	}
	run.code = cmd.ProcessState.ExitCode()
	return run
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkHeader(t *testing.T, text string, pid int) {
	t.Helper()
	first, _, _ := strings.Cut(text, "\n")
	for _, want := range []string{"tune crash file: ", fmt.Sprintf(" pid=%d ", pid), ` exe="`, "crasher", " start=20", " version=", " revision=", " go=go1."} {
		if !strings.Contains(first, want) {
			t.Errorf("header %q lacks %q", first, want)
		}
	}
}

func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (err %v), want no such file", path, err)
	}
}

// TestCrashReal crashes the crasher for real, each way, and then starts it
// again: the second start must rotate the report, log it once at Error
// level and return it from PreviousCrash; a third start finds nothing.
func TestCrashReal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    string
		env     []string
		code    int      // the crashing run's exit status
		want    []string // in the crash file, after the header
		message string   // the start of Crash.Message
	}{
		{mode: "panic", code: 2, message: "panic: crasher: boom",
			want: []string{"\npanic: crasher: boom\n", "\ngoroutine 1 [running]:\n", "main.main()\n", "crasher/main.go:"}},
		{mode: "panic", env: []string{"GOTUNE=off"}, code: 2, message: "panic: crasher: boom",
			want: []string{"\npanic: crasher: boom\n", "\ngoroutine 1 [running]:\n"}},
		{mode: "mapwrites", code: 2, message: "fatal error",
			want: []string{"\ngoroutine ", " [running]:\n", "maps.fatal(", "main.main.func"}},
		{mode: "sigquit", code: 2, message: "SIGQUIT: quit",
			want: []string{"\nSIGQUIT: quit\n", "\ngoroutine 1 gp=", "main.main()"}},
	}
	for _, tt := range tests {
		name := tt.mode + strings.Join(tt.env, ",")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "app.crash")
			run := runCrasher(t, tt.env, tt.mode, file)
			if run.code != tt.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", run.code, tt.code, run.stderr)
			}
			if run.prev.Found {
				t.Errorf("the first run found a previous crash: %+v", run.prev.Crash)
			}
			report := readFile(t, file)
			checkHeader(t, report, run.pid)
			for _, w := range tt.want {
				if !strings.Contains(report, w) {
					t.Errorf("crash file lacks %q:\n%.2000s", w, report)
				}
			}

			again := runCrasher(t, nil, "exit", file)
			if again.code != 0 {
				t.Fatalf("second start: exit status %d; stderr:\n%s", again.code, again.stderr)
			}
			c := again.prev.Crash
			if !again.prev.Found || c.Path != file+".1" || c.Text != report ||
				!strings.HasPrefix(c.Message, tt.message) || time.Since(c.Time) > time.Hour {
				t.Errorf("PreviousCrash = %v %+v, want the report from %s.1 with message %q", again.prev.Found, c, file, tt.message)
			}
			if got := readFile(t, file+".1"); got != report {
				t.Errorf("%s.1 is not the crash report:\n%.500s", file, got)
			}
			logged := fmt.Sprintf(`"level":"ERROR","msg":"tune: the previous run crashed","message":%q,"file":%q`, c.Message, file+".1")
			if n := strings.Count(again.stderr, `"level":"ERROR"`); n != 1 || !strings.Contains(again.stderr, logged) {
				t.Errorf("want one Error line %s, got:\n%s", logged, again.stderr)
			}
			fresh := readFile(t, file)
			checkHeader(t, fresh, again.pid)
			if strings.Count(fresh, "\n") != 1 {
				t.Errorf("the new crash file holds more than its header:\n%s", fresh)
			}

			third := runCrasher(t, nil, "exit", file)
			if third.prev.Found || strings.Contains(third.stderr, "ERROR") {
				t.Errorf("a normal exit was reported as a crash: %+v\n%s", third.prev, third.stderr)
			}
			noFile(t, file+".2")
		})
	}
}

// TestCrashNormalExit: a run that exits normally leaves only the header,
// which the next start does not report.
func TestCrashNormalExit(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "app.crash")
	for i := range 2 {
		run := runCrasher(t, nil, "exit", file)
		if run.code != 0 || run.prev.Found || strings.Contains(run.stderr, "ERROR") {
			t.Errorf("run %d: status %d, previous crash %+v, stderr:\n%s", i, run.code, run.prev, run.stderr)
		}
		text := readFile(t, file)
		checkHeader(t, text, run.pid)
		if strings.Count(text, "\n") != 1 {
			t.Errorf("run %d: the file holds more than the header:\n%s", i, text)
		}
	}
	noFile(t, file+".1")
}

// TestCrashInitMoves: a second Init with another path moves the crash
// output there and removes the first file, which held only its header.
func TestCrashInitMoves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.crash"), filepath.Join(dir, "second.crash")
	run := runCrasher(t, nil, "move", first, second)
	if run.code != 2 {
		t.Fatalf("exit status %d, want 2; stderr:\n%s", run.code, run.stderr)
	}
	noFile(t, first)
	text := readFile(t, second)
	checkHeader(t, text, run.pid)
	if !strings.Contains(text, "\npanic: crasher: boom after move\n") {
		t.Errorf("the panic did not reach the new file:\n%.1000s", text)
	}
}

// TestCrashSecondProcess: while one process holds the crash file, a second
// one of the same program writes to <file>.pid<N> and leaves the first's
// file alone; later starts sweep the pid files of normal exits.
func TestCrashSecondProcess(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "app.crash")
	holder, _, out := startCrasher(t, nil, "sigquit", file)
	if _, err := out.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if line, err := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("want \"ready\", got %q (%v)", line, err)
	}
	held := readFile(t, file)

	run := runCrasher(t, nil, "panic", file)
	own := fmt.Sprintf("%s.pid%d", file, run.pid)
	if run.code != 2 {
		t.Fatalf("exit status %d; stderr:\n%s", run.code, run.stderr)
	}
	if !strings.Contains(run.stderr, fmt.Sprintf(`"using":%q`, own)) {
		t.Errorf("no Info line naming %s:\n%s", own, run.stderr)
	}
	text := readFile(t, own)
	checkHeader(t, text, run.pid)
	if !strings.Contains(text, "\npanic: crasher: boom\n") {
		t.Errorf("%s lacks the panic:\n%.1000s", own, text)
	}
	if got := readFile(t, file); got != held {
		t.Errorf("the second process changed the first's file:\n%s", got)
	}

	// Once the holder has ended, the next start takes the file back and
	// removes the pid files of processes that ended without crashing;
	// crash reports stay.
	holder.Process.Kill()
	holder.Wait()
	stale := file + ".pid4000000"
	if err := os.WriteFile(stale, []byte("tune crash file: pid=4000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next := runCrasher(t, nil, "exit", file)
	if next.code != 0 || strings.Contains(next.stderr, `"using"`) {
		t.Errorf("the next start did not take %s: status %d\n%s", file, next.code, next.stderr)
	}
	noFile(t, stale)
	if got := readFile(t, own); got != text {
		t.Errorf("the crash report in %s was changed or removed: %q", own, got)
	}
}

// initCrash calls Init in this process with the crash file given and a
// logger into log; the crash output is switched off when the test ends.
func initCrash(t *testing.T, file string, log *bytes.Buffer) (tune.Report, error) {
	t.Helper()
	restoreRuntime(t)
	t.Cleanup(func() {
		tune.Init(tune.Options{CrashFile: "off", RefreshInterval: -1, Logger: quietLogger(new(bytes.Buffer))})
	})
	return tune.Init(tune.Options{CrashFile: file, RefreshInterval: -1, Logger: quietLogger(log)})
}

// TestCrashFileModes: the crash file is made 0600, and a crash file of
// tune's found with a wider mode is narrowed to 0600.
func TestCrashFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes on Windows")
	}
	base := t.TempDir()
	file := filepath.Join(base, "app.crash")
	var log bytes.Buffer
	if _, err := initCrash(t, file, &log); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", file, fi.Mode(), err)
	}

	wide := filepath.Join(base, "wide.crash")
	if err := os.WriteFile(wide, []byte("tune crash file: pid=1 exe=\"/bin/app\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(wide, 0o644)
	if _, err := initCrash(t, wide, &log); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(wide); fi.Mode() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", wide, fi.Mode())
	}
}

// TestCrashRotation: five crashes in a row keep the latest three.
func TestCrashRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.crash")
	for i := 1; i <= 5; i++ {
		c, ok := tune.Crash{}, false
		log, err := crashRound(t, file, i, func() { c, ok = tune.PreviousCrash() })
		if err != nil {
			t.Fatal(err)
		}
		if i > 1 {
			want := fmt.Sprintf("panic: crash %d", i-1)
			if !ok || c.Message != want || c.Path != file+".1" {
				t.Errorf("round %d: PreviousCrash = %v %+v, want %q at %s.1", i, ok, c, want, file)
			}
			if !strings.Contains(log, `level=ERROR msg="tune: the previous run crashed" message="`+want) {
				t.Errorf("round %d: no Error line:\n%s", i, log)
			}
		}
	}
	for n, want := range map[string]string{".1": "crash 4", ".2": "crash 3", ".3": "crash 2", "": "crash 5"} {
		if got := readFile(t, file+n); !strings.Contains(got, "panic: "+want+"\n") {
			t.Errorf("%s%s: want the report of %s, got:\n%s", file, n, want, got)
		}
	}
	noFile(t, file+".4")
}

// TestCrashInitTwice: a second Init with the same path keeps the file as
// it is, with one header, and does not take it for a crash.
func TestCrashInitTwice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.crash")
	var log bytes.Buffer
	for i := range 2 {
		if _, err := initCrash(t, file, &log); err != nil {
			t.Fatalf("Init %d: %v", i, err)
		}
	}
	text := readFile(t, file)
	if strings.Count(text, "tune crash file:") != 1 || strings.Count(text, "\n") != 1 {
		t.Errorf("want one header line, got:\n%s", text)
	}
	checkHeaderPID(t, text)
	if strings.Contains(log.String(), "ERROR") {
		t.Errorf("the second Init reported a crash:\n%s", log.String())
	}
	noFile(t, file+".1")
}

func checkHeaderPID(t *testing.T, text string) {
	t.Helper()
	if !strings.Contains(text, fmt.Sprintf(" pid=%d ", os.Getpid())) {
		t.Errorf("header lacks this process's pid:\n%s", text)
	}
}

// TestCrashInitSwitch: Init with another path moves the output and closes
// the old file (removed: it held only its header); "off" closes the last.
func TestCrashInitSwitch(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/fd")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.crash"), filepath.Join(dir, "b.crash")
	open := func(path string) bool {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, path) {
				return true
			}
		}
		return false
	}
	var log bytes.Buffer
	if _, err := initCrash(t, a, &log); err != nil {
		t.Fatal(err)
	}
	if !open(a) {
		t.Fatalf("no open file descriptor for %s", a)
	}
	if _, err := initCrash(t, b, &log); err != nil {
		t.Fatal(err)
	}
	if open(a) {
		t.Errorf("%s is still open after the switch to %s", a, b)
	}
	noFile(t, a)
	checkHeaderPID(t, readFile(t, b))
	tune.Init(tune.Options{CrashFile: "off", RefreshInterval: -1, Logger: quietLogger(&log)})
	if open(b) {
		t.Errorf("%s is still open after CrashFile off", b)
	}
}

// aCrash is the content of a crash file of tune's holding a crash.
const aCrash = "tune crash file: pid=1 exe=\"/usr/bin/app\" start=2026-01-01T00:00:00Z\npanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n"

// crashRound is one run of a program as TestCrashRotation has it: Init
// (then afterInit, if given), then a "crash" appended to the live crash
// file, then the end. It returns the log and Init's error.
func crashRound(t *testing.T, file string, i int, afterInit ...func()) (string, error) {
	t.Helper()
	var log bytes.Buffer
	_, err := initCrash(t, file, &log)
	for _, f := range afterInit {
		f()
	}
	f, e := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if e != nil {
		t.Fatal(e)
	}
	fmt.Fprintf(f, "panic: crash %d\n\ngoroutine 1 [running]:\nmain.main()\n", i)
	f.Close()
	tune.Init(tune.Options{CrashFile: "off", RefreshInterval: -1, Logger: quietLogger(&log)})
	return log.String(), err
}

// TestCrashMissingDirectory: tune creates the crash file, never its
// directories; a missing one is one Warn naming it.
func TestCrashMissingDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "nonexistent", "x")
	file := filepath.Join(dir, "y.crash")
	var log bytes.Buffer
	rep, err := initCrash(t, file, &log)
	want := fmt.Sprintf("crash file: cannot create %s: directory %s does not exist (tune creates the crash file, never its directories)", file, dir)
	if err == nil || err.Error() != want {
		t.Errorf("Init error = %v, want %q", err, want)
	}
	if !rep.Applied && runtime.GOOS == "linux" {
		t.Errorf("the rest of Init was not applied: %+v", rep)
	}
	if n := strings.Count(log.String(), "level=WARN"); n != 1 || !strings.Contains(log.String(), dir+" does not exist") {
		t.Errorf("want one Warn line naming %s, got:\n%s", dir, log.String())
	}
	noFile(t, filepath.Join(base, "nonexistent"))
}

// TestCrashShutdown: a clean end through Shutdown leaves no crash file
// behind, and a crash after Shutdown goes to stderr only.
func TestCrashShutdown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"shutdown", "shutdown-panic"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "app.crash")
			run := runCrasher(t, nil, mode, file)
			want := map[string]int{"shutdown": 0, "shutdown-panic": 2}[mode]
			if run.code != want {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", run.code, want, run.stderr)
			}
			noFile(t, file)
			if mode == "shutdown-panic" && !strings.Contains(run.stderr, "panic: crasher: boom after Shutdown") {
				t.Errorf("the panic is not on stderr:\n%s", run.stderr)
			}
			if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}

// TestCrashLinesOutsideLock: the crash lines are written with no lock of
// the crash output held, so a handler that asks tune for the previous
// crash (it takes that lock) does not deadlock Init.
func TestCrashLinesOutsideLock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.crash")
	if err := os.WriteFile(file, []byte(aCrash), 0o600); err != nil {
		t.Fatal(err)
	}
	restoreRuntime(t)
	t.Cleanup(func() {
		tune.Init(tune.Options{CrashFile: "off", RefreshInterval: -1, Logger: quietLogger(new(bytes.Buffer))})
	})
	var log bytes.Buffer
	h := &crashAskingHandler{Handler: slog.NewTextHandler(&log, nil)}
	done := make(chan error, 1)
	go func() {
		_, err := tune.Init(tune.Options{CrashFile: file, RefreshInterval: -1, Logger: slog.New(h)})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Init is blocked: the crash lines are logged under the crash output's lock")
	}
	if !strings.Contains(log.String(), `level=ERROR msg="tune: the previous run crashed" message="panic: boom" file=`+file+".1") ||
		!strings.Contains(log.String(), "previous_crash=true") {
		t.Errorf("log:\n%s", log.String())
	}
}

// crashAskingHandler adds tune.PreviousCrash's answer to every record.
type crashAskingHandler struct{ slog.Handler }

func (h *crashAskingHandler) Handle(ctx context.Context, r slog.Record) error {
	_, ok := tune.PreviousCrash()
	r.AddAttrs(slog.Bool("previous_crash", ok))
	return h.Handler.Handle(ctx, r)
}
