// Command lane is the VM lane of CI (.ci/vm runs it from the module's
// root): it builds the packages that hold real-kernel tests as static test
// binaries, and the programs those tests run (which the tests would
// otherwise build with a Go toolchain the guest lacks), packs them with
// busybox into an initramfs, and boots Debian's kernel under QEMU once per
// guest: a cgroup v2 guest and a pure cgroup v1 guest, each with more CPUs
// than this machine. It prints every test that ran with its verdict, and
// each guest's boot-to-result time, and exits 1 when anything failed: a
// test, a skipped test, a guest that did not finish in time, a console it
// cannot parse.
//
//	go run ./internal/vm/lane [-guests v2,v1] [-cpus 4] [-timeout 4m] [-keep DIR]
//
// With tools missing (qemu-system-x86, busybox-static) it skips, exit 0,
// unless GOTUNE_TEST_REQUIRE_CGROUPS=1 makes that a failure, as in CI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runtimehooks/tune/internal/cgrouptest"
	"github.com/runtimehooks/tune/internal/vm"
)

// suite is one package's real-kernel tests: one step in each guest.
type suite struct {
	step  string   // the step's name in the marker lines
	pkg   string   // the package, from the module's root
	tests []string // top-level tests run in every guest
	v2    []string // top-level tests run in the v2 guest only
}

// testsIn returns the top-level tests s runs in guest.
func (s suite) testsIn(guest string) []string {
	if guest == "v2" {
		return append(s.tests[:len(s.tests):len(s.tests)], s.v2...)
	}
	return s.tests
}

// suites are the tests the guests run. A test listed here must pass in
// the guest: a skip fails the lane.
var suites = []suite{
	{step: "tune", pkg: ".", tests: []string{
		"TestKernelLimitsOnOwnGroup", "TestKernelParentLimitUnlimitedChild", "TestKernelChildTighterThanParent",
		"TestKernelEnvironmentWins", "TestKernelGOTUNEOff", "TestKernelBlankImport",
		"TestKernelNestedDelegation", "TestKernelCgroupNamespace", "TestPressureSpiral", "TestKernelSignals",
		"TestLastWordsOOMKill", "TestKernelProgramsOwnValues",
	}, v2: []string{"TestKernelMemoryHigh"}},
	{step: "cmd-tune", pkg: "./cmd/tune", tests: []string{
		"TestWatchFollowsLimits", "TestWatchEnvironmentWins", "TestWatchFollowsAMove",
		"TestWatchAncestorQuota", "TestSnapshotOfRealGroup",
	}},
	{step: "server", pkg: "./examples/server", tests: []string{"TestServer"}},
	{step: "cgrouptest", pkg: "./internal/cgrouptest", tests: []string{"TestNewRunsInsideAndRemoves"}},
}

// programs are what those tests run (cgrouptest.Build), built ahead.
var programs = []string{
	"./cmd/tune", "./internal/testprog/blank", "./internal/testprog/spiral",
	"./internal/testprog/cgroupns", "./examples/server", "./internal/testprog/oomer",
	"./internal/testprog/ownvalues",
	"cmd/pprof", // the guest has no go tool pprof: TestLastWordsOOMKill reads the heap profile with it
}

// guestPrebuilt is where the programs are in the guest.
const guestPrebuilt = "/prebuilt"

func main() {
	guests := flag.String("guests", "v2,v1", "the guests to boot, in order: v1 and v2")
	cpus := flag.Int("cpus", 4, "CPUs of each guest (more than this machine's 2, for TestWatchAncestorQuota)")
	memory := flag.Int("memory", 1024, "memory of each guest in MiB")
	// A guest takes 30 to 55 s here: the limits leave room for a loaded
	// machine and keep a hung lane within CI's 10-minute budget.
	timeout := flag.Duration("timeout", 4*time.Minute, "each guest must have powered off by then")
	testTimeout := flag.Duration("test.timeout", 2*time.Minute, "each test binary's -test.timeout in the guest")
	keep := flag.String("keep", "", "keep the consoles, the initramfs and the binaries in `DIR`")
	cache := flag.String("cache", "", "where the kernel is cached (default: the user cache directory's tune-vm)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, options{
		guests: strings.Split(*guests, ","), cpus: *cpus, memory: *memory,
		timeout: *timeout, testTimeout: *testTimeout, keep: *keep, cache: *cache,
	}))
}

type options struct {
	guests       []string
	cpus, memory int
	timeout      time.Duration
	testTimeout  time.Duration
	keep, cache  string
}

