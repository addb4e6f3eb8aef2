// Command workload is the program of the memory-limit survival test: a
// cache-like service whose live heap holds a fixed number of bytes while,
// for a fixed number of operations on every P at once, it serves an entry
// (reads all of its payload) and replaces another (allocates and fills a
// new one, dropping the old one).
//
//	workload -tune none|automemlimit|tune -live 150MiB -ops 2000000
//
// -tune picks what sets GOMEMLIMIT: nothing (the Go defaults: GOGC=100, no
// memory limit), automemlimit's memlimit.Set with its cgroup provider, or
// tune.Init with its defaults. At the end it prints one JSON line (Result)
// with the throughput (per second of wall time, and per CPU-second from
// getrusage) and the GC CPU fraction over the timed phase, the latter read
// from runtime/metrics.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/bench/internal/result"
)

// Result is the JSON line the workload prints when it finishes.
type Result = result.Workload

func main() {
	mode := flag.String("tune", "none", "what sets GOMEMLIMIT: none, automemlimit or tune")
	liveFlag := flag.String("live", "150MiB", "bytes the live heap holds (suffix KiB or MiB allowed)")
	ops := flag.Int64("ops", 2_000_000, "entries to replace in the timed phase")
	payload := flag.Int("payload", 4096, "bytes of each entry's payload")
	flag.Parse()
	live, err := parseBytes(*liveFlag)
	if err != nil || live <= 0 || *ops <= 0 || *payload <= 0 {
		fmt.Fprintf(os.Stderr, "workload: bad flags: -live %q (%v), -ops %d, -payload %d\n", *liveFlag, err, *ops, *payload)
		os.Exit(2)
	}
	quiet := slog.New(slog.DiscardHandler)
	switch *mode {
	case "none":
	case "automemlimit":
		if _, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithLogger(quiet)); err != nil {
			fmt.Fprintln(os.Stderr, "workload: automemlimit:", err)
			os.Exit(1)
		}
	case "tune":
		if _, err := tune.Init(tune.Options{Logger: quiet}); err != nil {
			fmt.Fprintln(os.Stderr, "workload: tune:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "workload: -tune %q: want none, automemlimit or tune\n", *mode)
		os.Exit(2)
	}
	res := run(live, *ops, *payload)
	res.Tune = *mode
	json.NewEncoder(os.Stdout).Encode(res)
}

// entry is one cache entry: a key, a few small tags (pointers for the GC to
// trace) and a payload that the program writes and reads.
type entry struct {
	key     string
	tags    []string
	payload []byte
}

// entryBytes approximates the heap an entry takes, for sizing the cache.
func entryBytes(payload int) int64 { return int64(payload) + 160 }

func newEntry(r *rand.Rand, payload int) *entry {
	e := &entry{
		key:     strconv.FormatUint(r.Uint64(), 36),
		tags:    []string{"a" + strconv.Itoa(r.IntN(1000)), "b" + strconv.Itoa(r.IntN(1000))},
		payload: make([]byte, payload),
	}
	// Touch every page: a real program fills what it allocates, and only
	// touched pages count against the cgroup's limit.
	seed := byte(r.Uint32())
	for i := range e.payload {
		e.payload[i] = seed + byte(i)
	}
	return e
}

// checksum reads an entry the way serving it would: all of its payload.
func checksum(e *entry) uint64 {
	var h uint64 = 14695981039346656037
	for _, b := range e.payload {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return h + uint64(len(e.key)+len(e.tags))
}

func run(live, ops int64, payload int) Result {
	workers := runtime.GOMAXPROCS(0)
	n := live / entryBytes(payload)
	if n < int64(workers) {
		n = int64(workers)
	}
	cache := make([]*entry, n)
	per := n / int64(workers)

	var wg sync.WaitGroup
	// Build phase: fill the cache (not timed).
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := int64(w) * per; i < int64(w+1)*per; i++ {
				cache[i] = newEntry(r, payload)
			}
		})
	}
	wg.Wait()

	before := readCPU()
	cpu0 := processCPU()
	start := time.Now()
	serve(cache, per, workers, ops, payload, 2)
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	after := readCPU()
	runtime.KeepAlive(cache)

	done := ops / int64(workers) * int64(workers)
	res := Result{
		Ops:        done,
		Seconds:    elapsed.Seconds(),
		OpsPerSec:  float64(done) / elapsed.Seconds(),
		CPUSeconds: cpu.Seconds(),
		GCCycles:   after.cycles - before.cycles,
		LiveBytes:  n * entryBytes(payload),
		GOMEMLIMIT: debug.SetMemoryLimit(-1),
		GOMAXPROCS: workers,
	}
	if cpu > 0 {
		res.OpsPerCPUSec = float64(done) / cpu.Seconds()
	}
	if total := after.total - before.total; total > 0 {
		res.GCCPUFraction = (after.gc - before.gc) / total
	}
	return res
}

// serve runs ops operations over the cache, split between the workers,
// each on its own part of it (per entries): serve one entry (read all of
// it), then replace another. seed picks the random streams.
func serve(cache []*entry, per int64, workers int, ops int64, payload int, seed uint64) {
	var sink [64]uint64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), seed))
			lo := int64(w) * per
			var sum uint64
			for range ops / int64(workers) {
				sum += checksum(cache[lo+r.Int64N(per)])
				cache[lo+r.Int64N(per)] = newEntry(r, payload)
			}
			sink[w%len(sink)] = sum
		})
	}
	wg.Wait()
}

// processCPU is the CPU time the process has used (user and system, all
// threads). On a shared machine, throughput per CPU-second does not depend
// on how much CPU the neighbours left.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cpuSample struct {
	gc, total float64
	cycles    uint64
}

// readCPU reads the runtime's CPU accounting; the GC CPU fraction is
// Δ/cpu/classes/gc/total over Δ/cpu/classes/total (GOMAXPROCS × wall time),
// the same definition as runtime.MemStats.GCCPUFraction.
func readCPU() cpuSample {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return cpuSample{gc: s[0].Value.Float64(), total: s[1].Value.Float64(), cycles: s[2].Value.Uint64()}
}

func parseBytes(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "MiB"):
		s, mult = strings.TrimSuffix(s, "MiB"), 1<<20
	case strings.HasSuffix(s, "KiB"):
		s, mult = strings.TrimSuffix(s, "KiB"), 1<<10
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}
