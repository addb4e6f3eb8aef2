package vm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The marker lines the guest's init prints, each at the start of a console
// line and alone on it. A line that holds a marker anywhere else, or a
// marker with other fields, is malformed: the console fails to parse.
const (
	markPrefix = "GOTUNE-VM-"
	markBooted = markPrefix + "BOOTED" // <uptime>: init has mounted everything
	markBegin  = markPrefix + "BEGIN"  // <step> <uptime>
	markResult = markPrefix + "RESULT" // <step> pass|fail <exit code> <uptime>
	markDone   = markPrefix + "DONE"   // <number of results> <uptime>
	markError  = markPrefix + "ERROR"  // <message>: init could not go on
)

// Run is what one guest reported on its console.
type Run struct {
	Booted  float64 // guest uptime in seconds when init had mounted everything
	Done    float64 // guest uptime at the end
	Results []Result
}

// Result is one step: a program the guest's init ran.
type Result struct {
	Step       string
	Ended      bool // its RESULT line came
	Pass       bool // the program exited with status 0
	Code       int
	Start, End float64 // guest uptime in seconds
	// Output is every other console line printed while the step ran: its
	// output (a workload's result lines, say) and any kernel message.
	Output []string
	// Tests are the `go test -v` verdict lines the step printed, in order.
	Tests []Test
}

// Test is one `--- PASS|FAIL|SKIP: Name (1.23s)` line of `go test -v`.
type Test struct {
	Name    string // with its parents for a subtest: "TestA/sub"
	Status  string // PASS, FAIL or SKIP
	Seconds float64
	Depth   int // 0 for a top-level test
}

var verdictRE = regexp.MustCompile(`^( *)--- (PASS|FAIL|SKIP): (\S+) \(([0-9]+\.[0-9]+)s\)$`)

