package tune

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/internal/cgroup"
)

func TestDecideMemory(t *testing.T) {
	const mib = 1 << 20
	def := config{ratio: 0.9, ratioFrom: "default"}
	tests := []struct {
		name       string
		lim        cgroup.Limits
		c          config
		current    int64
		env        string
		wantAction string
		wantLimit  int64
		wantReason string
	}{
		{"limit", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 512 * mib, Src: "/g/memory.max"}}, def, math.MaxInt64, "", "set", 483183820, "0.9 × own group's limit from /g/memory.max"},
		{"truncates", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1001}}, def, math.MaxInt64, "", "set", 900, ""},
		{"ratio", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1000}}, config{ratio: 0.5}, math.MaxInt64, "", "set", 500, ""},
		{"ancestor", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1000, Level: 2, Src: "/a/memory.max"}}, def, math.MaxInt64, "", "set", 900, "ancestor's (2 levels up) limit"},
		{"above mount", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1000, Level: -1}}, def, math.MaxInt64, "", "set", 900, "above the mount point"},
		{"no limit keeps current", cgroup.Limits{}, def, 123 * mib, "", "unchanged", 123 * mib, "no memory limit found"},
		{"no limit never resets", cgroup.Limits{}, def, math.MaxInt64, "", "unchanged", math.MaxInt64, "left as it is"},
		{"env wins", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1000}}, def, 77, "77B", "unchanged", 77, "GOMEMLIMIT=77B"},
		{"policy off", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1000}}, config{ratio: 0, ratioFrom: "AUTOMEMLIMIT=off"}, 5, "", "unchanged", 5, "AUTOMEMLIMIT=off"},
		{"read error", cgroup.Limits{Memory: cgroup.Limit[int64]{Err: errors.New("x")}}, def, 5, "", "unchanged", 5, "could not be read"},
		{"tiny limit", cgroup.Limits{Memory: cgroup.Limit[int64]{Value: 1}}, def, 5, "", "unchanged", 5, "not a usable limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decideMemory(tt.lim, tt.c, tt.current, tt.env)
			if m.Action != tt.wantAction || m.GOMEMLIMIT != tt.wantLimit || !strings.Contains(m.Reason, tt.wantReason) {
				t.Errorf("got action %q limit %d reason %q; want %q %d containing %q", m.Action, m.GOMEMLIMIT, m.Reason, tt.wantAction, tt.wantLimit, tt.wantReason)
			}
			if m.Before != tt.current {
				t.Errorf("Before = %d, want %d", m.Before, tt.current)
			}
		})
	}
}

func TestRuntimeRule(t *testing.T) {
	tests := []struct {
		quota  float64
		numCPU int
		want   int
	}{
		{0, 8, 8}, {9.2e18, 8, 8}, {0.5, 8, 2}, {1, 8, 2}, {2, 8, 2}, {2.1, 8, 3}, {3.5, 8, 4}, {16, 8, 8}, {0.5, 1, 1}, {4, 2, 2},
	}
	for _, tt := range tests {
		if got := runtimeRule(tt.quota, tt.numCPU); got != tt.want {
			t.Errorf("runtimeRule(%v, %d) = %d, want %d", tt.quota, tt.numCPU, got, tt.want)
		}
	}
}

func TestDecideProcs(t *testing.T) {
	auto, floor, off := config{procs: ProcsAuto}, config{procs: ProcsFloor}, config{procs: ProcsOff}
	st := func(current, numCPU, def int) procsState {
		return procsState{current: current, numCPU: numCPU, runtimeDefault: def}
	}
	tests := []struct {
		name       string
		lim        cgroup.Limits
		c          config
		s          procsState
		wantAction string
		want       int
		wantReason string
	}{
		{"auto: runtime already right", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 2.5, Own: 2.5}}, auto, st(3, 8, 3), "runtime", 3, "default, 3, already equals the rule"},
		{"auto: ancestor tighter", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 2.5, Level: 1, Own: 0}}, auto, st(8, 8, 8), "set", 3, "tighter than the one the runtime sees"},
		{"auto: no quota", cgroup.Limits{}, auto, st(8, 8, 8), "runtime", 8, "default stands"},
		{"auto: no quota, runtime not the default", cgroup.Limits{}, auto, st(3, 8, 3), "runtime", 3, "default stands"},
		{"auto: min 2", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 0.5, Level: 1}}, auto, st(8, 8, 8), "set", 2, ""},
		{"auto: capped by CPUs", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 32, Level: 1}}, auto, st(4, 4, 4), "runtime", 4, ""},
		{"floor", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 2.5}}, floor, st(3, 8, 3), "set", 2, "floor of"},
		{"floor: at least 1", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 0.2}}, floor, st(2, 8, 2), "set", 1, ""},
		{"floor: at most the CPUs", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 6}}, floor, st(2, 2, 2), "set", 2, ""},
		{"floor: an absurd quota does not overflow", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 9.2e18}}, floor, st(2, 4, 2), "set", 4, ""},
		{"floor: no quota", cgroup.Limits{}, floor, st(5, 8, 5), "unchanged", 5, "no CPU quota"},
		{"off", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 1}}, off, st(8, 8, 8), "unchanged", 8, "policy is off"},
		{"env wins", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 1}}, floor, procsState{current: 6, numCPU: 8, runtimeDefault: 6, env: "6"}, "unchanged", 6, "GOMAXPROCS=6"},
		{"bad env ignored", cgroup.Limits{CPU: cgroup.Limit[float64]{Value: 1.5}}, floor, procsState{current: 8, numCPU: 8, runtimeDefault: 8, env: "lots"}, "set", 1, ""},
		{"read error", cgroup.Limits{CPU: cgroup.Limit[float64]{Err: errors.New("x")}}, auto, st(8, 8, 8), "unchanged", 8, "could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decideProcs(tt.lim, tt.c, tt.s)
			if r.Action != tt.wantAction || r.GOMAXPROCS != tt.want || !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("got %q %d %q; want %q %d containing %q", r.Action, r.GOMAXPROCS, r.Reason, tt.wantAction, tt.want, tt.wantReason)
			}
		})
	}
}
