// Command spiral is a test program for tune's memory pressure: it runs
// tune.Init (configured by the environment, GOTUNE_REFRESH in particular)
// with an OnPressure that prints every event as a JSON line on stdout, then
//
//	-mode grow    grows its live heap until the cgroup's memory limit kills
//	              it (or up to -max MiB), churning garbage all along: a GC
//	              death spiral;
//	-mode steady  keeps a small live heap (16 MiB) and churns garbage at
//	              -churn MiB/s, a busy but healthy service, for -for, then
//	              prints {"event":"done",...} and exits.
//
// With -v it also prints tune.Pressure() every -every.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/runtimehooks/tune"
)

type line struct {
	Event      string  `json:"event"`
	Level      string  `json:"level"`
	Previous   string  `json:"previous,omitempty"`
	GCCPU      float64 `json:"gc_cpu"`
	InUse      uint64  `json:"in_use_bytes"`
	GOMEMLIMIT int64   `json:"gomemlimit_bytes"`
	Limiter    bool    `json:"limiter"`
	Signal     string  `json:"signal,omitempty"`
	Live       int64   `json:"live_bytes"`
	Elapsed    float64 `json:"elapsed_s"`
}

var (
	mu    sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
	start = time.Now()
	live  int64
	maxLv tune.PressureLevel
)

func emit(event string, ev tune.PressureEvent) {
	mu.Lock()
	defer mu.Unlock()
	maxLv = max(maxLv, ev.Level)
	l := line{Event: event, Level: ev.Level.String(), GCCPU: ev.GCCPUFraction, InUse: ev.MemoryInUse,
		GOMEMLIMIT: ev.GOMEMLIMIT, Limiter: ev.LimiterEngaged, Signal: string(ev.Signal), Live: live, Elapsed: time.Since(start).Seconds()}
	if event == "pressure" {
		l.Previous = ev.Previous.String()
	}
	enc.Encode(l)
}

// node is a small object with a pointer: a live heap made of them costs the
// GC real marking work, as a real program's does.
type node struct {
	next *node
	_    [56]byte
}

// finish prints the last measurement and the highest level seen.
func finish(kept []*node) {
	runtime.KeepAlive(kept)
	emit("done", tune.Pressure())
	mu.Lock()
	fmt.Fprintf(os.Stdout, "{\"event\":\"max\",\"level\":%q}\n", maxLv)
	mu.Unlock()
}

// garbage returns 8 KiB of small objects.
func garbage() *node {
	var head *node
	for range (8 << 10) / 64 {
		head = &node{next: head}
	}
	return head
}

// chunk returns 1 MiB of live heap as a linked list of nodes.
func chunk() *node {
	var head *node
	for range (1 << 20) / 64 {
		head = &node{next: head}
	}
	return head
}

func main() {
	mode := flag.String("mode", "steady", "grow or steady")
	dur := flag.Duration("for", 10*time.Second, "how long steady runs")
	rate := flag.Float64("rate", 8, "MiB/s of live heap growth past 60% of GOMEMLIMIT (grow)")
	maxLive := flag.Int64("max", 0, "MiB of live heap at which grow stops and exits (0: never)")
	churnRate := flag.Float64("churn", 200, "MiB/s of garbage (steady)")
	verbose := flag.Bool("v", false, "print tune.Pressure() every -every")
	every := flag.Duration("every", 250*time.Millisecond, "sampling period for -v")
	flag.Parse()

	if _, err := tune.Init(tune.Options{OnPressure: func(ev tune.PressureEvent) { emit("pressure", ev) }}); err != nil {
		fmt.Fprintln(os.Stderr, "spiral: tune.Init:", err)
	}
	emit("start", tune.Pressure())
	if *verbose {
		go func() {
			names := []string{"/cpu/classes/gc/total:cpu-seconds", "/cpu/classes/gc/mark/idle:cpu-seconds",
				"/cpu/classes/total:cpu-seconds", "/cpu/classes/idle:cpu-seconds"}
			ss := make([]metrics.Sample, len(names))
			for i, n := range names {
				ss[i].Name = n
			}
			prev := make([]float64, len(names))
			for range time.Tick(*every) {
				emit("sample", tune.Pressure())
				metrics.Read(ss)
				d := make([]float64, len(names))
				for i := range ss {
					v := ss[i].Value.Float64()
					d[i], prev[i] = v-prev[i], v
				}
				fmt.Fprintf(os.Stderr, "raw: gc %.3f gc-idle %.3f (gc-gcidle)/total %.3f (gc-gcidle)/(total-idle-gcidle) %.3f\n",
					d[0]/d[2], d[1]/d[2], (d[0]-d[1])/d[2], (d[0]-d[1])/(d[2]-d[3]-d[1]))
			}
		}()
	}

	limit := debug.SetMemoryLimit(-1)
	churn := make([]*node, 64)
	var kept []*node
	deadline := time.Now().Add(*dur)
	for i := 0; ; i++ {
		// Garbage: 8 KiB of small objects at a time, kept a little while
		// in a small ring.
		churn[i%len(churn)] = garbage()
		switch *mode {
		case "grow":
			// Live heap: 100 MiB/s to 60% of GOMEMLIMIT, then -rate
			// MiB/s, pages touched so that they count in the cgroup.
			want := int64(time.Since(start).Seconds() * 100 * (1 << 20))
			if want > limit/10*6 {
				want = limit/10*6 + int64((time.Since(start).Seconds()-float64(limit/10*6)/(100<<20))*float64(*rate)*(1<<20))
			}
			step := i%16 == 0 && live < want
			if step {
				kept = append(kept, chunk())
				mu.Lock()
				live += 1 << 20
				mu.Unlock()
			}
			if *maxLive > 0 && live >= *maxLive<<20 {
				finish(kept)
				return
			}
		default:
			if len(kept) == 0 {
				for range 16 {
					kept = append(kept, chunk())
				}
				live = 16 << 20
			}
			// A busy service: garbage at -churn MiB/s (8 KiB a step).
			if ahead := float64(i+1)*8/1024 - time.Since(start).Seconds()*(*churnRate); ahead > 0 {
				time.Sleep(time.Duration(ahead / *churnRate * float64(time.Second)))
			}
			if i%1024 == 0 && time.Now().After(deadline) {
				finish(kept)
				return
			}
		}
	}
}
