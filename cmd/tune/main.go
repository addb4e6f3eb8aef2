// Command tune shows what the tune library does on this machine, or would do
// on a snapshot of another one.
//
//	tune            run tune.Init in this process and print the report
//	tune -json      the same report as one JSON object
//	tune -root DIR  dry run (tune.Detect) over a snapshot: DIR/proc/self/cgroup,
//	                DIR/proc/self/mountinfo and the cgroup files under DIR
//	tune -watch     run tune.Init with the refresh loop and print one JSON line
//	                per change (limits, GOMEMLIMIT, GOMAXPROCS, memory
//	                pressure) until interrupted; with -json the full report
//	                comes first, on one line
//	tune -status ADDR
//	                also serve the status page (package tune/status) of this
//	                process at http://ADDR/debug/tune until interrupted: with
//	                -watch it shows the live loop; without, the report is
//	                printed and the refresh loop runs for the page
//
// Exit status: 0 when everything was read (also when no limit exists), 1
// when any part had an error (the report is still printed), 2 for bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/runtimehooks/tune"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	watchFlag := fs.Bool("watch", false, "follow the limits: one JSON line per change until interrupted")
	root := fs.String("root", "", "dry run over a snapshot rooted at `DIR` (DIR/proc/self/cgroup, DIR/proc/self/mountinfo, DIR/sys/fs/cgroup/...)")
	statusAddr := fs.String("status", "", "serve this process's status page at http://`ADDR`/debug/tune until interrupted (with -watch: the live loop)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tune [-json] [-root DIR | -watch] [-status ADDR]\n\nShows what the tune library decides on this machine (Init) or on a snapshot (-root, a dry run).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tune: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *root != "" && (*watchFlag || *statusAddr != "") {
		fmt.Fprintln(stderr, "tune: -watch and -status follow this machine's limits: they cannot be combined with -root")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *statusAddr != "" {
		closeStatus, err := serveStatus(*statusAddr, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "tune:", err)
			return 1
		}
		defer closeStatus()
	}
	if *watchFlag {
		return watch(ctx, stdout, stderr, *asJSON)
	}
	// The report is the output; the library's own log lines would repeat it.
	opts := tune.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CrashFile: "off", RefreshInterval: -1}
	if *statusAddr != "" {
		opts.RefreshInterval = 0 // the page plots what the loop samples
	}
	var rep tune.Report
	var err error
	if *root != "" {
		opts.Root = *root
		rep, err = tune.Detect(opts)
	} else {
		rep, err = tune.Init(opts)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(rep); e != nil {
			fmt.Fprintln(stderr, "tune:", e)
			return 1
		}
	} else {
		printReport(stdout, rep, *root)
	}
	if *statusAddr != "" {
		<-ctx.Done()
		tune.Stop()
	}
	if err != nil {
		return 1
	}
	return 0
}
