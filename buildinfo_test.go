package tune_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
)

// versionDoc is the /version document; the raw map catches keys that must
// not be there.
type versionDoc struct {
	Path         string `json:"path"`
	Version      string `json:"version"`
	Revision     string `json:"revision"`
	Time         string `json:"time"`
	Modified     *bool  `json:"modified"`
	GoVersion    string `json:"go_version"`
	GOOS         string `json:"goos"`
	GOARCH       string `json:"goarch"`
	Compiler     string `json:"compiler"`
	CgoEnabled   bool   `json:"cgo_enabled"`
	Warning      string `json:"warning"`
	Dependencies []struct {
		Path, Version string
	} `json:"dependencies"`
}

var versionKeys = []string{"path", "version", "revision", "time", "modified", "go_version", "goos", "goarch", "compiler", "cgo_enabled"}

func decodeVersion(t *testing.T, body []byte) (versionDoc, map[string]any) {
	t.Helper()
	var d versionDoc
	var raw map[string]any
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("/version is not JSON: %v\n%s", err, body)
	}
	json.Unmarshal(body, &raw)
	for _, k := range versionKeys {
		if _, ok := raw[k]; !ok {
			t.Errorf("/version has no %q field:\n%s", k, body)
		}
	}
	return d, raw
}

func TestVersionHandlerMethods(t *testing.T) {
	h := tune.VersionHandler()
	for _, tc := range []struct {
		method   string
		code     int
		wantBody bool
	}{
		{http.MethodGet, 200, true},
		{http.MethodHead, 200, false},
		{http.MethodPost, 405, false},
		{http.MethodPut, 405, false},
		{http.MethodDelete, 405, false},
		{http.MethodOptions, 405, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/version", nil))
			if rec.Code != tc.code {
				t.Fatalf("%s: status %d, want %d", tc.method, rec.Code, tc.code)
			}
			if tc.code == 405 {
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("405 without Allow: GET, HEAD (got %q)", got)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cl := rec.Header().Get("Content-Length"); cl == "" || cl == "0" {
				t.Errorf("Content-Length %q", cl)
			}
			if got := rec.Body.Len() > 0; got != tc.wantBody {
				t.Errorf("%s: body present = %v, want %v", tc.method, got, tc.wantBody)
			}
		})
	}
}

// TestVersionHandlerTestBinary: a test binary carries no VCS data, which
// gives empty values, not an error, and modified null: unknown, not false.
func TestVersionHandlerTestBinary(t *testing.T) {
	rec := httptest.NewRecorder()
	tune.VersionHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/version", nil))
	d, raw := decodeVersion(t, rec.Body.Bytes())
	if d.Revision != "" || d.Time != "" || d.Modified != nil || d.Warning != "" {
		t.Errorf("VCS fields of a test binary: %+v, want empty", d)
	}
	if m, ok := raw["modified"]; !ok || m != nil {
		t.Errorf("modified = %v (present %v), want null:\n%s", m, ok, rec.Body.String())
	}
	if d.GoVersion != runtime.Version() || d.GOOS != runtime.GOOS || d.GOARCH != runtime.GOARCH || d.Compiler != runtime.Compiler {
		t.Errorf("toolchain fields %+v, want %s %s/%s %s", d, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.Compiler)
	}
	if _, ok := raw["dependencies"]; ok {
		t.Error("dependencies served without WithDependencies")
	}
}

