package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// laneSteps are the steps of the consoles in testdata/console, which are
// real guests' consoles.
var laneSteps = []string{"tune", "cmd-tune", "server", "cgrouptest"}

func TestParseRealConsoles(t *testing.T) {
	tests := []struct {
		file     string
		err      []string // substrings of the error; none: no error
		results  int
		passed   int
		tests    int // verdict lines of the first step
		checkErr []string
	}{
		{file: "pass-v2.console", results: 4, passed: 4, tests: 25},
		{file: "pass-v1.console", results: 4, passed: 4, tests: 21},
		// -test.timeout 5s: two binaries panicked; the guest finished.
		{file: "test-timeout-v2.console", results: 4, passed: 2, tests: 15,
			checkErr: []string{"step tune: exit status 2", "TestPressureSpiral did not pass"}},
		// QEMU killed at 20s in the middle of the first step.
		{file: "killed-v1.console", err: []string{"the console ends inside step tune"}, results: 1, tests: 14,
			checkErr: []string{"step tune: no result"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "console", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(b, laneSteps)
			wantErr(t, err, tt.err)
			if len(r.Results) != tt.results {
				t.Fatalf("%d results, want %d: %+v", len(r.Results), tt.results, r.Results)
			}
			passed := 0
			for _, res := range r.Results {
				if res.Pass {
					passed++
				}
			}
			if passed != tt.passed {
				t.Errorf("%d steps passed, want %d", passed, tt.passed)
			}
			if n := len(r.Results[0].Tests); n != tt.tests {
				t.Errorf("the first step has %d verdicts, want %d: %+v", n, tt.tests, r.Results[0].Tests)
			}
			if r.Booted <= 0 {
				t.Errorf("Booted = %v", r.Booted)
			}
			if tt.err == nil && (r.Done <= r.Booted || r.Results[0].End <= r.Results[0].Start) {
				t.Errorf("uptimes out of order: %+v", r)
			}
			first := r.Results[0]
			var names []string
			for _, x := range first.Tests {
				if x.Depth == 0 {
					names = append(names, x.Name)
				}
			}
			if tt.checkErr == nil {
				if err := first.CheckTests(names); err != nil {
					t.Errorf("CheckTests of what ran: %v", err)
				}
				return
			}
			wantErr(t, first.CheckTests(append(names, "TestPressureSpiral")), tt.checkErr)
		})
	}
}

