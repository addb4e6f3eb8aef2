package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// server is the example server running in a test.
type server struct {
	cmd    *exec.Cmd
	addr   string
	lines  chan string // its stderr, line by line; closed when it ends
	exited chan error
	log    []string // the lines read before it listened
}

// startServer builds the example server (once, or takes it prebuilt: see
// cgrouptest.Build) and runs it inside g with
// args (after -addr 127.0.0.1:0) and env, and returns once it listens. It
// is killed when the test ends.
func startServer(t *testing.T, g *cgrouptest.Group, args []string, env ...string) *server {
	t.Helper()
	s := &server{
		cmd:    g.Command(cgrouptest.Build(t, "."), append([]string{"-addr", "127.0.0.1:0"}, args...)...),
		lines:  make(chan string, 100),
		exited: make(chan error, 1),
	}
	s.cmd.Env = cgrouptest.ChildEnv(append([]string{"GOTUNE_CRASH_FILE=off"}, env...)...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.exited <- s.cmd.Wait()
	}()
	t.Cleanup(func() { s.cmd.Process.Kill() })

	addrRE := regexp.MustCompile(`server: listening addr=(\S+)`)
	timeout := time.After(30 * time.Second)
	for s.addr == "" {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the server exited at start:\n%s", strings.Join(s.log, "\n"))
			}
			s.log = append(s.log, l)
			if m := addrRE.FindStringSubmatch(l); m != nil {
				s.addr = m[1]
			}
		case <-timeout:
			t.Fatalf("no address logged within 30s:\n%s", strings.Join(s.log, "\n"))
		}
	}
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	cgrouptest.RemoveBuilds()
	os.Exit(code)
}

// TestServer builds the example server, runs it inside a real cgroup with
// a 256 MiB memory limit and a 1.5-CPU quota, checks what /metrics,
// /version and /healthz serve, and stops it with SIGTERM.
func TestServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("cgroups are Linux only")
	}
	g := cgrouptest.New(t)
	const limit = 256 << 20
	g.SetMemory(t, limit)
	g.SetCPU(t, 150000, 100000)

	srv := startServer(t, g, nil)
	cmd, lines, addr := srv.cmd, srv.lines, srv.addr
	log := srv.log
	if !strings.Contains(strings.Join(log, "\n"), "tune: cgroup") {
		t.Errorf("the tune report was not logged at start:\n%s", strings.Join(log, "\n"))
	}

	get := func(path string) string { t.Helper(); return string(cgrouptest.GetOK(t, "http://"+addr+path)) }
	if got := get("/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(get("/version")), &v); err != nil || v["go_version"] == nil {
		t.Errorf("/version: %v %v", err, v)
	}
	var status struct {
		Report struct {
			Memory struct {
				Limit int64 `json:"limit_bytes"`
			} `json:"memory"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(get("/debug/tune.json")), &status); err != nil || status.Report.Memory.Limit != limit {
		t.Errorf("/debug/tune.json: %v, memory limit %d, want %d", err, status.Report.Memory.Limit, limit)
	}
	if page := get("/debug/tune"); !strings.Contains(page, `id="gomemlimit-now" data-value="241591910"`) {
		t.Errorf("/debug/tune lacks GOMEMLIMIT 241591910:\n%.3000s", page)
	}
	wantProcs := min(runtime.NumCPU(), 2) // the runtime's rule for 1.5 CPUs
	wants := []string{
		"\ngotune_cgroup_memory_limit_bytes 2.68435456e+08\n",
		"\ngotune_cgroup_cpu_quota_cores 1.5\n",
		"\ngo_gc_gomemlimit_bytes 2.4159191e+08\n", // 90% of 256 MiB, truncated
		"\ngo_sched_gomaxprocs_threads " + strconv.Itoa(wantProcs) + "\n",
		"\ngotune_info{",
		"\ngotune_build_info{",
		"\ngotune_memory_pressure ",
		"\ngotune_gc_cpu_fraction ",
		"\ngo_goroutines ",
	}
	// The pressure series appear with tune's first measurement: poll.
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		metrics := get("/metrics")
		missing = missing[:0]
		for _, w := range wants {
			if !strings.Contains(metrics, w) {
				missing = append(missing, strings.TrimSpace(w))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling /metrics until the deadline
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %q", missing)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopDeadline := time.After(15 * time.Second)
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			log = append(log, l)
		case <-stopDeadline:
			t.Fatalf("the server did not stop within 15s of SIGTERM:\n%s", strings.Join(log, "\n"))
		}
	}
	if err := <-srv.exited; err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "server: stopped") {
		t.Errorf("no clean stop logged:\n%s", strings.Join(log, "\n"))
	}
}
