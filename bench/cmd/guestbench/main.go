// Command guestbench is the cgroup v2 part of bench/run: it builds the
// bench module's v2 measurements (the survival, memory.high, reaction and
// ancestor-quota tests) and the programs they run as static binaries,
// boots Debian's kernel on them under QEMU's software emulation with the
// VM lane's pieces (internal/vm: kernel, initramfs, init, console), in a
// cgroup v2 guest with more CPUs than this machine, and reads their
// results off the guest's console. Each result is a line
// "GOTUNE-BENCH-RESULT <file> <JSON>"; a missing, repeated or malformed one
// is a failure, never a skipped row. The results it reads are written to
// the results directory as v2-<file>, with v2-guest.json describing the
// guest, for cmd/table.
//
//	guestbench -results DIR [-size ci|full] [-cpus 4] [-memory 2048] [-timeout D] [-keep DIR] [-v]
//
// Run it from the bench module's directory. -size ci is CI's form, within
// the VM lane's budget; full (the default) is the README's. It exits 1 when
// anything failed: a test, a result line, a guest that did not finish in
// time. With the VM tools missing (qemu-system-x86, busybox-static) it
// skips, exit 0, unless GOTUNE_TEST_REQUIRE_CGROUPS=1 makes that a
// failure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/cgrouptest"
	"github.com/runtimehooks/tune/internal/vm"
)

// suite is one package's v2 measurements: one step in the guest.
type suite struct {
	step    string   // the step's name in the marker lines
	pkg     string   // the package, from the bench module's root
	tests   []string // its top-level tests that run
	results []string // the result files it prints, one line each
}

var suites = []suite{
	{"reaction", "./reaction", []string{"TestReaction"}, []string{result.ReactionFile}},
	{"quota", "./quota", []string{"TestAncestorQuota"}, []string{result.QuotaFile}},
	{"survival", "./survival", []string{"TestSurvival", "TestMemoryHigh"}, []string{result.SurvivalFile, result.MemoryHighFile}},
}

// programs are what those tests run (harness.Build), built ahead.
var programs = []string{"./cmd/workload", "./cmd/follower", "./cmd/cpuburn"}

const guestPrebuilt = "/prebuilt"

type options struct {
	results, size, keep, cache string
	cpus, memory               int
	timeout                    time.Duration
	verbose                    bool
}

func main() {
	var o options
	flag.StringVar(&o.results, "results", "", "write the results to `DIR` (required)")
	flag.StringVar(&o.size, "size", "full", "ci (CI's smaller runs) or full")
	flag.IntVar(&o.cpus, "cpus", 4, "the guest's CPUs (the ancestor-quota test needs more than 2)")
	flag.IntVar(&o.memory, "memory", 2048, "the guest's memory in MiB")
	flag.DurationVar(&o.timeout, "timeout", 0, "the guest must have powered off by then (default 7m for ci, 90m for full)")
	flag.StringVar(&o.keep, "keep", "", "keep the console, the initramfs and the binaries in `DIR`")
	flag.StringVar(&o.cache, "cache", "", "where the kernel is cached (default: the user cache directory's tune-vm, as the VM lane's)")
	flag.BoolVar(&o.verbose, "v", false, "copy the guest's console to standard error as it comes")
	flag.Parse()
	if o.results == "" || (o.size != "ci" && o.size != "full") || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if o.timeout == 0 {
		o.timeout = map[string]time.Duration{"ci": 7 * time.Minute, "full": 90 * time.Minute}[o.size]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o))
}

