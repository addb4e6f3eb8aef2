// Package rss reports the resident set size of the calling process, for
// the blank-import programs (cmd/blank*) to print when their main starts.
package rss

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Print writes "rss_kib N" to standard output: VmRSS of /proc/self/status,
// in KiB. On error it writes the error to standard error and exits 1.
func Print() {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
				f := bytes.Fields(v)
				var n int64
				if len(f) == 2 && string(f[1]) == "kB" {
					if n, err = strconv.ParseInt(string(f[0]), 10, 64); err == nil {
						fmt.Printf("rss_kib %d\n", n)
						return
					}
				}
				err = fmt.Errorf("/proc/self/status: VmRSS line %q", line)
				break
			}
		}
		if err == nil {
			err = fmt.Errorf("/proc/self/status has no VmRSS line")
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
