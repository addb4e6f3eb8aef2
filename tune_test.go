package tune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/runtimehooks/tune"
)

func quietLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// restoreRuntime puts GOMEMLIMIT and GOMAXPROCS back after a test that
// calls Init in this process.
func restoreRuntime(t *testing.T) {
	mem, procs := debug.SetMemoryLimit(-1), runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		tune.Stop()
		debug.SetMemoryLimit(mem)
		runtime.GOMAXPROCS(procs)
	})
}

func TestInitTwice(t *testing.T) {
	restoreRuntime(t)
	var log bytes.Buffer
	opts := tune.Options{Logger: quietLogger(&log), CrashFile: "off"}
	r1, err1 := tune.Init(opts)
	opts.MaxProcs = tune.ProcsOff
	r2, err2 := tune.Init(opts)
	if (err1 == nil) != (err2 == nil) {
		t.Errorf("the two calls disagree on errors: %v / %v", err1, err2)
	}
	if r2.CPU.Policy != tune.ProcsOff {
		t.Errorf("the second Init's options did not replace the first's: policy %q", r2.CPU.Policy)
	}
	if r1.Memory.GOMEMLIMIT != r2.Memory.GOMEMLIMIT {
		t.Errorf("GOMEMLIMIT moved between two Inits over the same limits: %d then %d", r1.Memory.GOMEMLIMIT, r2.Memory.GOMEMLIMIT)
	}
	if n := strings.Count(log.String(), "msg=\"tune: cgroup"); n != 2 {
		t.Errorf("want one start line per Init, got %d:\n%s", n, log.String())
	}
}

func TestInitReportsBadEnvironmentAndStillApplies(t *testing.T) {
	restoreRuntime(t)
	t.Setenv("GOTUNE_MAXPROCS", "sometimes")
	t.Setenv("GOTUNE_MEMORY_RATIO", "0.5")
	var log bytes.Buffer
	r, err := tune.Init(tune.Options{Logger: quietLogger(&log), CrashFile: "off"})
	if err == nil || !strings.Contains(err.Error(), `GOTUNE_MAXPROCS="sometimes"`) {
		t.Fatalf("Init error = %v, want one naming GOTUNE_MAXPROCS", err)
	}
	if r.Memory.Ratio != 0.5 {
		t.Errorf("the valid GOTUNE_MEMORY_RATIO was lost: ratio %v", r.Memory.Ratio)
	}
	if r.CPU.Policy != tune.ProcsAuto {
		t.Errorf("the bad GOTUNE_MAXPROCS did not fall back to auto: %q", r.CPU.Policy)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "GOTUNE_MAXPROCS") {
		t.Errorf("no warning naming the variable:\n%s", log.String())
	}
	if len(r.Errors) != 1 {
		t.Errorf("Report.Errors = %q, want the one error", r.Errors)
	}
}

func TestDetectChangesNothing(t *testing.T) {
	restoreRuntime(t)
	debug.SetMemoryLimit(1 << 40)
	before := runtime.GOMAXPROCS(0)
	r, _ := tune.Detect(tune.Options{MaxProcs: tune.ProcsFloor, MemoryRatio: 0.1})
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("Detect changed GOMEMLIMIT to %d", got)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("Detect changed GOMAXPROCS to %d", got)
	}
	if r.Applied {
		t.Error("Detect's report says Applied")
	}
}

func TestDetectMissingRoot(t *testing.T) {
	dir := t.TempDir()
	r, err := tune.Detect(tune.Options{Root: dir})
	if err == nil || !strings.Contains(err.Error(), dir+"/proc/self/cgroup") {
		t.Fatalf("error = %v, want one naming %s/proc/self/cgroup", err, dir)
	}
	if r.Cgroup.Version != 0 || r.Memory.Action != "unchanged" || r.CPU.Action == "set" {
		t.Errorf("a failed discovery decided something: %+v", r)
	}
	b, _ := json.Marshal(r)
	if !bytes.Contains(b, []byte(`"errors":["`)) {
		t.Errorf("JSON lacks the error: %s", b)
	}
}

