package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestStatusFlag runs `tune -watch -status 127.0.0.1:0` and reads its own
// status page: the loop's samples arrive, and SIGTERM ends it cleanly.
func TestStatusFlag(t *testing.T) {
	cmd := exec.Command(buildTune(t), "-watch", "-status", "127.0.0.1:0")
	cmd.Env = cgrouptest.ChildEnv("GOTUNE_REFRESH=100ms")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addrs := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`^tune: status page at (http://\S+)$`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1]
			}
		}
		close(addrs)
	}()
	var url string
	select {
	case url = <-addrs:
	case <-time.After(30 * time.Second):
		t.Fatal("no status page address on stderr within 30s")
	}
	if url == "" {
		t.Fatal("tune exited without printing a status page address")
	}
	get := func(u string) []byte { t.Helper(); return cgrouptest.GetOK(t, u) }
	if page := get(url); !strings.Contains(string(page), `id="gomemlimit-now"`) {
		t.Errorf("the page lacks #gomemlimit-now:\n%.500s", page)
	}
	var doc struct {
		Interval float64           `json:"refresh_interval_seconds"`
		Samples  []json.RawMessage `json:"samples"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := json.Unmarshal(get(url+".json"), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Samples) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the page until the deadline
	}
	if len(doc.Samples) < 3 || doc.Interval != 0.1 {
		t.Errorf("%d samples at %vs; want 3 or more at 0.1s", len(doc.Samples), doc.Interval)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}
