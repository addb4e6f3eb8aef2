package vm

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	console := "GOTUNE-VM-BOOTED 3.0\n" +
		"GOTUNE-VM-BEGIN a 3.1\n--- PASS: TestA (0.50s)\n    --- PASS: TestA/x (0.20s)\nGOTUNE-VM-RESULT a pass 0 4.1\n" +
		"GOTUNE-VM-BEGIN b 4.2\n--- SKIP: TestB (0.00s)\nGOTUNE-VM-RESULT b fail 1 4.5\n" +
		"GOTUNE-VM-BEGIN c 4.6\n"
	r, err := Parse([]byte(console), []string{"a", "b", "c"})
	if err == nil {
		t.Fatal("a console that ends inside step c parsed without an error")
	}
	var out bytes.Buffer
	err = r.Report(&out, [][]string{{"TestA"}, {"TestB"}, {"TestC"}})
	for _, want := range []string{
		"  a: pass, exit status 0, 1.0s\n    PASS TestA (0.50s)\n      PASS TestA/x (0.20s)\n",
		"  b: FAIL, exit status 1, 0.3s\n    SKIP TestB (0.00s)\n",
		"  c: FAIL, no result (begun at 4.6s)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	wantErr(t, err, []string{"step b: exit status 1", "step b: TestB SKIP", "step c: no result"})
	if strings.Contains(err.Error(), "step a") {
		t.Errorf("step a passed, but the error names it: %v", err)
	}
}

func TestTestStep(t *testing.T) {
	s := TestStep("tune", "/src", "/tests/tune.test", []string{"K=v"}, 2*time.Minute, []string{"TestA", "TestB"})
	want := []string{"/tests/tune.test", "-test.v", "-test.count=1", "-test.timeout=2m0s", "-test.run=^(TestA|TestB)$"}
	if s.Name != "tune" || s.Dir != "/src" || len(s.Env) != 1 || strings.Join(s.Args, " ") != strings.Join(want, " ") {
		t.Errorf("TestStep = %+v, want args %q", s, want)
	}
	if !strings.Contains(stepLine(s), `step tune '/src' env 'K=v' '/tests/tune.test' '-test.v'`) {
		t.Errorf("its init line: %s", stepLine(s))
	}
}