// TestVersionHandlerBuild builds a small program the way a release is built
// (-buildvcs=true, a secret passed with -ldflags -X) in a git repository
// the test makes, first clean and then dirty, and checks what /version and
// /metrics say about it, and that neither leaks the flags.
func TestVersionHandlerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs; skipped with -short")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not found in CI")
		}
		t.Skip("git not installed")
	}
	repoRoot, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	modText, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	// The program's module needs what tune needs: tune's own requirements,
	// plus tune itself from this checkout.
	gomod := strings.Replace(string(modText), "module github.com/runtimehooks/tune", "module example.com/versiontest", 1) +
		"\nrequire github.com/runtimehooks/tune v0.0.0\n\nreplace github.com/runtimehooks/tune => " + repoRoot + "\n"

	dir, bin := t.TempDir(), t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", gomod)
	write("go.sum", string(sum))
	write("main.go", versionProgram)

	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Settle go.mod and go.sum before committing, so that the VCS build
	// finds a clean tree.
	run("go", "mod", "tidy")
	run(git, "init", "-q")
	run(git, "add", "-A")
	run(git, "commit", "-q", "-m", "release")
	head := run(git, "rev-parse", "HEAD")
	commitTime, err := time.Parse(time.RFC3339, run(git, "log", "-1", "--format=%cI"))
	if err != nil {
		t.Fatal(err)
	}

	build := func(name string, vcs ...string) string {
		t.Helper()
		out := filepath.Join(bin, name)
		buildvcs := "-buildvcs=true"
		if len(vcs) > 0 {
			buildvcs = vcs[0]
		}
		run("go", "build", buildvcs, "-ldflags", "-X main.secret=hunter2", "-o", out, ".")
		return out
	}
	exe := func(path string, arg string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(path, arg)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", path, arg, err, e.String())
		}
		if !strings.Contains(e.String(), "secret-len 7") {
			t.Fatalf("-X main.secret did not take effect (stderr %q): the leak check would prove nothing", e.String())
		}
		for _, bad := range []string{"hunter2", "ldflags", "-X main", "CGO_CFLAGS", "GOFLAGS", "PATH="} {
			if strings.Contains(o.String(), bad) {
				t.Errorf("%s output contains %q:\n%s", arg, bad, o.String())
			}
		}
		return o.String(), e.String()
	}

	clean := build("clean")
	out, stderr := exe(clean, "version")
	d, raw := decodeVersion(t, []byte(out))
	vt, err := time.Parse(time.RFC3339, d.Time)
	if d.Path != "example.com/versiontest" || d.Revision != head || err != nil || !vt.Equal(commitTime) || d.Modified == nil || *d.Modified || d.Warning != "" {
		t.Errorf("clean build: %+v; want path example.com/versiontest, revision %s, time %s, not modified, no warning", d, head, commitTime)
	}
	if d.GoVersion != runtime.Version() || d.GOOS != runtime.GOOS || d.GOARCH != runtime.GOARCH || d.Compiler != "gc" {
		t.Errorf("clean build toolchain fields: %+v", d)
	}
	if _, ok := raw["dependencies"]; ok {
		t.Error("dependencies served without WithDependencies")
	}
	if strings.Contains(stderr, "modified") {
		t.Errorf("clean build warned: %s", stderr)
	}

	out, _ = exe(clean, "deps")
	d, _ = decodeVersion(t, []byte(out))
	var paths []string
	for _, dep := range d.Dependencies {
		paths = append(paths, dep.Path)
	}
	if !strings.Contains(strings.Join(paths, " "), "github.com/prometheus/client_golang") ||
		!strings.Contains(out, `"replace_path": "(local directory)"`) || strings.Contains(out, repoRoot) {
		t.Errorf("WithDependencies: want client_golang listed and tune's local replacement hidden:\n%s", out)
	}

	metricsOut, _ := exe(clean, "metrics")
	if !strings.Contains(metricsOut, `revision="`+head+`"`) || !strings.Contains(metricsOut, `modified="false"`) {
		t.Errorf("gotune_build_info does not name revision %s, modified false:\n%s", head, grepLines(metricsOut, "gotune_build_info"))
	}

	// A change that is not committed: the binary matches no commit.
	write("main.go", versionProgram+"\n// uncommitted\n")
	dirty := build("dirty")
	out, stderr = exe(dirty, "version")
	d, _ = decodeVersion(t, []byte(out))
	if d.Modified == nil || !*d.Modified || d.Warning == "" || d.Revision != head {
		t.Errorf("dirty build: %+v; want modified with a warning, revision %s", d, head)
	}
	if n := strings.Count(stderr, "WARN"); n != 1 || !strings.Contains(stderr, "modified") {
		t.Errorf("dirty build: want one WARN line about the modified tree, stderr:\n%s", stderr)
	}
	metricsOut, _ = exe(dirty, "metrics")
	if !strings.Contains(metricsOut, `modified="true"`) {
		t.Errorf("dirty build: gotune_build_info not modified=\"true\":\n%s", grepLines(metricsOut, "gotune_build_info"))
	}

	// No VCS data at all: modified is unknown, which must not read as false.
	novcs := build("novcs", "-buildvcs=false")
	out, stderr = exe(novcs, "version")
	_, raw = decodeVersion(t, []byte(out))
	if m := raw["modified"]; m != nil || raw["revision"] != "" || strings.Contains(stderr, "WARN") {
		t.Errorf("build without VCS data: modified %v, revision %v, want null and \"\":\n%s\n%s", m, raw["revision"], out, stderr)
	}
	metricsOut, _ = exe(novcs, "metrics")
	if info := grepLines(metricsOut, "gotune_build_info{"); info == "" || strings.Contains(info, `modified="false"`) || strings.Contains(info, `modified="true"`) {
		t.Errorf("build without VCS data: gotune_build_info must not say modified true or false:\n%s", info)
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// versionProgram prints /version ("version", "deps") or /metrics
// ("metrics") to stdout, and on stderr proves that -X main.secret was set.
const versionProgram = `package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runtimehooks/tune"
)

var secret string

func main() {
	var h http.Handler
	switch os.Args[1] {
	case "version":
		h = tune.VersionHandler()
	case "deps":
		h = tune.VersionHandler(tune.WithDependencies())
	case "metrics":
		reg := prometheus.NewRegistry()
		if err := tune.Register(reg); err != nil {
			panic(err)
		}
		h = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	os.Stdout.Write(rec.Body.Bytes())
	fmt.Fprintln(os.Stderr, "secret-len", len(secret))
}
`
