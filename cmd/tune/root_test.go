package main

// Tests of the built command's dry run (-root over the snapshots in the
// repository's testdata/), its -json output and its exit status.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// runTuneBin runs the command at bin with args in a clean environment and
// returns its stdout, stderr and exit status. A command still running
// after 10 s is killed and fails the test (a guard against a hang, not a
// timing check).
func runTuneBin(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = rootTestEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q still running after 10 s; stdout:\n%s", bin, args, stdout.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("running %s %q: %v", bin, args, err)
		return "", "", -1
	}
}

// rootTestEnv is the test's environment without the variables that steer
// tune or the Go runtime.
func rootTestEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GOTUNE"), k == "GOMEMLIMIT", k == "GOMAXPROCS", k == "AUTOMEMLIMIT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func fixtureDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "proc/self/mountinfo")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRootDryRun(t *testing.T) {
	bin := buildTune(t)

	t.Run("json", func(t *testing.T) {
		tests := []struct {
			snapshot string
			exit     int
			version  float64
			limit    any // float64, or nil for JSON null
			gomem    any
			quota    any
			errs     []string // substrings, one per expected error
		}{
			{"k8s-v2-cgroupns", 0, 2, float64(482344960), float64(482344960 * 9 / 10), 0.5, nil},
			{"k8s-v1", 0, 1, float64(512 << 20), float64((512 << 20) * 9 / 10), 0.5, nil},
			// no limit at all is not an error
			{"v2-host", 0, 2, nil, nil, nil, nil},
			// a part with an error: exit 1, the report still printed, the other part decided
			{"v2-garbage-memory", 1, 2, nil, nil, 2.5, []string{`memory.max: "garbage" is not a number`}},
			{"v1-zero-cpu", 1, 1, float64(512 << 20), float64((512 << 20) * 9 / 10), nil, []string{"cpu.cfs_quota_us: a quota of 0 is not applied"}},
			{"no-mounts", 1, 0, nil, nil, nil, []string{"memory (cgroup v2): not mounted", "cpu (cgroup v2): not mounted"}},
			// the parent's limits, seen only through a second mount
			{"v2-own-and-host-mounts", 0, 2, float64(512 << 20), float64((512 << 20) * 9 / 10), 1.0, nil},
			// a group path and mount root above the namespace, aligned
			{"v2-nsenter-outside-ns", 0, 2, float64(256 << 20), float64((256 << 20) * 9 / 10), 0.5, nil},
		}
		for _, tt := range tests {
			t.Run(tt.snapshot, func(t *testing.T) {
				root := fixtureDir(t, tt.snapshot)
				stdout, stderr, code := runTuneBin(t, bin, "-json", "-root", root)
				if code != tt.exit {
					t.Errorf("exit status %d, want %d; stderr: %s", code, tt.exit, stderr)
				}
				var doc struct {
					Cgroup  map[string]any `json:"cgroup"`
					Memory  map[string]any `json:"memory"`
					CPU     map[string]any `json:"cpu"`
					Applied *bool          `json:"applied"`
					Errors  []string       `json:"errors"`
				}
				dec := json.NewDecoder(strings.NewReader(stdout))
				if err := dec.Decode(&doc); err != nil {
					t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
				}
				if dec.More() {
					t.Errorf("more than one JSON value on stdout:\n%s", stdout)
				}
				has := func(obj map[string]any, name, key string) any {
					v, ok := obj[key]
					if !ok {
						t.Errorf("no key %s.%s in\n%s", name, key, stdout)
					}
					return v
				}
				if v := has(doc.Cgroup, "cgroup", "version"); v != tt.version {
					t.Errorf("cgroup.version = %v, want %v", v, tt.version)
				}
				if v := has(doc.Memory, "memory", "limit_bytes"); v != tt.limit {
					t.Errorf("memory.limit_bytes = %v, want %v", v, tt.limit)
				}
				// The child runs without GOMEMLIMIT, so "unchanged" is unlimited: null.
				if v := has(doc.Memory, "memory", "gomemlimit_bytes"); v != tt.gomem {
					t.Errorf("memory.gomemlimit_bytes = %v, want %v", v, tt.gomem)
				}
				if v := has(doc.CPU, "cpu", "quota_cores"); v != tt.quota {
					t.Errorf("cpu.quota_cores = %v, want %v", v, tt.quota)
				}
				if v, ok := has(doc.CPU, "cpu", "gomaxprocs").(float64); !ok || v < 1 {
					t.Errorf("cpu.gomaxprocs = %v, want a positive number", v)
				}
				if doc.Applied == nil || *doc.Applied {
					t.Errorf("applied = %v, want false for a dry run", doc.Applied)
				}
				if doc.Errors == nil || len(doc.Errors) != len(tt.errs) {
					t.Fatalf("errors = %#v, want %d (an empty array when none):\n%s", doc.Errors, len(tt.errs), stdout)
				}
				for i, want := range tt.errs {
					if !strings.Contains(doc.Errors[i], want) || !strings.Contains(doc.Errors[i], root) && !strings.Contains(want, "not mounted") {
						t.Errorf("error %q, want it to contain %q and name the file under %s", doc.Errors[i], want, root)
					}
				}
			})
		}
	})

	t.Run("human", func(t *testing.T) {
		root := fixtureDir(t, "v2-garbage-cpu")
		stdout, _, code := runTuneBin(t, bin, "-root", root)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		for _, want := range []string{"dry run over snapshot " + root, "v2", "536870912", `"1.5 100000"`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("report does not contain %q:\n%s", want, stdout)
			}
		}
		root = fixtureDir(t, "systemd-slice")
		stdout, _, code = runTuneBin(t, bin, "-root", root)
		if code != 0 {
			t.Errorf("exit status %d, want 0", code)
		}
		for _, want := range []string{"805306368", filepath.Join(root, "sys/fs/cgroup/system.slice/foo.service/memory.high"), filepath.Join(root, "sys/fs/cgroup/system.slice/cpu.max")} {
			if !strings.Contains(stdout, want) {
				t.Errorf("report does not contain %q:\n%s", want, stdout)
			}
		}
	})

	t.Run("missing snapshot", func(t *testing.T) {
		dir := t.TempDir()
		stdout, _, code := runTuneBin(t, bin, "-json", "-root", dir)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if !strings.Contains(stdout, filepath.Join(dir, "proc/self/cgroup")) {
			t.Errorf("report does not name the missing file:\n%s", stdout)
		}
	})

	t.Run("usage", func(t *testing.T) {
		root := fixtureDir(t, "k8s-v2-cgroupns")
		for _, args := range [][]string{
			{"-bogus"},
			{"-root", root, "extra"},
			{"extra"},
			{"-json=maybe"},
			{"-root"},
		} {
			stdout, stderr, code := runTuneBin(t, bin, args...)
			if code != 2 {
				t.Errorf("%q: exit status %d, want 2", args, code)
			}
			if !strings.Contains(stderr, "usage: tune") {
				t.Errorf("%q: stderr has no usage line:\n%s", args, stderr)
			}
			if stdout != "" {
				t.Errorf("%q: printed a report on bad usage:\n%s", args, stdout)
			}
		}
	})
}

