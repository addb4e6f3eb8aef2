package tune_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/runtimehooks/tune"
)

// Pressure in a health check: a process at critical memory pressure is
// close to an OOM kill, so it asks to be taken out of rotation. Pressure
// takes no lock and does not allocate.
func ExamplePressure() {
	http.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		p := tune.Pressure()
		if p.Level == tune.PressureCritical && !p.Stale {
			http.Error(w, p.String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// shedding is read by the request handlers: true while the GC eats the
// CPU or the kernel reclaims at the group's limit.
var shedding atomic.Bool

// OnPressure receives a PressureEvent on every change of the level, from a
// goroutine of its own: a slow callback holds up nothing but itself.
func ExamplePressureEvent() {
	tune.Init(tune.Options{
		OnPressure: func(ev tune.PressureEvent) {
			shedding.Store(ev.Level >= tune.PressureHigh)
			if ev.Signal != tune.SignalRuntime {
				// The kernel spoke: PSI, memory.events or an OOM kill in the
				// group or the pod.
				fmt.Println("kernel signal:", ev.Signal)
			}
		},
	})
	defer tune.Stop()
}

// String is the line tune logs when the level changes (a Warn line when it
// rises).
func ExamplePressureEvent_String() {
	ev := tune.PressureEvent{
		Level: tune.PressureCritical, Previous: tune.PressureHigh,
		MemoryInUse: 269 << 20, GOMEMLIMIT: 270 << 20,
		GCCPUFraction: 0.45, LimiterEngaged: true, Signal: tune.SignalRuntime,
	}
	fmt.Println(ev)
	// Output:
	// memory pressure critical (was high): Go memory in use 269MiB of GOMEMLIMIT 270MiB (100%), GC CPU 45% over 10s, GC CPU limiter engaged: true
}

// InUseFraction is Go memory in use against GOMEMLIMIT: 0 when there is no
// GOMEMLIMIT.
func ExamplePressureEvent_InUseFraction() {
	ev := tune.PressureEvent{MemoryInUse: 180 << 20, GOMEMLIMIT: 200 << 20}
	fmt.Printf("%.0f%%\n", 100*ev.InUseFraction())
	ev.GOMEMLIMIT = 1<<63 - 1 // none
	fmt.Println(ev.InUseFraction())
	// Output:
	// 90%
	// 0
}

// Levels are ordered: none < high < critical.
func ExamplePressureLevel() {
	for _, l := range []tune.PressureLevel{tune.PressureNone, tune.PressureHigh, tune.PressureCritical} {
		fmt.Println(l, "shed load:", l >= tune.PressureHigh)
	}
	// Output:
	// none shed load: false
	// high shed load: true
	// critical shed load: true
}

func ExamplePressureLevel_String() {
	fmt.Println(tune.PressureNone.String(), tune.PressureHigh.String(), tune.PressureCritical.String())
	// Output: none high critical
}

// In JSON a level is its name.
func ExamplePressureLevel_MarshalText() {
	b, _ := json.Marshal(map[string]tune.PressureLevel{"pressure": tune.PressureHigh})
	fmt.Println(string(b))
	// Output: {"pressure":"high"}
}

// UnmarshalText reads a level from JSON, as the status page's samples carry
// it; anything but the three names is an error.
func ExamplePressureLevel_UnmarshalText() {
	var s struct {
		Pressure tune.PressureLevel `json:"pressure"`
	}
	fmt.Println(json.Unmarshal([]byte(`{"pressure":"critical"}`), &s), s.Pressure == tune.PressureCritical)
	fmt.Println(json.Unmarshal([]byte(`{"pressure":"severe"}`), &s))
	// Output:
	// <nil> true
	// pressure level "severe": want none, high or critical
}

// Signal says what set the level: the Go runtime's own measurements or one
// of the kernel's signals (cgroup v2 PSI and memory.events, v1
// memory.failcnt, an OOM kill in the group or the pod).
func ExamplePressureSignal() {
	advice := map[tune.PressureSignal]string{
		tune.SignalRuntime:          "the GC eats the CPU: look at the heap",
		tune.SignalPSIMemoryFull:    "the whole group stalls on memory",
		tune.SignalMemoryEventsHigh: "throttled at memory.high",
		tune.SignalMemoryEventsMax:  "reclaiming at memory.max",
		tune.SignalMemoryFailcnt:    "reclaiming at memory.limit_in_bytes",
		tune.SignalOOMKill:          "the OOM killer ran in the group or the pod",
	}
	ev := tune.PressureEvent{Level: tune.PressureHigh, Signal: tune.SignalMemoryEventsHigh, Time: time.Now()}
	fmt.Printf("%s (%s): %s\n", ev.Level, ev.Signal, advice[ev.Signal])
	// Output: high (memory_events_high): throttled at memory.high
}
