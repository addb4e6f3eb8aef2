package status

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/internal/cgrouptest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cgrouptest.RemoveBuilds()
	os.Exit(code)
}

// TestStatusPreviousExitCrash: a real child crashes with its crash file
// here; the next start (this process's Init with the same file) shows that
// run's end on the page, in the JSON and as an event.
func TestStatusPreviousExitCrash(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.crash")
	cmd := exec.Command(cgrouptest.Build(t, "../internal/testprog/crasher"), "panic", file)
	cmd.Env = cgrouptest.ChildEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("the crasher did not die of its panic (exit status 2): %v\n%s", err, out)
	}
	pid := cmd.ProcessState.Pid()

	h := Handler()
	var before struct {
		PreviousExit *exitJSON `json:"previous_exit"`
	}
	initLive(t, tune.Options{RefreshInterval: tune.RefreshOff, CrashFile: "off"})
	if err := json.Unmarshal(serve(h, http.MethodGet, "/debug/tune.json").Body.Bytes(), &before); err != nil || before.PreviousExit != nil {
		t.Fatalf("control: without a crash file, previous_exit is %+v (%v), want null", before.PreviousExit, err)
	}

	initLive(t, tune.Options{RefreshInterval: tune.RefreshOff, CrashFile: file})
	var doc struct {
		PreviousExit *exitJSON    `json:"previous_exit"`
		Events       []tune.Event `json:"events"`
	}
	if err := json.Unmarshal(serve(h, http.MethodGet, "/debug/tune.json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.PreviousExit
	if e == nil {
		t.Fatal("previous_exit is null after a crash")
	}
	if e.Kind != tune.ExitCrashed || e.PID != pid || !strings.Contains(e.Reason, "crasher: boom") ||
		e.Crash == nil || e.Crash.Message == "" || e.Crash.Path == "" || e.Start.IsZero() || time.Since(e.Start) > time.Hour {
		t.Errorf("previous_exit: %+v (crash %+v), want kind crashed, pid %d, reason naming the panic", e, e.Crash, pid)
	}
	var noted bool
	for _, ev := range doc.Events {
		noted = noted || ev.Kind == "previous-exit" && strings.Contains(ev.Message, "pid "+strconv.Itoa(pid)) && strings.Contains(ev.Message, "crashed")
	}
	if !noted {
		t.Errorf("no previous-exit event naming pid %d: %+v", pid, doc.Events)
	}

	els := parsePage(t, serve(h, http.MethodGet, "/debug/tune").Body.String())
	row, ok := byAttr(els, "id", "previous-exit-kind")
	if !ok || !strings.Contains(row.text, "crashed") || !strings.Contains(row.text, "crasher: boom") || !strings.Contains(row.text, "pid "+strconv.Itoa(pid)) {
		t.Errorf("the page's previous run: %+v", row)
	}
	if _, ok := byAttr(els, "id", "previous-exit-none"); ok {
		t.Error("the page says there was no previous run")
	}
}

// TestStatusPreviousExitView: an OOM-killed run's last words are listed;
// without a previous run the page says so.
func TestStatusPreviousExitView(t *testing.T) {
	in := fakeStatus("")
	in.Exit = &tune.Exit{Kind: tune.ExitOOMKilled, Reason: "its memory pressure was critical when it ended", PID: 7,
		Executable: "/app/server", Start: in.Now.Add(-time.Hour), LastWords: []string{"/tmp/server.crash.lastwords-7-1.heap"}}
	els := parsePage(t, serve(showing(in), http.MethodGet, "/debug/tune").Body.String())
	if row, ok := byAttr(els, "id", "previous-exit-last-words"); !ok || !strings.Contains(row.text, "/tmp/server.crash.lastwords-7-1.heap") {
		t.Errorf("the last words row: %+v", row)
	}
	if row, _ := byAttr(els, "id", "previous-exit-kind"); !strings.Contains(row.text, "oom-killed") {
		t.Errorf("the kind row: %+v", row)
	}
	var doc struct {
		PreviousExit map[string]any `json:"previous_exit"`
	}
	json.Unmarshal(serve(showing(in), http.MethodGet, "/debug/tune.json").Body.Bytes(), &doc)
	if doc.PreviousExit["kind"] != "oom-killed" || doc.PreviousExit["crash"] != nil || len(doc.PreviousExit["last_words"].([]any)) != 1 {
		t.Errorf("previous_exit: %v", doc.PreviousExit)
	}
	in.Exit = nil
	els = parsePage(t, serve(showing(in), http.MethodGet, "/debug/tune").Body.String())
	if _, ok := byAttr(els, "id", "previous-exit-none"); !ok {
		t.Error("without a previous run the page does not say so")
	}
}
