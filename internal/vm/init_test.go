package vm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestInit(t *testing.T) {
	steps := map[string][]Step{
		"v2": {{Name: "a", Dir: "/src", Env: []string{"K=it's"}, Args: []string{"/tests/a.test", "-test.run=^(TestA|TestB)$"}}},
		"v1": {{Name: "a", Dir: "/src", Args: []string{"/tests/a.test"}}, {Name: "b", Dir: "/", Args: []string{"/bin/true"}}},
	}
	b, err := Init(steps)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"#!/bin/busybox sh\n",
		"case \"$GOTUNE_TEST_GUEST\" in\nv1)\n\tmount -t tmpfs",
		"mount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu,cpuacct",
		"\tstep a '/src' env '/tests/a.test'\n\tstep b '/' env '/bin/true'\n\techo \"GOTUNE-VM-DONE 2 $(up)\"\n",
		"v2)\n\tmount -t cgroup2 cgroup2 /sys/fs/cgroup",
		`step a '/src' env 'K=it'\''s' '/tests/a.test' '-test.run=^(TestA|TestB)$'`,
		"\techo \"GOTUNE-VM-DONE 1 $(up)\"\n",
		"*)\n\tgiveup \"GOTUNE_TEST_GUEST=$GOTUNE_TEST_GUEST: no such guest\"",
		"esac\npoweroff -f\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("init lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "v1)") > strings.Index(s, "v2)") {
		t.Errorf("guests not in order:\n%s", s)
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s\n%s", err, out, s)
		}
	}

	for _, bad := range []map[string][]Step{
		{"v3": nil},
		{"v2": {{Name: "two words", Args: []string{"x"}}}},
		{"v2": {{Name: "a$b", Args: []string{"x"}}}},
		{"v2": {{Name: "noprogram"}}},
	} {
		if _, err := Init(bad); err == nil {
			t.Errorf("Init(%v): no error", bad)
		}
	}
}

// TestInitSteps runs the init's own step function in this machine's shell
// (the guest's is busybox's) and parses what it printed: the lines the init
// writes are the lines Parse reads.
func TestInitSteps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the step function reads /proc/uptime")
	}
	dir := t.TempDir()
	script := initFuncs +
		"echo \"" + markBooted + " $(up)\"\n" +
		stepLine(Step{Name: "ok", Dir: dir, Env: []string{"WHO=it's me"},
			Args: []string{"sh", "-c", `[ "$WHO" = "it's me" ] && [ "$PWD" = "$1" ] && echo '{"ops":1}' && echo '--- PASS: TestOK (0.01s)'`, "sh", dir}}) + "\n" +
		stepLine(Step{Name: "exit3", Dir: "/", Args: []string{"sh", "-c", "exit 3"}}) + "\n" +
		stepLine(Step{Name: "nodir", Dir: filepath.Join(dir, "missing"), Args: []string{"true"}}) + "\n" +
		"echo \"" + markDone + " 3 $(up)\"\n"
	out, err := exec.CommandContext(context.Background(), "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r, err := Parse(out, []string{"ok", "exit3", "nodir"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res := r.Results[0]; !res.Pass || len(res.Tests) != 1 || res.CheckTests([]string{"TestOK"}) != nil ||
		len(res.Output) != 1 || res.Output[0] != `{"ops":1}` {
		t.Errorf("step ok: %+v\n%s", res, out)
	}
	if res := r.Results[1]; res.Pass || res.Code != 3 {
		t.Errorf("step exit3: %+v", res)
	}
	if res := r.Results[2]; res.Pass || !res.Ended {
		t.Errorf("step nodir: %+v", res)
	}
}

func TestInitramfs(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed (.ci/vm installs it, and its guests boot from what Initramfs packs)")
	}
	tree := t.TempDir()
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := Initramfs(context.Background(), busybox, tree, out); err == nil || !strings.Contains(err.Error(), "no executable init") {
		t.Errorf("a tree without init: %v", err)
	}
	if err := os.WriteFile(filepath.Join(tree, "init"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(busybox, filepath.Join(tree, "bin", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Initramfs(context.Background(), busybox, tree, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list := exec.Command(busybox, "cpio", "-t")
	list.Stdin = f
	got, err := list.Output()
	if err != nil {
		t.Fatalf("busybox cpio -t: %v", err)
	}
	if names := strings.Fields(string(got)); strings.Join(names, " ") != ". bin bin/busybox init" {
		t.Errorf("archive holds %q", names)
	}
}