// TestInitConcurrent runs Init, Detect and Stop together; run with -race.
func TestInitConcurrent(t *testing.T) {
	restoreRuntime(t)
	var log bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &log, mu: &mu}, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				switch i % 3 {
				case 0:
					tune.Init(tune.Options{Logger: logger, CrashFile: "off", RefreshInterval: 10e6})
				case 1:
					tune.Detect(tune.Options{})
				default:
					tune.Stop()
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(log.String(), "tune: cgroup"); n != 3*20 {
		t.Errorf("got %d start lines, want %d (one per Init)", n, 3*20)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// panickyHandler panics on the first record it is given and records the
// rest: a broken handler of the user's.
type panickyHandler struct {
	panicked bool
	records  []slog.Record
}

func (h *panickyHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *panickyHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *panickyHandler) WithGroup(string) slog.Handler            { return h }
func (h *panickyHandler) Handle(_ context.Context, r slog.Record) error {
	if !h.panicked {
		h.panicked = true
		panic("handler broke")
	}
	h.records = append(h.records, r)
	return nil
}

func TestInitNeverPanics(t *testing.T) {
	restoreRuntime(t)
	h := &panickyHandler{}
	var err error
	var rep tune.Report
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Init panicked: %v", p)
			}
		}()
		rep, err = tune.Init(tune.Options{Logger: slog.New(h), CrashFile: "off"})
	}()
	if err == nil || !strings.Contains(err.Error(), "log handler panicked") || !strings.Contains(err.Error(), "handler broke") {
		t.Errorf("Init error = %v, want one saying the handler panicked", err)
	}
	if len(h.records) != 0 {
		t.Errorf("after its panic the handler was given %d more records, want none (tune's lines go to stderr)", len(h.records))
	}
	if runtime.GOOS == "linux" && !rep.Applied {
		t.Error("Init did not apply its decisions after the handler panicked")
	}
	// tune still works afterwards.
	if _, err := tune.Init(tune.Options{Logger: slog.New(slog.DiscardHandler), CrashFile: "off"}); err != nil && strings.Contains(err.Error(), "internal error") {
		t.Errorf("a later Init failed: %v", err)
	}
}

// TestDetectShowsSkippedLines: a malformed line of /proc/self/cgroup is
// passed over, not an error, and the report says so.
func TestDetectShowsSkippedLines(t *testing.T) {
	r, err := tune.Detect(tune.Options{Root: "testdata/unrelated-bad-lines"})
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	found := false
	for _, l := range r.Cgroup.Skipped {
		found = found || strings.Contains(l, `"13:misc"`)
	}
	if !found {
		t.Errorf("Cgroup.Skipped = %q, want the malformed line 13:misc named", r.Cgroup.Skipped)
	}
}

// TestBlankImportThenJSONDefault: a program that blank-imports tune/auto
// and then makes a JSON handler slog's default gets tune's later lines
// (from the refresh loop and a leak warning) as JSON, with their real
// level: tune looks the default logger up when it writes.
func TestBlankImportThenJSONDefault(t *testing.T) {
	cmd := exec.Command(build(t, "./internal/testprog/jsonlog"))
	cmd.Env = append(cleanEnv(), "GOTUNE_REFRESH=100ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jsonlog: %v\n%s", err, stderr.String())
	}
	var sawWarn, sawInfo bool
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.Contains(line, `"msg":"tune: `) {
			continue
		}
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Kind  string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a line of tune's after slog.SetDefault is not JSON: %v: %s", err, line)
			continue
		}
		switch {
		case strings.HasPrefix(rec.Msg, "tune: object collected without being closed"):
			sawWarn = rec.Level == "WARN" && rec.Kind == "test.Conn"
		case strings.HasPrefix(rec.Msg, "tune: GOMAXPROCS"):
			sawInfo = rec.Level == "INFO"
		}
	}
	if !sawWarn || !sawInfo {
		t.Errorf("want the leak warning as JSON at WARN with its kind (%v) and the loop's GOMAXPROCS line at INFO (%v):\n%s", sawWarn, sawInfo, stderr.String())
	}
	if strings.Contains(stderr.String(), "INFO WARN") || strings.Contains(stderr.String(), `"msg":"WARN tune`) {
		t.Errorf("a warning came through the old default bridge:\n%s", stderr.String())
	}
}
