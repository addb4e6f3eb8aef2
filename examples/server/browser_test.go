package main

// A real browser on the status page: Debian's chromium, headless, loads
// /debug/tune from the example server running inside a real cgroup v1
// memory limit while the server's -churn load moves the heap.

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// chromium returns the path of Debian's chromium. It skips the test where
// it is missing, and fails it instead under GOTUNE_TEST_REQUIRE_CGROUPS=1
// (CI installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if cgrouptest.Required() {
		t.Fatal("chromium not found, but GOTUNE_TEST_REQUIRE_CGROUPS=1 (CI) requires the browser test: apt-get install chromium")
	}
	t.Skip("chromium not installed (apt-get install --no-install-recommends chromium); set GOTUNE_TEST_REQUIRE_CGROUPS=1 to fail instead")
	return ""
}

// browse runs headless chromium on url with a fresh profile and the
// background networking off (the network here is closed), plus args, and
// returns what it printed on stdout.
func browse(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// artifacts is the folder the test keeps its screenshot in:
// $GOTUNE_TEST_ARTIFACTS, or artifacts/browser at the repository's root
// (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("GOTUNE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "browser")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

// domValue returns the number in attr of the element whose key attribute
// is value, in a DOM chromium dumped (it keeps the attributes in the
// order the page wrote them: key first).
func domValue(t *testing.T, dom []byte, key, value, attr string) (int64, bool) {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(key+`="`+value+`"`) + `[^>]*?\s` + regexp.QuoteMeta(attr) + `="(\d+)"`)
	m := re.FindSubmatch(dom)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	return n, err == nil
}

// statusDoc is the part of /debug/tune.json the test reads.
type statusDoc struct {
	Report struct {
		Memory struct {
			Limit      int64 `json:"limit_bytes"`
			GOMEMLIMIT int64 `json:"gomemlimit_bytes"`
		} `json:"memory"`
	} `json:"report"`
	Samples []struct {
		HeapLive   uint64 `json:"heap_live_bytes"`
		GOMEMLIMIT int64  `json:"gomemlimit_bytes"`
	} `json:"samples"`
}

