// Command cpuburn is the program of the ancestor-quota measurement: a
// CPU-bound service in miniature. A fixed number of goroutines (more than
// the machine's CPUs) each run short chunks of integer work, yielding the
// processor after each (runtime.Gosched), as request handlers would
// between requests, for a fixed time.
//
//	cpuburn -tune none|tune -goroutines 8 -duration 5s -chunk 250000
//
// -tune picks who sets GOMAXPROCS: the runtime's default (none) or
// tune.Init with its defaults. At the end it prints one JSON line
// (result.Burn): the chunks done per wall second, the CPU time (getrusage)
// and the scheduling latency (/sched/latencies:seconds from runtime/metrics,
// the time goroutines spent runnable before they ran) over the timed phase.
// A process that runs more threads than its cgroup's quota allows is
// throttled for the rest of each period, and the goroutines queued behind
// the throttled ones wait that out.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/bench/internal/result"
)

func main() {
	mode := flag.String("tune", "none", "who sets GOMAXPROCS: none (the runtime's default) or tune")
	goroutines := flag.Int("goroutines", 8, "goroutines running chunks")
	duration := flag.Duration("duration", 5*time.Second, "how long to run")
	chunk := flag.Int("chunk", 250_000, "iterations of integer work per chunk")
	flag.Parse()
	if *goroutines <= 0 || *duration <= 0 || *chunk <= 0 {
		fmt.Fprintf(os.Stderr, "cpuburn: bad flags: -goroutines %d, -duration %v, -chunk %d: each must be positive\n", *goroutines, *duration, *chunk)
		os.Exit(2)
	}
	switch *mode {
	case "none":
	case "tune":
		if _, err := tune.Init(tune.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			fmt.Fprintln(os.Stderr, "cpuburn: tune:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "cpuburn: -tune %q: want none or tune\n", *mode)
		os.Exit(2)
	}
	res := run(*goroutines, *duration, *chunk)
	res.Tune = *mode
	json.NewEncoder(os.Stdout).Encode(res)
}

// work is one chunk: a xorshift generator stepped n times, which neither
// allocates nor touches memory.
func work(n int, x uint64) uint64 {
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var sink atomic.Uint64

func run(goroutines int, duration time.Duration, chunk int) result.Burn {
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	before := latencies()
	cpu0 := processCPU()
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			x := uint64(g + 1)
			n := int64(0)
			for !stop.Load() {
				x = work(chunk, x)
				n++
				runtime.Gosched()
			}
			ops.Add(n)
			sink.Add(x)
		})
	}
	time.Sleep(duration) // the timed phase itself
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	after := latencies()

	counts := make([]uint64, len(after.Counts))
	var total uint64
	for i := range counts {
		counts[i] = after.Counts[i] - before.Counts[i]
		total += counts[i]
	}
	return result.Burn{
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		Goroutines:   goroutines,
		Ops:          ops.Load(),
		Seconds:      elapsed.Seconds(),
		OpsPerSec:    float64(ops.Load()) / elapsed.Seconds(),
		CPUSeconds:   cpu.Seconds(),
		SchedP50:     quantile(counts, after.Buckets, 0.50),
		SchedP99:     quantile(counts, after.Buckets, 0.99),
		SchedSamples: total,
	}
}

// latencies reads /sched/latencies:seconds.
func latencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		fmt.Fprintln(os.Stderr, "cpuburn: runtime/metrics lacks /sched/latencies:seconds")
		os.Exit(1)
	}
	return s[0].Value.Float64Histogram()
}

// quantile returns the upper bound of the bucket that holds the q-th
// quantile of counts (buckets[i], buckets[i+1] bound counts[i]); the lower
// bound for the last bucket, whose upper bound is +Inf; 0 for no counts.
func quantile(counts []uint64, buckets []float64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= rank {
			if math.IsInf(buckets[i+1], 1) {
				return buckets[i]
			}
			return buckets[i+1]
		}
	}
	return buckets[len(buckets)-1]
}

// processCPU is the CPU time the process has used (user and system, all
// threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
