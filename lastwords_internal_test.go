package tune

// The last words' glue: the settings from Options and the environment,
// what the loop hands the recorder at Critical, and Stop stopping the
// flight recorder. The files themselves are tested in internal/postmortem.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimehooks/tune/internal/postmortem"
)

// filesIn lists the names in dir, sorted.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestOwnerLastWords: the loop's event and report reach the summary (the
// pressure, its signal, GC CPU, Go memory in use, GOMEMLIMIT, the
// group's limit), and the header says critical until the level falls.
func TestOwnerLastWords(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.crash")
	if _, err := initCrash(file, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(endCrash)
	o := &owner{c: config{lastWords: time.Minute, refresh: time.Second, termLog: TerminationLogOff, logger: discardLogger()}}
	o.lastWords(lastWordsInput{
		Event: PressureEvent{Level: PressureCritical, Previous: PressureHigh, GCCPUFraction: 0.61,
			MemoryInUse: 180 << 20, GOMEMLIMIT: 200 << 20, Signal: SignalRuntime, Time: time.Now()},
		Report: &Report{Memory: MemoryReport{Limit: 222 << 20, GOMEMLIMIT: 200 << 20}},
	})
	var sum struct {
		Pressure   string  `json:"pressure"`
		Signal     string  `json:"signal"`
		GCCPU      float64 `json:"gc_cpu_fraction"`
		InUse      uint64  `json:"go_memory_in_use_bytes"`
		GOMEMLIMIT int64   `json:"gomemlimit_bytes"`
		Limit      int64   `json:"memory_limit_bytes"`
	}
	var found bool
	for _, name := range filesIn(t, dir) {
		if strings.HasSuffix(name, ".json") {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			found = json.Unmarshal(b, &sum) == nil
		}
	}
	if !found || sum.Pressure != "critical" || sum.Signal != "runtime" || sum.GCCPU != 0.61 || sum.InUse != 180<<20 ||
		sum.GOMEMLIMIT != 200<<20 || sum.Limit != 222<<20 {
		t.Errorf("summary %+v (found %v) in %v", sum, found, filesIn(t, dir))
	}
	header := func() string {
		b, _ := os.ReadFile(file)
		first, _, _ := strings.Cut(string(b), "\n")
		return first
	}
	if !strings.Contains(header(), " critical=1 ") {
		t.Errorf("header %q, want critical=1", header())
	}
	o.leftCritical()
	if !strings.Contains(header(), " critical=0 ") {
		t.Errorf("header %q after the level fell, want critical=0", header())
	}
}

// TestStopStopsFlightRecorder: Stop stops the flight recorder, also with
// no owner.
func TestStopStopsFlightRecorder(t *testing.T) {
	if _, err := initCrash(filepath.Join(t.TempDir(), "app.crash"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(endCrash)
	t.Cleanup(stopFlight)
	c := config{lastWords: time.Minute, refresh: time.Second, flight: time.Second}
	if lines := setFlight(c); len(lines) != 0 || !recorder.FlightRunning() {
		t.Fatalf("setFlight: %+v, running %v", lines, recorder.FlightRunning())
	}
	Stop()
	if recorder.FlightRunning() {
		t.Error("the flight recorder still runs after Stop")
	}
}

// TestLoadConfigLastWords: the last words' settings from Options and the
// environment, which wins; a bad value names the variable and keeps the
// setting as it was.
func TestLoadConfigLastWords(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      Options
		env       map[string]string
		lastWords time.Duration
		flight    time.Duration
		termLog   string
		err       string
	}{
		{name: "zero value", lastWords: time.Minute},
		{name: "options", opts: Options{LastWordsInterval: 5 * time.Minute, FlightRecorder: 3 * time.Second, TerminationLog: "/x/log"},
			lastWords: 5 * time.Minute, flight: 3 * time.Second, termLog: "/x/log"},
		{name: "options off", opts: Options{LastWordsInterval: LastWordsOff, FlightRecorder: -1, TerminationLog: TerminationLogOff},
			lastWords: LastWordsOff, termLog: "off"},
		{name: "environment wins", opts: Options{LastWordsInterval: 5 * time.Minute, FlightRecorder: 3 * time.Second},
			env:       map[string]string{"GOTUNE_LAST_WORDS": "off", "GOTUNE_FLIGHT_RECORDER": "off", "GOTUNE_TERMINATION_LOG": "off"},
			lastWords: LastWordsOff, termLog: "off"},
		{name: "environment durations", env: map[string]string{"GOTUNE_LAST_WORDS": "30s", "GOTUNE_FLIGHT_RECORDER": "5s", "GOTUNE_TERMINATION_LOG": "/dev/other"},
			lastWords: 30 * time.Second, flight: 5 * time.Second, termLog: "/dev/other"},
		{name: "flight recorder on", env: map[string]string{"GOTUNE_FLIGHT_RECORDER": "on"}, lastWords: time.Minute, flight: 10 * time.Second},
		{name: "bad last words", opts: Options{LastWordsInterval: 2 * time.Minute}, env: map[string]string{"GOTUNE_LAST_WORDS": "soon"},
			lastWords: 2 * time.Minute, err: `GOTUNE_LAST_WORDS="soon": want a positive duration (such as 1m) or off; using 2m0s`},
		{name: "negative last words", env: map[string]string{"GOTUNE_LAST_WORDS": "-1m"}, lastWords: time.Minute, err: `GOTUNE_LAST_WORDS="-1m"`},
		{name: "bad flight recorder", env: map[string]string{"GOTUNE_FLIGHT_RECORDER": "always"}, lastWords: time.Minute,
			err: `GOTUNE_FLIGHT_RECORDER="always": want a positive duration (such as 1m) or off; using off`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := loadConfig(tt.opts, func(k string) string { return tt.env[k] })
			if c.lastWords != tt.lastWords || c.flight != tt.flight || c.termLog != tt.termLog {
				t.Errorf("lastWords %v flight %v termLog %q; want %v %v %q", c.lastWords, c.flight, c.termLog, tt.lastWords, tt.flight, tt.termLog)
			}
			switch {
			case tt.err == "" && len(errs) != 0:
				t.Errorf("errors %v", errs)
			case tt.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.err)):
				t.Errorf("errors %v, want one containing %q", errs, tt.err)
			}
		})
	}
}

// TestExitKindsMatch: the public kinds are the recorder's, one for one.
func TestExitKindsMatch(t *testing.T) {
	for pub, in := range map[ExitKind]postmortem.ExitKind{
		ExitCrashed: postmortem.ExitCrashed, ExitOOMKilled: postmortem.ExitOOMKilled, ExitUnreported: postmortem.ExitUnreported,
	} {
		if string(pub) != string(in) {
			t.Errorf("ExitKind %q is %q inside", pub, in)
		}
	}
}
