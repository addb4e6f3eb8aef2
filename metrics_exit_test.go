package tune_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runtimehooks/tune"
)

// TestPreviousExitMetric: a real child crashes (or exits without
// tune.Shutdown) with its crash file here; the next start, this process's
// Init with the same file, exports how it ended as
// gotune_previous_exit{kind}, one series: the crash, then the plain
// exit.
func TestPreviousExitMetric(t *testing.T) {
	for _, tt := range []struct{ mode, kind string }{
		{"panic", "crashed"},
		{"exit", "unreported"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(tune.NewCollector())
			// exits are the gotune_previous_exit series, as kind=value.
			exits := func() (got []string) {
				mfs, err := reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, mf := range mfs {
					if mf.GetName() != "gotune_previous_exit" {
						continue
					}
					if mf.GetType() != dto.MetricType_GAUGE || !strings.HasPrefix(mf.GetHelp(), "How the previous run of the program ended") {
						t.Errorf("gotune_previous_exit: type %v, help %q", mf.GetType(), mf.GetHelp())
					}
					for _, m := range mf.GetMetric() {
						for _, l := range m.GetLabel() {
							got = append(got, fmt.Sprintf("%s=%s %v", l.GetName(), l.GetValue(), m.GetGauge().GetValue()))
						}
					}
				}
				return got
			}
			file := filepath.Join(t.TempDir(), "app.crash")
			runCrasher(t, nil, tt.mode, file)
			tune.Init(tune.Options{CrashFile: file, RefreshInterval: tune.RefreshOff, Logger: discard})
			t.Cleanup(func() { tune.Init(tune.Options{CrashFile: "off", RefreshInterval: tune.RefreshOff, Logger: discard}) })
			if got, want := exits(), "kind="+tt.kind+" 1"; len(got) != 1 || got[0] != want {
				t.Errorf("gotune_previous_exit %v, want one series %s", got, want)
			}
		})
	}
}
