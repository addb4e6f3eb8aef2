// Command crasher is a test program for tune's crash output. It calls
// tune.Init with the crash file given, prints what tune.PreviousCrash
// returns as one JSON line, then dies as its first argument says:
//
//	crasher panic FILE       an unrecovered panic
//	crasher mapwrites FILE   a fatal error: concurrent map writes
//	crasher exit FILE        a normal exit, status 0
//	crasher sigquit FILE     prints "ready" and waits for the SIGQUIT
//	crasher move FILE FILE2  Init again with FILE2, then panic
//	crasher shutdown FILE    tune.Shutdown, then a normal exit
//	crasher shutdown-panic FILE
//	                         tune.Shutdown, then an unrecovered panic
//
// FILE "" leaves Options.CrashFile unset: GOTUNE_CRASH_FILE or the
// default path applies.
//
// tune's log lines go to stderr as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/runtimehooks/tune"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: crasher panic|mapwrites|exit|sigquit|move|shutdown|shutdown-panic FILE [FILE2]")
		os.Exit(64)
	}
	mode, file := os.Args[1], os.Args[2]
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := tune.Options{CrashFile: file, Logger: logger, RefreshInterval: -1}
	if _, err := tune.Init(opts); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
	}
	prev, ok := tune.PreviousCrash()
	json.NewEncoder(os.Stdout).Encode(struct {
		Found bool
		Crash tune.Crash
	}{ok, prev})

	switch mode {
	case "panic":
		panic("crasher: boom")
	case "mapwrites":
		m := map[int]int{}
		for range 4 {
			go func() {
				for i := 0; ; i++ {
					m[i%100] = i
				}
			}()
		}
		time.Sleep(time.Minute) // the runtime throws long before this ends
		fmt.Fprintln(os.Stderr, "crasher: no concurrent map write detected")
		os.Exit(3)
	case "exit":
		return
	case "shutdown", "shutdown-panic":
		if err := tune.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
			os.Exit(3)
		}
		if mode == "shutdown-panic" {
			panic("crasher: boom after Shutdown")
		}
	case "sigquit":
		fmt.Println("ready")
		select {}
	case "move":
		opts.CrashFile = os.Args[3]
		if _, err := tune.Init(opts); err != nil {
			fmt.Fprintln(os.Stderr, "init:", err)
		}
		panic("crasher: boom after move")
	default:
		fmt.Fprintln(os.Stderr, "crasher: unknown mode", mode)
		os.Exit(64)
	}
}
