package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Report writes each step of r to w (its verdict, exit status and time,
// then every `go test -v` verdict line it printed) and checks it with
// CheckTests(want[i]), want[i] being the top-level tests step i must have
// passed. It returns the checks' errors, joined. Steps that never began
// are not written: Parse has reported them.
func (r Run) Report(w io.Writer, want [][]string) error {
	var errs []error
	for i, res := range r.Results {
		if !res.Ended {
			fmt.Fprintf(w, "  %s: FAIL, no result (begun at %.1fs)\n", res.Step, res.Start)
		} else {
			verdict := "pass"
			if !res.Pass {
				verdict = "FAIL"
			}
			fmt.Fprintf(w, "  %s: %s, exit status %d, %.1fs\n", res.Step, verdict, res.Code, res.End-res.Start)
		}
		for _, t := range res.Tests {
			fmt.Fprintf(w, "    %s%-4s %s (%.2fs)\n", strings.Repeat("  ", t.Depth), t.Status, t.Name, t.Seconds)
		}
		var tests []string
		if i < len(want) {
			tests = want[i]
		}
		errs = append(errs, res.CheckTests(tests))
	}
	return errors.Join(errs...)
}

// ShowConsole writes the end of a failed guest's console to w, saying
// where all of it is: at logPath when kept is true, else in a new
// temporary file (the caller's work directory is about to go).
func ShowConsole(w io.Writer, console []byte, logPath string, kept bool, guest string) {
	if !kept {
		if f, err := os.CreateTemp("", "tune-vm-console-"+guest+"-*.log"); err == nil {
			f.Write(console)
			f.Close()
			logPath = f.Name()
		}
	}
	fmt.Fprintf(w, "--- the last 150 lines of the console (all of it: %s)\n", logPath)
	fmt.Fprintln(w, Tail(console, 150))
	fmt.Fprintln(w, "--- end of console")
}
