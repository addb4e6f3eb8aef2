package tune

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		env       map[string]string
		wantRatio float64
		wantProcs ProcsPolicy
		wantOff   bool
		wantRef   time.Duration
		wantCrash string
		wantErrs  []string // each error must contain one of these, in order
	}{
		{name: "zero value", wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "options", opts: Options{MemoryRatio: 0.7, MaxProcs: ProcsFloor, RefreshInterval: 5 * time.Second, CrashFile: "/x"},
			wantRatio: 0.7, wantProcs: ProcsFloor, wantRef: 5 * time.Second, wantCrash: "/x"},
		{name: "negative refresh disables", opts: Options{RefreshInterval: -1}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: -1},
		{name: "env outranks options", opts: Options{MemoryRatio: 0.7, MaxProcs: ProcsFloor, CrashFile: "/x"},
			env:       map[string]string{"GOTUNE_MEMORY_RATIO": "0.8", "GOTUNE_MAXPROCS": "off", "GOTUNE_REFRESH": "250ms", "GOTUNE_CRASH_FILE": "off"},
			wantRatio: 0.8, wantProcs: ProcsOff, wantRef: 250 * time.Millisecond, wantCrash: "off"},
		{name: "GOTUNE=off", env: map[string]string{"GOTUNE": "off"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantOff: true, wantRef: time.Second},
		{name: "GOTUNE_REFRESH=off", env: map[string]string{"GOTUNE_REFRESH": "off"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: -1},
		{name: "AUTOMEMLIMIT ratio", env: map[string]string{"AUTOMEMLIMIT": "0.6"}, wantRatio: 0.6, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "AUTOMEMLIMIT off", env: map[string]string{"AUTOMEMLIMIT": "off"}, wantRatio: 0, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "GOTUNE_MEMORY_RATIO beats AUTOMEMLIMIT", env: map[string]string{"AUTOMEMLIMIT": "0.6", "GOTUNE_MEMORY_RATIO": "0.85"}, wantRatio: 0.85, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "bad values fall back one by one",
			opts:      Options{MemoryRatio: 0.7},
			env:       map[string]string{"GOTUNE": "maybe", "GOTUNE_MEMORY_RATIO": "1.5", "GOTUNE_MAXPROCS": "all", "GOTUNE_REFRESH": "soon"},
			wantRatio: 0.7, wantProcs: ProcsAuto, wantRef: time.Second,
			wantErrs: []string{`GOTUNE="maybe"`, `GOTUNE_MEMORY_RATIO="1.5"`, `GOTUNE_MAXPROCS="all"`, `GOTUNE_REFRESH="soon"`}},
		{name: "bad AUTOMEMLIMIT", env: map[string]string{"AUTOMEMLIMIT": "0"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second,
			wantErrs: []string{`AUTOMEMLIMIT="0"`}},
		{name: "bad options", opts: Options{MemoryRatio: 2, MaxProcs: "many"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second,
			wantErrs: []string{"Options.MemoryRatio 2", `Options.MaxProcs "many"`}},
		{name: "negative duration", env: map[string]string{"GOTUNE_REFRESH": "-1s"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second,
			wantErrs: []string{`GOTUNE_REFRESH="-1s": want a positive duration such as 1s, or off; using 1s`}},
		{name: "a bad GOTUNE_REFRESH says what is used instead", opts: Options{RefreshInterval: RefreshOff}, env: map[string]string{"GOTUNE_REFRESH": "-1ns"},
			wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: -1, wantErrs: []string{`using off`}},
		{name: "refresh below the minimum (Options)", opts: Options{RefreshInterval: 5}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: minRefresh,
			wantErrs: []string{"Options.RefreshInterval 5ns is below the minimum: using 100ms"}},
		{name: "refresh below the minimum (env)", env: map[string]string{"GOTUNE_REFRESH": "1ns"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: minRefresh,
			wantErrs: []string{`GOTUNE_REFRESH="1ns" is below the minimum: using 100ms`}},
		{name: "MemoryOff", opts: Options{MemoryRatio: MemoryOff}, wantRatio: 0, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "GOTUNE_MEMORY_RATIO=off", env: map[string]string{"GOTUNE_MEMORY_RATIO": "OFF"}, wantRatio: 0, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "GOTUNE=0", env: map[string]string{"GOTUNE": "0"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantOff: true, wantRef: time.Second},
		{name: "GOTUNE=false", env: map[string]string{"GOTUNE": "False"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantOff: true, wantRef: time.Second},
		{name: "GOTUNE=no", env: map[string]string{"GOTUNE": "no"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantOff: true, wantRef: time.Second},
		{name: "GOTUNE=1", env: map[string]string{"GOTUNE": "1"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second},
		{name: "GOTUNE=true", env: map[string]string{"GOTUNE": "true"}, wantRatio: 0.9, wantProcs: ProcsAuto, wantRef: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := loadConfig(tt.opts, func(k string) string { return tt.env[k] })
			if c.ratio != tt.wantRatio || c.procs != tt.wantProcs || c.off != tt.wantOff || c.refresh != tt.wantRef || c.crashFile != tt.wantCrash {
				t.Errorf("got ratio %v procs %q off %v refresh %v crash %q", c.ratio, c.procs, c.off, c.refresh, c.crashFile)
			}
			if len(errs) != len(tt.wantErrs) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.wantErrs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.wantErrs[i]) {
					t.Errorf("error %d = %q, want it to name %s", i, e, tt.wantErrs[i])
				}
			}
		})
	}
}