func run(ctx context.Context, o options) int {
	start := time.Now()
	fail := func(format string, args ...any) int {
		fmt.Printf("guestbench: FAIL: "+format+"\n", args...)
		return 1
	}
	busybox, err := vm.Tools()
	if err != nil {
		if cgrouptest.Required() {
			return fail("the VM tools are required (GOTUNE_TEST_REQUIRE_CGROUPS=1) but missing:\n%v", err)
		}
		fmt.Printf("guestbench: skipped: %v\n(set GOTUNE_TEST_REQUIRE_CGROUPS=1 to fail instead)\n", err)
		return 0
	}
	if b, err := os.ReadFile("go.mod"); err != nil || !strings.Contains(string(b), "module github.com/runtimehooks/tune/bench\n") {
		fmt.Println("guestbench: run it from the bench module's directory (bench/)")
		return 2
	}
	if o.cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fail("%v", err)
		}
		o.cache = filepath.Join(dir, "tune-vm")
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return fail("%v", err)
	}
	kernel, err := vm.Kernel(ctx, o.cache)
	if err != nil {
		return fail("fetching the kernel: %v", err)
	}
	work := o.keep
	if work == "" {
		if work, err = os.MkdirTemp("", "tune-guestbench-"); err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fail("%v", err)
	}
	t := time.Now()
	initrd, err := stage(ctx, o, busybox, work)
	if err != nil {
		return fail("building the initramfs: %v", err)
	}
	fmt.Printf("guestbench: kernel %s; initramfs built in %.1fs\n", kernel, time.Since(t).Seconds())

	fmt.Printf("\n=== guest v2: %d CPUs, %d MiB, %s size\n", o.cpus, o.memory, o.size)
	logPath := filepath.Join(work, "console-v2.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fail("%v", err)
	}
	defer logFile.Close()
	var console io.Writer = logFile
	if o.verbose {
		console = io.MultiWriter(logFile, lines{os.Stderr})
	}
	m := vm.Machine{Kernel: kernel, Initrd: initrd, CPUs: o.cpus, MemoryMiB: o.memory,
		Cmdline: []string{vm.GuestEnv + "=v2"}, Timeout: o.timeout}
	b, bootErr := m.Run(ctx, console)
	var names []string
	var want [][]string
	for _, s := range suites {
		names = append(names, s.step)
		want = append(want, s.tests)
	}
	r, parseErr := vm.Parse(b.Console, names)
	testErr := r.Report(os.Stdout, want)
	found, resultErr := collect(r, suites)
	for name, body := range found {
		if err := os.WriteFile(filepath.Join(o.results, result.V2Prefix+name), body, 0o600); err != nil {
			resultErr = errors.Join(resultErr, err)
		}
	}
	g := result.Guest{Kernel: filepath.Base(filepath.Dir(kernel)), CPUs: o.cpus, MemoryMiB: o.memory, Size: o.size,
		ToResults: b.ToDone.Seconds(), QEMUSeconds: b.Wall.Seconds()}
	if body, err := json.MarshalIndent(g, "", "  "); err == nil {
		err = os.WriteFile(filepath.Join(o.results, result.V2Prefix+result.GuestFile), append(body, '\n'), 0o600)
		resultErr = errors.Join(resultErr, err)
	}
	fmt.Printf("  boot to results: %.1fs wall (guest up %.1fs at init, %.1fs at the end); qemu ran %.1fs; guestbench %.0fs in all\n",
		b.ToDone.Seconds(), r.Booted, r.Done, b.Wall.Seconds(), time.Since(start).Seconds())
	if err := errors.Join(bootErr, parseErr, testErr, resultErr); err != nil {
		fmt.Printf("guestbench: FAIL:\n%v\n", err)
		vm.ShowConsole(os.Stdout, b.Console, logPath, o.keep != "", "v2")
		return 1
	}
	fmt.Printf("guestbench: PASS: %d result files in %s\n", len(found), o.results)
	return 0
}

// stage builds the tests and programs into a tree and packs it with the
// init that runs them; it returns the initramfs's path.
func stage(ctx context.Context, o options, busybox, work string) (string, error) {
	tree := filepath.Join(work, "root")
	if err := os.RemoveAll(tree); err != nil {
		return "", err
	}
	if err := vm.BuildPrograms(ctx, ".", filepath.Join(tree, guestPrebuilt), programs...); err != nil {
		return "", err
	}
	testTimeout := o.timeout - time.Minute
	// The memory measurements run on as many guest CPUs as this machine
	// has cores (harness.CPUSetEnv); the ancestor-quota one on all.
	cpuset := fmt.Sprintf("0-%d", min(o.cpus, runtime.NumCPU())-1)
	var steps []vm.Step
	for _, s := range suites {
		bin := "/tests/" + s.step + ".test"
		if err := vm.BuildTest(ctx, ".", filepath.Join(tree, bin), s.pkg); err != nil {
			return "", err
		}
		env := []string{"GOTUNE_TEST_REQUIRE_CGROUPS=1", cgrouptest.PrebuiltEnv + "=" + guestPrebuilt,
			"GOTUNE_BENCH_OUT=-", "GOTUNE_BENCH_SIZE=" + o.size, harness.CPUSetEnv + "=" + cpuset}
		steps = append(steps, vm.TestStep(s.step, "/", bin, env, testTimeout, s.tests))
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	return initrd, vm.Pack(ctx, busybox, tree, map[string][]vm.Step{"v2": steps}, initrd)
}

// lines writes each console line it is given to w, made safe to print.
type lines struct{ w io.Writer }

func (l lines) Write(p []byte) (int, error) {
	io.WriteString(l.w, vm.Tail(p, 1)+"\n")
	return len(p), nil
}
