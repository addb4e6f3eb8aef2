// Command oomer is a test program for tune's last words and PreviousExit.
// It calls tune.Init (set up by the environment: GOTUNE_CRASH_FILE,
// GOTUNE_REFRESH, GOTUNE_TERMINATION_LOG...), prints what
// tune.PreviousExit returns as one JSON line on stdout, and then does what
// its argument says:
//
//	oomer grow [-rate R] [-max M]
//	                 grows its live heap in hoardForTheOOMKiller, fast up
//	                 to 60% of GOMEMLIMIT and then R MiB/s (8), churning
//	                 garbage as fast as it can all along, until the kernel
//	                 kills it; with -max it stops at M MiB, prints
//	                 {"event":"max"} and returns
//	oomer exit       returns from main
//	oomer shutdown   calls tune.Shutdown, then returns from main
//
// tune's log lines go to stderr as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/runtimehooks/tune"
)

// cell is a small object with a pointer, so that the live heap costs the
// GC marking work, as a real program's does.
type cell struct {
	next *cell
	_    [48]byte
}

// hoardForTheOOMKiller returns 1 MiB of live heap. Its name is what the
// test looks for at the top of the heap profile in the last words.
//
//go:noinline
func hoardForTheOOMKiller() *cell {
	var head *cell
	for range (1 << 20) / 64 {
		head = &cell{next: head}
	}
	return head
}

// churn returns 8 KiB of garbage.
//
//go:noinline
func churn() *cell {
	var head *cell
	for range (8 << 10) / 64 {
		head = &cell{next: head}
	}
	return head
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oomer grow|exit|shutdown [flags]")
		os.Exit(64)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	rate := fs.Float64("rate", 8, "MiB/s of live heap growth past 60% of GOMEMLIMIT")
	maxMiB := fs.Int64("max", 0, "MiB of live heap at which to stop (0: never)")
	fs.Parse(os.Args[2:])

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if _, err := tune.Init(tune.Options{Logger: logger}); err != nil {
		fmt.Fprintln(os.Stderr, "oomer: tune.Init:", err)
	}
	e, found := tune.PreviousExit()
	json.NewEncoder(os.Stdout).Encode(struct {
		Found bool
		Exit  tune.Exit
	}{found, e})

	switch mode {
	case "exit":
		return
	case "shutdown":
		if err := tune.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "oomer: tune.Shutdown:", err)
			os.Exit(3)
		}
		return
	case "grow":
	default:
		fmt.Fprintln(os.Stderr, "oomer: unknown mode", mode)
		os.Exit(64)
	}

	limit := debug.SetMemoryLimit(-1)
	start := time.Now()
	ring := make([]*cell, 64)
	var kept []*cell
	for i := 0; ; i++ {
		ring[i%len(ring)] = churn()
		fast := float64(limit/10*6) / (100 << 20) // seconds to 60% at 100 MiB/s
		el := time.Since(start).Seconds()
		want := int64(el * 100 * (1 << 20))
		if el > fast {
			want = limit/10*6 + int64((el-fast)*(*rate)*(1<<20))
		}
		if i%16 == 0 && int64(len(kept))<<20 < want {
			kept = append(kept, hoardForTheOOMKiller())
		}
		if *maxMiB > 0 && int64(len(kept)) >= *maxMiB {
			runtime.KeepAlive(kept)
			fmt.Println(`{"event":"max"}`)
			return
		}
	}
}
