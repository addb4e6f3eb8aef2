package startup

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/bench/internal/harness"
	"github.com/runtimehooks/tune/internal/cgrouptest"
	"go.uber.org/automaxprocs/maxprocs"
)

// The group the benchmarks run in: 512 MiB and 1.5 CPUs. Both sides then
// set GOMEMLIMIT to 90% of 512 MiB and GOMAXPROCS to 1 (tune with
// ProcsFloor, automaxprocs's rule), from the unlimited and 2 CPU state
// each iteration starts in.
const (
	limitBytes = 512 << 20
	quotaUS    = 150_000
	periodUS   = 100_000
	wantMem    = limitBytes * 9 / 10 // 90%, truncated
	wantProcs  = 1
)

// insideEnv is set in the environment of the re-executed test binary.
const insideEnv = "GOTUNE_BENCH_INSIDE"

// notInside says why the benchmarks do not run inside a limited group.
var notInside = "the test binary was not re-executed inside a group"

// TestMain re-executes the test binary inside a fresh limited group when
// benchmarks are asked for (the process must itself be in the group for
// tune and the baselines to find the limits), and removes the group after.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(insideEnv) == "" && flag.Lookup("test.bench").Value.String() != "" {
		exe, err := os.Executable()
		if err == nil {
			var code int
			name := fmt.Sprintf("gotune-bench-%d", os.Getpid())
			lim := harness.Limits{MemoryBytes: limitBytes, QuotaUS: quotaUS, PeriodUS: periodUS}
			code, err = harness.Inside(name, lim, harness.Env(insideEnv+"=1"), append([]string{exe}, os.Args[1:]...)...)
			if err == nil {
				os.Exit(code)
			}
		}
		notInside = err.Error()
	}
	os.Exit(m.Run())
}

func requireInside(b *testing.B) {
	b.Helper()
	if os.Getenv(insideEnv) == "" {
		cgrouptest.Unavailable(b, "%s", notInside)
	}
}

var quiet = slog.New(slog.DiscardHandler)

// BenchmarkStartup is one start-up's worth of limit detection and
// application: tune.Init against maxprocs.Set plus memlimit.Set with its
// cgroup provider, each iteration from the same state (GOMAXPROCS back to
// what the runtime chose, GOMEMLIMIT unlimited).
func BenchmarkStartup(b *testing.B) {
	requireInside(b)
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	defer debug.SetMemoryLimit(math.MaxInt64)
	sides := []struct {
		name string
		init func() error
	}{
		{"tune", func() error {
			_, err := tune.Init(tune.Options{MaxProcs: tune.ProcsFloor, Logger: quiet, RefreshInterval: -1, CrashFile: "off"})
			return err
		}},
		{"baseline", func() error {
			if _, err := maxprocs.Set(maxprocs.Logger(func(string, ...any) {})); err != nil {
				return err
			}
			_, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithLogger(quiet))
			return err
		}},
	}
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				runtime.GOMAXPROCS(procs)
				debug.SetMemoryLimit(math.MaxInt64)
				b.StartTimer()
				if err := s.init(); err != nil {
					b.Fatal(err)
				}
			}
			// Both sides must have done the work, or the comparison is void.
			if got := runtime.GOMAXPROCS(0); got != wantProcs {
				b.Errorf("GOMAXPROCS %d after %s, want %d (from the 1.5 CPU quota)", got, s.name, wantProcs)
			}
			if got := debug.SetMemoryLimit(-1); got != wantMem {
				b.Errorf("GOMEMLIMIT %d after %s, want %d (90%% of 512 MiB)", got, s.name, wantMem)
			}
		})
	}
}

// BenchmarkTick/baseline is what automemlimit does on each refresh tick:
// its provider call, memlimit.FromCgroup, which parses /proc/self/mountinfo
// and /proc/self/cgroup and reads the limit files again. tune's tick is
// measured by the library's own BenchmarkRefreshTick; bench/run pairs them.
func BenchmarkTick(b *testing.B) {
	requireInside(b)
	b.Run("baseline", fromCgroup)
}

// fromCgroup runs automemlimit's memlimit.FromCgroup b.N times.
func fromCgroup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := memlimit.FromCgroup()
		if err != nil || n != limitBytes {
			b.Fatalf("memlimit.FromCgroup() = %d, %v; want %d", n, err, limitBytes)
		}
	}
}

// BenchmarkDetect is tune.Detect (the decisions Init would make, applying
// nothing) against automemlimit's memlimit.FromCgroup, each finding the
// limits from scratch: measured on its own, apart from the tick's pairing.
func BenchmarkDetect(b *testing.B) {
	requireInside(b)
	b.Run("tune", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rep, err := tune.Detect(tune.Options{Logger: quiet, CrashFile: "off"})
			if err != nil || rep.Memory.Limit != limitBytes {
				b.Fatalf("tune.Detect: memory limit %d, %v; want %d", rep.Memory.Limit, err, limitBytes)
			}
		}
	})
	b.Run("baseline", fromCgroup)
}

// BenchmarkBlankImport runs an empty program, start to exit, with tune's
// blank import (tune), with automaxprocs's and automemlimit's (baseline),
// and with neither (plain): what the import costs a program that does
// nothing. Each program prints its resident set size when main starts
// (after the imports' init); the benchmark reports it (rss-KiB, the last
// run's) and the program's size on disk (binary-bytes).
func BenchmarkBlankImport(b *testing.B) {
	runPrograms(b, []program{{"tune", "./cmd/blanktune"}, {"baseline", "./cmd/blankbaseline"}, {"plain", "./cmd/blankplain"}})
}

// BenchmarkBlankService is the same for a typical small service
// (net/http, client_golang's Go and process collectors, slog,
// encoding/json: internal/service) with tune's blank import (tune) and
// without (baseline): what the import adds to a program that already
// links what a service links. The RSS is taken once the service is set
// up, before it would serve.
func BenchmarkBlankService(b *testing.B) {
	runPrograms(b, []program{{"tune", "./cmd/servicetune"}, {"baseline", "./cmd/serviceplain"}})
}

// program is one side of a blank-import benchmark: its name and package.
type program struct{ name, pkg string }

// runPrograms runs each program from exec to exit, b.N times, as a
// sub-benchmark named after it, reporting its RSS (rss-KiB, as it printed
// it) and its size on disk (binary-bytes).
func runPrograms(b *testing.B, sides []program) {
	requireInside(b)
	for _, side := range sides {
		bin := harness.Build(b, side.pkg)
		fi, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		env := harness.Env()
		b.Run(side.name, func(b *testing.B) {
			var rss float64
			for b.Loop() {
				cmd := exec.Command(bin)
				cmd.Env = env
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("%s: %v", bin, err)
				}
				v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "rss_kib ")
				if rss, err = strconv.ParseFloat(v, 64); !ok || err != nil {
					b.Fatalf("%s printed %q, want rss_kib N", bin, out)
				}
			}
			b.ReportMetric(rss, "rss-KiB")
			b.ReportMetric(float64(fi.Size()), "binary-bytes")
		})
	}
}