// Parse reads a guest's console as the lane's init writes it: one BOOTED
// line, then for each of steps, in order, a BEGIN and a RESULT line, then
// a DONE line that counts the results. It is strict: a missing, repeated,
// out-of-order or malformed marker line is an error naming its line, and
// so is a console that ends before DONE (the guest did not finish). A step
// that failed is not an error here: its Result says so. Lines that are
// not markers (kernel messages, the programs' output) are kept with the
// step they came in, as `go test -v` verdicts or as output.
func Parse(console []byte, steps []string) (Run, error) {
	var (
		run    Run
		errs   []error
		booted bool
		done   bool
		cur    *Result // the step begun and not yet ended
		next   int     // index in steps of the next step to begin
	)
	fail := func(n int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("console line %d: "+format, append([]any{n}, args...)...))
	}
	sc := bufio.NewScanner(bytes.NewReader(console))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.Contains(line, markPrefix) {
			if cur == nil {
				continue
			}
			if m := verdictRE.FindStringSubmatch(line); m != nil {
				secs, _ := strconv.ParseFloat(m[4], 64)
				cur.Tests = append(cur.Tests, Test{Name: m[3], Status: m[2], Seconds: secs, Depth: len(m[1]) / 4})
			} else {
				cur.Output = append(cur.Output, line)
			}
			continue
		}
		f := strings.Fields(line)
		if !strings.HasPrefix(line, markPrefix) || len(f) == 0 {
			fail(n, "a marker inside a line (output interleaved?): %q", line)
			continue
		}
		if done {
			fail(n, "%q after %s", line, markDone)
			continue
		}
		switch f[0] {
		case markError:
			fail(n, "the guest's init gave up: %s", strings.TrimSpace(strings.TrimPrefix(line, markError)))
		case markBooted:
			up, ok := uptime(f, 2)
			switch {
			case !ok:
				fail(n, "malformed: %q, want %s <uptime>", line, markBooted)
			case booted:
				fail(n, "a second %s", markBooted)
			default:
				booted, run.Booted = true, up
			}
		case markBegin:
			up, ok := uptime(f, 3)
			switch {
			case !ok:
				fail(n, "malformed: %q, want %s <step> <uptime>", line, markBegin)
			case !booted:
				fail(n, "%s before %s", markBegin, markBooted)
			case cur != nil:
				fail(n, "%s %s while step %s has no result", markBegin, f[1], cur.Step)
			case next >= len(steps):
				fail(n, "%s of an unexpected step %q (steps: %q)", markBegin, f[1], steps)
			case f[1] != steps[next]:
				fail(n, "%s %s, want step %s next", markBegin, f[1], steps[next])
			default:
				run.Results = append(run.Results, Result{Step: f[1], Start: up})
				cur, next = &run.Results[len(run.Results)-1], next+1
			}
		case markResult:
			up, ok := uptime(f, 5)
			code, err := strconv.Atoi(fieldOr(f, 3))
			switch {
			case !ok || err != nil || (f[2] != "pass" && f[2] != "fail"):
				fail(n, "malformed: %q, want %s <step> pass|fail <exit code> <uptime>", line, markResult)
			case (f[2] == "pass") != (code == 0):
				fail(n, "%q: %s with exit status %d", line, f[2], code)
			case cur == nil || cur.Step != f[1]:
				fail(n, "%s %s without its %s", markResult, f[1], markBegin)
			default:
				cur.Ended, cur.Pass, cur.Code, cur.End = true, f[2] == "pass", code, up
				cur = nil
			}
		case markDone:
			up, ok := uptime(f, 3)
			count, err := strconv.Atoi(fieldOr(f, 1))
			switch {
			case !ok || err != nil:
				fail(n, "malformed: %q, want %s <results> <uptime>", line, markDone)
			case cur != nil:
				fail(n, "%s while step %s has no result", markDone, cur.Step)
			case count != len(run.Results) || next != len(steps):
				fail(n, "%s counts %d results; %d of the %d steps ran", markDone, count, len(run.Results), len(steps))
			default:
				run.Done = up
			}
			done = true
		default:
			fail(n, "unknown marker %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading the console: %w", err))
	}
	switch {
	case !booted:
		errs = append(errs, fmt.Errorf("the console has no %s line: the guest's init did not get going", markBooted))
	case cur != nil:
		errs = append(errs, fmt.Errorf("the console ends inside step %s, with no %s: the guest did not finish", cur.Step, markResult))
	case !done:
		errs = append(errs, fmt.Errorf("the console ends without %s (%d of %d steps ran): the guest did not finish", markDone, len(run.Results), len(steps)))
	}
	return run, errors.Join(errs...)
}

// uptime checks that f has exactly n fields and reads the last as seconds.
func uptime(f []string, n int) (float64, bool) {
	if len(f) != n {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[n-1], 64)
	return v, err == nil && v >= 0
}

func fieldOr(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// CheckTests checks a step that ran a `go test -v` binary: it passed, no
// test failed or was skipped (at any depth: in the lane a skip is a
// failure, never a pass), and the top-level tests that passed are exactly
// want.
func (r Result) CheckTests(want []string) error {
	var errs []error
	switch {
	case !r.Ended:
		errs = append(errs, fmt.Errorf("step %s: no result: the guest did not finish it", r.Step))
	case !r.Pass:
		errs = append(errs, fmt.Errorf("step %s: exit status %d", r.Step, r.Code))
	}
	ran := map[string]bool{}
	for _, t := range r.Tests {
		switch {
		case t.Status != "PASS":
			errs = append(errs, fmt.Errorf("step %s: %s %s", r.Step, t.Name, t.Status))
		case t.Depth == 0:
			ran[t.Name] = true
		}
	}
	for _, w := range want {
		if !ran[w] {
			errs = append(errs, fmt.Errorf("step %s: %s did not pass (not run, or no verdict line)", r.Step, w))
		}
		delete(ran, w)
	}
	for _, name := range slices.Sorted(maps.Keys(ran)) {
		errs = append(errs, fmt.Errorf("step %s: %s ran, but it is not one of the step's tests", r.Step, name))
	}
	return errors.Join(errs...)
}

// Tail is the last n lines of b, made safe to print: control characters
// other than tab (the firmware's terminal escapes, carriage returns) are
// dropped.
func Tail(b []byte, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\n' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, strings.Join(lines, ""))
}
