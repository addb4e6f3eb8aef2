// Command tune shows what the tune library does on this machine, or would do
// on a snapshot of another one.
//
//	tune            run tune.Init in this process and print the report
//	tune -json      the same report as one JSON object
//	tune -root DIR  dry run (tune.Detect) over a snapshot: DIR/proc/self/cgroup,
//	                DIR/proc/self/mountinfo and the cgroup files under DIR
//
// Exit status: 0 when everything was read (also when no limit exists), 1
// when any part had an error (the report is still printed), 2 for bad usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/runtimehooks/tune"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	root := fs.String("root", "", "dry run over a snapshot rooted at `DIR` (DIR/proc/self/cgroup, DIR/proc/self/mountinfo, DIR/sys/fs/cgroup/...)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tune [-json] [-root DIR]\n\nShows what the tune library decides on this machine (Init) or on a snapshot (-root, a dry run).\n\n")
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
	// The report is the output; the library's own log lines would repeat it.
	opts := tune.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CrashFile: "off", RefreshInterval: -1}
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
	if err != nil {
		return 1
	}
	return 0
}