func run(ctx context.Context, o options) int {
	start := time.Now()
	busybox, err := vm.Tools()
	if err != nil {
		if cgrouptest.Required() {
			fmt.Fprintf(os.Stderr, "vm lane: FAIL: the VM tools are required (GOTUNE_TEST_REQUIRE_CGROUPS=1) but missing:\n%v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "vm lane: skipped: %v\n(set GOTUNE_TEST_REQUIRE_CGROUPS=1 to fail instead)\n", err)
		return 0
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fmt.Fprintln(os.Stderr, "vm lane: run it from the module's root:", err)
		return 2
	}
	if o.cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, "vm lane:", err)
			return 1
		}
		o.cache = filepath.Join(dir, "tune-vm")
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "vm lane:", err)
		return 1
	}
	kernel, err := vm.Kernel(ctx, o.cache)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm lane: FAIL: fetching the kernel:", err)
		return 1
	}
	fmt.Printf("kernel: %s\n", kernel)

	work := o.keep
	if work == "" {
		if work, err = os.MkdirTemp("", "tune-vm-"); err != nil {
			fmt.Fprintln(os.Stderr, "vm lane:", err)
			return 1
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "vm lane:", err)
		return 1
	}
	t := time.Now()
	initrd, err := stage(ctx, o, busybox, work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm lane: FAIL: building the initramfs:", err)
		return 1
	}
	fi, _ := os.Stat(initrd)
	fmt.Printf("initramfs: %d MiB, built in %.1fs\n", fi.Size()>>20, time.Since(t).Seconds())

	failed := false
	var times []string
	for _, g := range o.guests {
		ok, line := boot(ctx, o, g, kernel, initrd, work)
		failed = failed || !ok
		times = append(times, line)
	}
	verdict := "PASS"
	if failed {
		verdict = "FAIL"
	}
	fmt.Printf("\nvm lane: %s in %.0fs (%s)\n", verdict, time.Since(start).Seconds(), strings.Join(times, "; "))
	if failed {
		return 1
	}
	return 0
}

// stage builds the binaries into a tree with busybox, README.md and the
// init, and packs it; it returns the initramfs's path.
func stage(ctx context.Context, o options, busybox, work string) (string, error) {
	tree := filepath.Join(work, "root")
	if err := os.RemoveAll(tree); err != nil {
		return "", err
	}
	if err := vm.BuildPrograms(ctx, ".", filepath.Join(tree, guestPrebuilt), programs...); err != nil {
		return "", err
	}
	steps := map[string][]vm.Step{}
	for _, s := range suites {
		bin := "/tests/" + s.step + ".test"
		if err := vm.BuildTest(ctx, ".", filepath.Join(tree, bin), s.pkg); err != nil {
			return "", err
		}
		dir := filepath.Join("/src", s.pkg)
		if err := os.MkdirAll(filepath.Join(tree, dir), 0o755); err != nil {
			return "", err
		}
		for _, g := range o.guests {
			tests := s.testsIn(g)
			env := []string{"GOTUNE_TEST_REQUIRE_CGROUPS=1", cgrouptest.PrebuiltEnv + "=" + guestPrebuilt}
			steps[g] = append(steps[g], vm.TestStep(s.step, dir, bin, env, o.testTimeout, tests))
		}
	}
	// TestSnapshotOfRealGroup runs the README's recipe.
	if err := vm.CopyFile("README.md", filepath.Join(tree, "src/README.md"), 0o644); err != nil {
		return "", err
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	return initrd, vm.Pack(ctx, busybox, tree, steps, initrd)
}

// boot runs one guest and checks what it reported; it returns whether all
// passed and a line with its times.
func boot(ctx context.Context, o options, guest, kernel, initrd, work string) (bool, string) {
	fmt.Printf("\n=== guest %s: %d CPUs, %d MiB, cgroup %s\n", guest, o.cpus, o.memory, guest)
	logPath := filepath.Join(work, "console-"+guest+".log")
	log, err := os.Create(logPath)
	if err != nil {
		fmt.Println("FAIL:", err)
		return false, guest + " not booted"
	}
	defer log.Close()
	m := vm.Machine{Kernel: kernel, Initrd: initrd, CPUs: o.cpus, MemoryMiB: o.memory,
		Cmdline: []string{vm.GuestEnv + "=" + guest}, Timeout: o.timeout}
	b, bootErr := m.Run(ctx, log)
	var names []string
	var want [][]string
	for _, s := range suites {
		names = append(names, s.step)
		want = append(want, s.testsIn(guest))
	}
	r, parseErr := vm.Parse(b.Console, names)
	err = errors.Join(bootErr, parseErr, r.Report(os.Stdout, want))
	line := fmt.Sprintf("%s: results after %.1fs", guest, b.ToDone.Seconds())
	fmt.Printf("  boot to results: %.1fs wall (guest up %.1fs at init, %.1fs at the end); qemu ran %.1fs\n",
		b.ToDone.Seconds(), r.Booted, r.Done, b.Wall.Seconds())
	if err == nil {
		return true, line
	}
	fmt.Printf("FAIL: guest %s:\n%v\n", guest, err)
	vm.ShowConsole(os.Stdout, b.Console, logPath, o.keep != "", guest)
	return false, line + " (FAIL)"
}