func TestParse(t *testing.T) {
	const (
		boot = "GOTUNE-VM-BOOTED 4.1\n"
		a    = "GOTUNE-VM-BEGIN a 4.2\n--- PASS: TestA (0.10s)\n    --- SKIP: TestA/sub (0.00s)\nGOTUNE-VM-RESULT a pass 0 5.0\n"
		b    = "GOTUNE-VM-BEGIN b 5.1\n--- FAIL: TestB (1.00s)\nGOTUNE-VM-RESULT b fail 1 6.2\n"
		done = "GOTUNE-VM-DONE 2 6.3\n"
	)
	tests := []struct {
		name    string
		console string
		err     []string
		results int
	}{
		{"complete", "SeaBIOS\r\n" + boot + a + b + done + "[ 6.4] reboot: Power down\n", nil, 2},
		{"carriage returns", strings.ReplaceAll(boot+a+b+done, "\n", "\r\n"), nil, 2},
		{"empty", "", []string{"no GOTUNE-VM-BOOTED line: the guest's init did not get going"}, 0},
		{"no DONE", boot + a + b, []string{"without GOTUNE-VM-DONE (2 of 2 steps ran)"}, 2},
		{"ends inside a step", boot + a + "GOTUNE-VM-BEGIN b 5.1\n", []string{"ends inside step b"}, 2},
		{"a step missing", boot + a + "GOTUNE-VM-DONE 1 6.0\n", []string{"line 6: GOTUNE-VM-DONE counts 1 results; 1 of the 2 steps ran"}, 1},
		{"steps out of order", boot + b + a + done, []string{"line 2: GOTUNE-VM-BEGIN b, want step a next"}, 1},
		{"an unexpected step", boot + a + b + "GOTUNE-VM-BEGIN c 7\n", []string{`unexpected step "c"`}, 2},
		{"escape before a marker", "\x1bc" + boot + a + b + done, []string{"line 1: a marker inside a line", "BEGIN before GOTUNE-VM-BOOTED"}, 0},
		{"interleaved kernel message", boot + a + "GOTUNE-VM-BEGIN b 5.1\n[ 5.2] oom-kill GOTUNE-VM-RESULT b fail 1 6.2\n" + done,
			[]string{"line 7: a marker inside a line", "DONE while step b has no result"}, 2},
		{"malformed result", boot + "GOTUNE-VM-BEGIN a 4.2\nGOTUNE-VM-RESULT a ok 0 5.0\n", []string{`malformed: "GOTUNE-VM-RESULT a ok 0 5.0"`}, 1},
		{"extra field", boot + a + b + "GOTUNE-VM-DONE 2 6.3 x\n", []string{"malformed"}, 2},
		{"pass with a nonzero status", boot + "GOTUNE-VM-BEGIN a 4.2\nGOTUNE-VM-RESULT a pass 1 5.0\n", []string{"pass with exit status 1"}, 1},
		{"negative uptime", "GOTUNE-VM-BOOTED -1\n", []string{"malformed"}, 0},
		{"second BOOTED", boot + boot + a + b + done, []string{"line 2: a second GOTUNE-VM-BOOTED"}, 2},
		{"marker after DONE", boot + a + b + done + boot, []string{"after GOTUNE-VM-DONE"}, 2},
		{"unknown marker", boot + "GOTUNE-VM-HELLO\n" + a + b + done, []string{`unknown marker "GOTUNE-VM-HELLO"`}, 2},
		{"init gave up", "GOTUNE-VM-ERROR mounting cgroup2\n", []string{"the guest's init gave up: mounting cgroup2"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.console), []string{"a", "b"})
			wantErr(t, err, tt.err)
			if len(r.Results) != tt.results {
				t.Errorf("%d results, want %d: %+v", len(r.Results), tt.results, r.Results)
			}
		})
	}

	r, err := Parse([]byte(boot+a+b+done), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Test{{Name: "TestA", Status: "PASS", Seconds: 0.1}, {Name: "TestA/sub", Status: "SKIP", Depth: 1}}
	if got := r.Results[0].Tests; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("verdicts %+v, want %+v", got, want)
	}
	if out := r.Results[0].Output; len(out) != 0 {
		t.Errorf("step a's output: %q, want none besides its verdicts", out)
	}
	if res := r.Results[1]; res.Pass || res.Code != 1 || !res.Ended || res.Start != 5.1 || res.End != 6.2 {
		t.Errorf("step b: %+v", res)
	}
	if r.Booted != 4.1 || r.Done != 6.3 {
		t.Errorf("Booted %v Done %v", r.Booted, r.Done)
	}
}

func TestCheckTests(t *testing.T) {
	res := Result{Step: "s", Ended: true, Pass: true, Tests: []Test{
		{Name: "TestA", Status: "PASS"}, {Name: "TestA/x", Status: "PASS", Depth: 1}, {Name: "TestB", Status: "PASS"},
	}}
	if err := res.CheckTests([]string{"TestA", "TestB"}); err != nil {
		t.Errorf("all passed: %v", err)
	}
	wantErr(t, res.CheckTests([]string{"TestA"}), []string{"step s: TestB ran, but it is not one of the step's tests"})
	wantErr(t, res.CheckTests([]string{"TestA", "TestB", "TestC"}), []string{"step s: TestC did not pass"})
	res.Tests[1].Status = "SKIP"
	wantErr(t, res.CheckTests([]string{"TestA", "TestB"}), []string{"step s: TestA/x SKIP"})
	wantErr(t, Result{Step: "s", Ended: true, Code: 2}.CheckTests(nil), []string{"step s: exit status 2"})
	wantErr(t, Result{Step: "s"}.CheckTests(nil), []string{"step s: no result"})
}

func TestTail(t *testing.T) {
	if got := Tail([]byte("a\nb\x1b[2J\r\nc\n"), 2); got != "b[2J\nc" {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail([]byte("one"), 5); got != "one" {
		t.Errorf("Tail = %q", got)
	}
}

// wantErr checks that err holds each of want, or is nil when want is.
func wantErr(t *testing.T, err error, want []string) {
	t.Helper()
	switch {
	case err == nil && len(want) > 0:
		t.Errorf("no error, want one with %q", want)
	case err != nil && len(want) == 0:
		t.Errorf("error: %v", err)
	case err != nil:
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
	}
}