// TestStatusPageInBrowser loads the status page in headless chromium: a
// screenshot (kept as an artifact, checked to be a PNG of the window's
// size that is not blank), the rendered DOM's memory plot (the heap,
// GOMEMLIMIT = 0.9 × the limit, the cgroup limit), and the page's own
// script updating the numbers after the test lowers the group's limit.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	g := cgrouptest.New(t)
	const limit, lowered = 256 << 20, 192 << 20
	g.SetMemory(t, limit)
	g.SetCPU(t, 150000, 100000)
	srv := startServer(t, g, []string{"-churn", "48"}, "GOTUNE_REFRESH=250ms")
	base := "http://" + srv.addr
	go func() { // the server's log, read so that it never blocks on it
		for range srv.lines {
		}
	}()

	get := func(u string) []byte { t.Helper(); return cgrouptest.GetOK(t, u) }
	// waitStatus polls the JSON form until ok holds (90 s at most).
	waitStatus := func(what string, ok func(statusDoc) bool) statusDoc {
		t.Helper()
		var doc statusDoc
		for deadline := time.Now().Add(90 * time.Second); ; {
			doc = statusDoc{}
			if err := json.Unmarshal(get(base+"/debug/tune.json"), &doc); err != nil {
				t.Fatal(err)
			}
			if ok(doc) {
				return doc
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 90s; the status says %+v", what, doc.Report)
			}
			time.Sleep(250 * time.Millisecond) // polling the page until the deadline
		}
	}
	// Enough history for a plot, and a heap that moved. The README's
	// picture (GOTUNE_UPDATE_SCREENSHOT=1) gets a minute of it.
	update := os.Getenv("GOTUNE_UPDATE_SCREENSHOT") == "1"
	samples := 40
	if update {
		samples = 240
	}
	waitStatus("enough samples with the heap moving", func(d statusDoc) bool {
		seen := map[uint64]bool{}
		for _, s := range d.Samples {
			seen[s.HeapLive>>20] = true
		}
		return len(d.Samples) >= samples && len(seen) >= 3
	})

	shot := filepath.Join(artifacts(t), "status.png")
	browse(t, bin, base+"/debug/tune", "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", "--virtual-time-budget=3000")
	t.Logf("screenshot: %s", shot)
	checkScreenshot(t, shot, 1280, 1600)
	if update {
		b, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join("..", "..", "docs", "status.png"), b, 0o644)
		}
		if err != nil {
			t.Fatalf("updating docs/status.png: %v", err)
		}
	}

	// The memory plot, as the browser built it: the three series, with
	// the current values.
	dom := browse(t, bin, base+"/debug/tune", "--dump-dom", "--virtual-time-budget=3000")
	const wantGOMEMLIMIT = 241591910 // 0.9 × 256 MiB, truncated as tune does
	for _, c := range []struct {
		series string
		want   int64 // 0: any value above 0
	}{{"memory-limit", limit}, {"gomemlimit", wantGOMEMLIMIT}, {"heap-live", 0}, {"memory-in-use", 0}} {
		got, ok := domValue(t, dom, "data-series", c.series, "data-now")
		switch {
		case !ok:
			t.Errorf("the rendered DOM has no memory series %q", c.series)
		case c.want == 0 && got <= 0, c.want != 0 && got != c.want:
			t.Errorf("series %q: data-now %d, want %d", c.series, got, c.want)
		}
		if !regexp.MustCompile(`data-series="` + c.series + `"[^>]*\sd="M[0-9.]+ [0-9.]+ L`).Match(dom) {
			t.Errorf("series %q is not drawn as a line", c.series)
		}
	}
	if got, _ := domValue(t, dom, "id", "gomemlimit-now", "data-value"); got != wantGOMEMLIMIT {
		t.Errorf("#gomemlimit-now %d, want %d", got, wantGOMEMLIMIT)
	}
	if !bytes.Contains(dom, []byte(`<section id="previous-exit">`)) {
		t.Error("the rendered DOM has no section on how the previous run ended")
	}

	// The page updates itself: keep the page as it was before the limit
	// changes, lower the limit, and let the browser load that old page
	// through a proxy that serves it once and then passes the page's own
	// requests on to the server. The numbers the DOM ends with came from
	// the script's refresh.
	before := get(base + "/debug/tune")
	if got, _ := domValue(t, before, "id", "gomemlimit-now", "data-value"); got != wantGOMEMLIMIT {
		t.Fatalf("the page before the change: #gomemlimit-now %d, want %d", got, wantGOMEMLIMIT)
	}
	g.SetMemory(t, lowered)
	const wantLowered = 181193932 // 0.9 × 192 MiB
	waitStatus("GOMEMLIMIT following the lowered limit", func(d statusDoc) bool {
		n := len(d.Samples)
		return d.Report.Memory.GOMEMLIMIT == wantLowered && n > 0 && d.Samples[n-1].GOMEMLIMIT == wantLowered
	})
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	live := httputil.NewSingleHostReverseProxy(target)
	var requests atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(before)
			return
		}
		live.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	// The page polls every 2 s: 7 s of virtual time is three refreshes.
	dom = browse(t, bin, proxy.URL+"/debug/tune", "--dump-dom", "--virtual-time-budget=7000")
	if n := requests.Load(); n < 2 {
		t.Fatalf("the page's script never fetched the page again (%d requests)", n)
	}
	if got, _ := domValue(t, dom, "id", "gomemlimit-now", "data-value"); got != wantLowered {
		t.Errorf("after the limit change, #gomemlimit-now %d, want %d", got, wantLowered)
	}
	if got, _ := domValue(t, dom, "data-series", "memory-limit", "data-now"); got != lowered {
		t.Errorf("after the limit change, the memory-limit series ends at %d, want %d", got, lowered)
	}
	if got, _ := domValue(t, dom, "data-series", "gomemlimit", "data-now"); got != wantLowered {
		t.Errorf("after the limit change, the gomemlimit series ends at %d, want %d", got, wantLowered)
	}
	if !bytes.Contains(dom, []byte(`data-kind="limit"`)) {
		t.Error("the event list shows no limit change")
	}
}

// checkScreenshot decodes the PNG at path and checks its size and that it
// shows something: many colours, and a fair share of non-white pixels.
func checkScreenshot(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, w, h) {
		t.Fatalf("the screenshot is %v, want %dx%d", b.Size(), w, h)
	}
	colours := map[[3]uint32]bool{}
	nonWhite := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
			if r>>8 < 0xf0 || g>>8 < 0xf0 || b>>8 < 0xf0 {
				nonWhite++
			}
		}
	}
	share := float64(nonWhite) / float64(w*h)
	t.Logf("screenshot: %d colours, %.1f%% not white", len(colours), 100*share)
	if len(colours) < 20 || share < 0.01 {
		t.Errorf("the screenshot looks blank: %d colours, %.2f%% not white", len(colours), 100*share)
	}
}
