// Command follower is the child of the reaction and idle-CPU measurements.
// With -tune it runs tune.Init with the default options (so the default
// refresh interval); without, it is a plain idle Go program, the baseline.
//
//	follower [-tune] [-poll 1ms] [-ticker 1s]
//
// It prints one JSON line (Line) when it is ready, with GOMEMLIMIT before
// and after tune.Init, and, when -poll is positive, one more each time it
// sees GOMEMLIMIT change, checking every poll interval. It exits when its
// standard input reaches end of file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/bench/internal/result"
)

// Line is one line of output: when (Unix nanoseconds, wall clock) the
// follower saw GOMEMLIMIT at this value; the first also says what it was
// before tune.Init.
type Line = result.FollowerLine

func main() {
	useTune := flag.Bool("tune", false, "run tune.Init with its defaults")
	poll := flag.Duration("poll", 0, "how often to check GOMEMLIMIT; 0 never")
	ticker := flag.Duration("ticker", 0, "run an empty loop on a ticker of this interval (what any periodic work costs in wake-ups alone); 0 none")
	flag.Parse()
	if *ticker > 0 {
		go func() {
			for range time.Tick(*ticker) {
			}
		}()
	}
	before := debug.SetMemoryLimit(-1)
	if *useTune {
		if _, err := tune.Init(tune.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			fmt.Fprintln(os.Stderr, "follower: tune.Init:", err)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	last := debug.SetMemoryLimit(-1)
	enc.Encode(Line{T: time.Now().UnixNano(), GOMEMLIMIT: last, Before: before})
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	if *poll <= 0 {
		<-done
		return
	}
	t := time.NewTicker(*poll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if cur := debug.SetMemoryLimit(-1); cur != last {
				last = cur
				enc.Encode(Line{T: time.Now().UnixNano(), GOMEMLIMIT: cur})
			}
		}
	}
}
