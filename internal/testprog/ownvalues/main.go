// Command ownvalues is a test program: it calls tune.Init (refresh every
// 100ms) and then does what its stdin says, one command a line, answering
// each with one JSON line of what is in effect:
//
//	procs N          runtime.GOMAXPROCS(N)
//	mem N            debug.SetMemoryLimit(N)
//	wait MEM QUOTA   until tune's report shows that memory limit (bytes)
//	                 and CPU quota (cores, 0 for none), at most 10s
//	init             tune.Init again, with the same options
//	show             nothing: just the answer
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/runtimehooks/tune"
)

type answer struct {
	GOMAXPROCS int     `json:"gomaxprocs"`
	GOMEMLIMIT int64   `json:"gomemlimit"`
	Limit      int64   `json:"limit"`
	Quota      float64 `json:"quota"`
	MemReason  string  `json:"memory_reason"`
	CPUReason  string  `json:"cpu_reason"`
	Error      string  `json:"error,omitempty"`
}

var opts = tune.Options{RefreshInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}

func main() {
	if _, err := tune.Init(opts); err != nil {
		fmt.Fprintln(os.Stderr, "ownvalues: tune.Init:", err)
	}
	out := json.NewEncoder(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var a answer
		switch {
		case len(f) == 2 && f[0] == "procs":
			n, _ := strconv.Atoi(f[1])
			runtime.GOMAXPROCS(n)
		case len(f) == 2 && f[0] == "mem":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			debug.SetMemoryLimit(n)
		case len(f) == 3 && f[0] == "wait":
			mem, _ := strconv.ParseInt(f[1], 10, 64)
			quota, _ := strconv.ParseFloat(f[2], 64)
			deadline := time.Now().Add(10 * time.Second)
			for r := tune.Current(); r.Memory.Limit != mem || r.CPU.Quota != quota; r = tune.Current() {
				if time.Now().After(deadline) {
					a.Error = fmt.Sprintf("tune's report still shows memory limit %d and quota %v after 10s", r.Memory.Limit, r.CPU.Quota)
					break
				}
				time.Sleep(20 * time.Millisecond) // polling tune's report, with a deadline
			}
		case len(f) == 1 && f[0] == "init":
			if _, err := tune.Init(opts); err != nil {
				a.Error = err.Error()
			}
		case len(f) == 1 && f[0] == "show":
		default:
			a.Error = fmt.Sprintf("unknown command %q", sc.Text())
		}
		r := tune.Current()
		a.GOMAXPROCS, a.GOMEMLIMIT = runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1)
		a.Limit, a.Quota, a.MemReason, a.CPUReason = r.Memory.Limit, r.CPU.Quota, r.Memory.Reason, r.CPU.Reason
		out.Encode(a)
	}
}