// snapshotRecipe is the README's recipe for taking a snapshot for
// `tune -root` inside a pod, verbatim: it leaves snap/ in the current
// directory.
const snapshotRecipe = `mkdir -p snap/proc/self && cat /proc/self/cgroup > snap/proc/self/cgroup \
  && cat /proc/self/mountinfo > snap/proc/self/mountinfo \
  && cp -r --parents /sys/fs/cgroup/ snap/ 2>/dev/null; tar czf snap.tgz snap`

// TestSnapshotOfRealGroup takes a snapshot with the README's recipe inside
// a real cgroup whose parent holds the limits, and checks that `tune -root`
// over it finds what `tune` finds live in the same group.
func TestSnapshotOfRealGroup(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), snapshotRecipe) {
		t.Fatalf("README.md no longer holds the snapshot recipe this test runs:\n%s", snapshotRecipe)
	}
	parent := cgrouptest.New(t)
	app := parent.Child(t, "app")
	parent.SetMemory(t, 256<<20)
	parent.SetCPU(t, 150000, 100000)
	bin := buildTune(t)

	work := t.TempDir()
	take := app.Command("/bin/sh", "-c", snapshotRecipe)
	take.Dir = work
	if out, err := take.CombinedOutput(); err != nil {
		t.Fatalf("taking the snapshot: %v\n%s", err, out)
	}
	snap := filepath.Join(work, "snap")
	if _, err := os.Stat(filepath.Join(work, "snap.tgz")); err != nil {
		t.Errorf("no snap.tgz: %v", err)
	}

	type report struct {
		Cgroup struct {
			Version int    `json:"version"`
			Mode    string `json:"mode"`
		} `json:"cgroup"`
		Memory struct {
			Limit  *int64 `json:"limit_bytes"`
			Source string `json:"source"`
			Level  int    `json:"levels_up"`
		} `json:"memory"`
		CPU struct {
			Quota  *float64 `json:"quota_cores"`
			Source string   `json:"source"`
			Level  int      `json:"levels_up"`
		} `json:"cpu"`
		Errors []string `json:"errors"`
	}
	decode := func(what string, out []byte) report {
		var r report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		if len(r.Errors) != 0 {
			t.Errorf("%s: errors %q", what, r.Errors)
		}
		return r
	}
	live := app.Command(bin, "-json")
	live.Env = rootTestEnv()
	out, err := live.Output()
	if err != nil {
		t.Fatalf("tune -json in the group: %v\n%s", err, out)
	}
	lr := decode("live", out)
	dry := exec.Command(bin, "-json", "-root", snap)
	dry.Env = rootTestEnv()
	if out, err = dry.Output(); err != nil {
		t.Fatalf("tune -json -root: %v\n%s", err, out)
	}
	sr := decode("snapshot", out)

	if lr.Memory.Limit == nil || *lr.Memory.Limit != 256<<20 || lr.Memory.Level != 1 || lr.CPU.Quota == nil || *lr.CPU.Quota != 1.5 || lr.CPU.Level != 1 {
		t.Fatalf("live: %+v; want the parent's 256 MiB and 1.5 CPUs", lr)
	}
	if sr.Cgroup != lr.Cgroup || *sr.Memory.Limit != *lr.Memory.Limit || sr.Memory.Level != lr.Memory.Level ||
		*sr.CPU.Quota != *lr.CPU.Quota || sr.CPU.Level != lr.CPU.Level {
		t.Errorf("snapshot %+v, live %+v", sr, lr)
	}
	if strings.TrimPrefix(sr.Memory.Source, snap) != lr.Memory.Source || strings.TrimPrefix(sr.CPU.Source, snap) != lr.CPU.Source {
		t.Errorf("sources: snapshot %q %q, live %q %q", sr.Memory.Source, sr.CPU.Source, lr.Memory.Source, lr.CPU.Source)
	}
}
