package tune

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestKernelJSONOmitsUnknown: the JSON form leaves out what was not read
// or measured instead of writing 0: not_go_memory_bytes without a
// measurement of Go's memory in use (a one-shot `tune -json`), the PSI
// figures and event counts the kernel does not give.
func TestKernelJSONOmitsUnknown(t *testing.T) {
	psiOff := PSIReport{Note: "cgroup v1 has no per-group pressure files"}
	for _, c := range []struct {
		name      string
		k         KernelReport
		has, lack []string
	}{
		{"one-shot: usage read, Go's memory not measured",
			KernelReport{MemoryUsage: 1_290_000_000, MemoryPeak: 1_300_000_000, Memory: psiOff, CPU: psiOff, IO: psiOff},
			[]string{`"memory_usage_bytes":1290000000`, `"memory_peak_bytes":1300000000`, `"memory_pressure":{"available":false,"note":"cgroup v1 has no per-group pressure files"}`, `"memory_events":{"available":false}`},
			[]string{"not_go_memory_bytes", "some_avg10", "full_total_ns", `"oom_kill"`}},
		{"with a loop",
			KernelReport{MemoryUsage: 300 << 20, NotGo: 100 << 20, Memory: PSIReport{Available: true, SomeAvg10: 1.5}, Events: MemoryEventsReport{Available: true, OOMKill: 2}},
			[]string{`"not_go_memory_bytes":104857600`, `"some_avg10":1.5`, `"full_avg10":0`, `"oom_kill":2`, `"high":0`},
			[]string{"memory_peak_bytes"}},
		{"nothing read", KernelReport{}, []string{`"io_pressure":{"available":false}`},
			[]string{"memory_usage_bytes", "memory_peak_bytes", "not_go_memory_bytes"}},
	} {
		b, err := json.Marshal(Report{Kernel: c.k})
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		for _, w := range c.has {
			if !strings.Contains(got, w) {
				t.Errorf("%s: lacks %s:\n%s", c.name, w, got)
			}
		}
		for _, w := range c.lack {
			if strings.Contains(got, w) {
				t.Errorf("%s: has %s:\n%s", c.name, w, got)
			}
		}
		var back Report
		if err := json.Unmarshal(b, &back); err != nil || back.Kernel != c.k {
			t.Errorf("%s: decoded back %+v (%v), want %+v", c.name, back.Kernel, err, c.k)
		}
	}
}

// TestOneShotJSONOmitsNotGo: Init without a loop, as `tune -json` runs
// it, reads the group's usage but cannot tell Go's share: the JSON says
// nothing about it rather than 0.
func TestOneShotJSONOmitsNotGo(t *testing.T) {
	isolate(t)
	rep, _ := Init(Options{RefreshInterval: RefreshOff, CrashFile: "off", Logger: discardLogger()})
	if rep.Kernel.MemoryUsage == 0 {
		if rep.Cgroup.Mode == "none" {
			cgrouptest.Unavailable(t, "no cgroups here: nothing to read (%v)", rep.Errors)
		}
		t.Fatalf("the group's usage was not read: %+v", rep.Kernel)
	}
	b, _ := json.Marshal(rep)
	if got := string(b); strings.Contains(got, "not_go_memory_bytes") || !strings.Contains(got, `"memory_usage_bytes":`) {
		t.Errorf("one-shot report: %s", got)
	}
}
