package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/result"
)

const sample = `goos: linux
BenchmarkStartup/tune-2         	    2000	    100000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/tune-2         	    2000	    120000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/tune-2         	    2000	    900000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/baseline-2     	    2000	    218637 ns/op	   80064 B/op	     543 allocs/op
BenchmarkTick/baseline-2        	    2000	    114500 ns/op	   29168 B/op	     197 allocs/op
BenchmarkDetect/tune-2          	    2000	    120000 ns/op	   65972 B/op	     177 allocs/op
BenchmarkDetect/baseline-2      	    2000	    114000 ns/op	   29168 B/op	     197 allocs/op
BenchmarkTick/tune-2            	 1000000	      1200 ns/op	       0 B/op	       0 allocs/op
BenchmarkStatsRead/host-2       	 1000000	      9000 ns/op	       0 B/op	       0 allocs/op
BenchmarkStatsRead/stats-v2-psi-2	 1000000	     20000 ns/op	       0 B/op	       0 allocs/op
BenchmarkScrape/tune-2          	     300	    760597 ns/op	         0 stw/scrape	  425943 B/op	    2814 allocs/op
BenchmarkScrape/baseline-2      	     300	    670576 ns/op	         0 stw/scrape	  424238 B/op	    2760 allocs/op
BenchmarkLabelsPlain/baseline-2 	17555503	        75.43 ns/op	       0 B/op	       0 allocs/op
BenchmarkLabelsPlain/tune-2     	 2421184	       614.9 ns/op	     352 B/op	       2 allocs/op
BenchmarkLabelsWildcard/baseline-2	 6650802	       185.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkLabelsWildcard/tune-2  	 1699920	      1277 ns/op	     384 B/op	       4 allocs/op
BenchmarkStatusRender/html-2    	     100	  12000000 ns/op	    650000 bytes/page	 2000000 B/op	    9000 allocs/op
BenchmarkStatusRender/json-2    	     100	   3000000 ns/op	    250000 bytes/page	  900000 B/op	    4000 allocs/op
BenchmarkBlankImport/tune-2     	     100	  12904176 ns/op	  13482161 binary-bytes	     10156 rss-KiB
BenchmarkBlankImport/baseline-2 	     100	   4269883 ns/op	   3327658 binary-bytes	      2804 rss-KiB
BenchmarkBlankImport/plain-2    	     100	   2211858 ns/op	   2588430 binary-bytes	      2304 rss-KiB
BenchmarkBlankService/tune-2    	      30	   6102053 ns/op	  16343110 binary-bytes	     11900 rss-KiB
BenchmarkBlankService/baseline-2	      30	   4541493 ns/op	  15310761 binary-bytes	     10360 rss-KiB
PASS
`

func TestParseBenchMedians(t *testing.T) {
	bs, err := parseBench(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkStartup/tune", "ns/op", 120000}, // the median, not the outlier
		{"BenchmarkStartup/baseline", "allocs/op", 543},
		{"BenchmarkScrape/tune", "stw/scrape", 0},
		{"BenchmarkTick/tune", "allocs/op", 0},
		{"BenchmarkStatsRead/stats-v2-psi", "ns/op", 20000},
		{"BenchmarkBlankImport/tune", "rss-KiB", 10156},
	} {
		if got, ok := bs.median(c.name, c.unit); !ok || got != c.want {
			t.Errorf("median(%s, %s) = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if _, ok := bs.median("BenchmarkNope", "ns/op"); ok {
		t.Error("median of a missing benchmark reported a value")
	}
}

// writeJSON writes v as JSON to dir/name.
func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// survival is a survival result: tune survives at perCPU ops per
// CPU-second, automemlimit at 450, the ceiling at 500; no tuning is killed.
func survival(tunePerCPU float64) result.Survival {
	s := result.Survival{LimitBytes: 256 << 20, Live: "150MiB", Ops: 3, Rounds: 2, Modes: map[string]*result.SurvivalMode{}}
	for mode, perCPU := range map[string]float64{"ceiling": 500, "automemlimit": 450, "tune": tunePerCPU, "none": 0} {
		m := &result.SurvivalMode{}
		for range s.Rounds {
			r := result.SurvivalRun{Survived: true, PeakShare: 0.9,
				Result: &result.Workload{Tune: mode, Ops: 3, OpsPerSec: 1000, OpsPerCPUSec: perCPU}}
			if mode == "none" {
				r = result.SurvivalRun{Outcome: result.Outcome{Signal: "killed", OOMKills: 1}, PeakShare: 1}
			}
			m.Runs = append(m.Runs, r)
		}
		m.Summarize()
		s.Modes[mode] = m
	}
	return s
}

// reaction is a reaction result for files, every change taking seconds.
func reaction(seconds float64, files ...string) result.Reaction {
	r := result.Reaction{Interval: "1s", Trials: 2}
	for _, f := range files {
		for _, k := range result.ReactionKinds {
			r.Add(f, k, []float64{0.9, seconds})
		}
	}
	return r
}

// results maps each row whose name starts with a prefix to its result.
func rowResults(t *testing.T, rows []Row, want map[string]string) {
	t.Helper()
	for prefix, w := range want {
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r.Name, prefix) {
				found = true
				if r.Result != w {
					t.Errorf("row %q: %s, want %s (%+v)", r.Name, r.Result, w, r)
				}
			}
		}
		if !found {
			t.Errorf("no row starting %q", prefix)
		}
	}
}

func TestHostRows(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, dir, result.SurvivalFile, survival(350))
	writeJSON(t, dir, result.ReactionFile, reaction(1.6, "memory.limit_in_bytes"))
	bs, err := parseBench(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	rows := hostRows(bs, dir)
	rowResults(t, rows, map[string]string{
		"start-up: tune.Init":              "FAIL", // 120 µs vs 218.6 µs: 0.55×
		"detection alone":                  "FAIL", // 1.05×
		"refresh tick, no change":          "PASS", // 1.2 µs vs 114.5 µs
		"refresh tick: allocs":             "PASS",
		"refresh tick with the kernel's":   "PASS", // 1.2 + 9 µs: 0.09×
		"the kernel's stats, read on this": "PASS",
		"the kernel's stats, read from a":  "info",
		"scrape /metrics":                  "PASS", // 1.13×
		"scrape: stop-the-world":           "PASS",
		"status page":                      "info",
		"blank import, an empty program":   "info",
		"blank import, a typical service (net/http, client_golang's Go collector, slog, encoding/json): binary size": "FAIL", // +1.03 MB
		"blank import, a typical service (net/http, client_golang's Go collector, slog, encoding/json): start-up":    "info",
		"blank import, a typical service (net/http, client_golang's Go collector, slog, encoding/json): RSS":         "info",
		"per-route profiler labels, plain pattern: LabelRoutes":                                                      "PASS", // +539 ns
		"per-route profiler labels, plain pattern: added allocs":                                                     "PASS", // +2
		"per-route profiler labels, wildcard pattern: LabelRoutes":                                                   "FAIL", // +1.09 µs
		"per-route profiler labels, wildcard pattern: added allocs":                                                  "info",
		"survival (host v1), 256 MiB":                          "PASS", // no tuning killed both times
		"survival (host v1): outcome":                          "PASS",
		"survival (host v1): throughput, tune vs no limit":     "FAIL", // 0.70× per CPU-second
		"survival (host v1): throughput, tune vs automemlimit": "FAIL", // 0.78×
		"reaction (host v1): memory.limit_in_bytes lowered":    "FAIL", // 1.6 s
		"reaction (host v1): memory.limit_in_bytes removed":    "FAIL",
		"idle CPU over 60 s":                                   "FAIL", // idle.json missing: the measurement failed
		"idle CPU: the tick's work":                            "FAIL",
	})
	for _, r := range rows {
		if strings.HasPrefix(r.Name, "refresh tick with the kernel's") && !strings.Contains(r.Tune, "does not read them yet") {
			t.Errorf("the stats row does not say it adds the stats read: %+v", r)
		}
		if strings.HasPrefix(r.Name, "blank import, an empty program: RSS") && (r.Tune != "9.9 MiB" || !strings.Contains(r.Name, "no import: 2.2 MiB")) {
			t.Errorf("blank import RSS row: %+v", r)
		}
	}

	// Once the library's tick reads the stats and says so, the row takes
	// the tick alone.
	bs["BenchmarkTick/tune"]["stat-files"] = []float64{6}
	if r := tickStatsRow(bs); r.Ratio != "0.01×" || !strings.Contains(r.Tune, "reads 6 stats files") {
		t.Errorf("tick with stat-files: %+v", r)
	}
}

func TestV2Rows(t *testing.T) {
	high := result.MemoryHigh{HighBytes: 200 << 20, MaxBytes: 400 << 20, Live: "120MiB", Ops: 3, Rounds: 2, Modes: map[string]*result.MemoryHighMode{}}
	for mode, ops := range map[string]float64{"none": 2000, "automemlimit": 2100, "tune": 10000} {
		m := &result.MemoryHighMode{}
		for i := range high.Rounds {
			events := int64(900)
			if mode == "tune" {
				events = int64(i) // one run throttled once
			}
			m.Runs = append(m.Runs, result.MemoryHighRun{Outcome: result.Outcome{HighEvents: events, PeakBytes: 200 << 20},
				Result: result.Workload{Tune: mode, Ops: 3, OpsPerSec: ops}})
		}
		m.Summarize()
		high.Modes[mode] = m
	}
	quota := result.Quota{CPUs: 4, QuotaCPUs: 2, Duration: "3s", Rounds: 1, Modes: map[string]*result.QuotaMode{}}
	for mode, r := range map[string]result.QuotaRun{
		"runtime": {Result: result.Burn{Tune: "none", GOMAXPROCS: 4, Ops: 9, OpsPerSec: 3, SchedP99: 0.005, SchedSamples: 9}, NrPeriods: 30, NrThrottled: 29},
		"tune":    {Result: result.Burn{Tune: "tune", GOMAXPROCS: 2, Ops: 9, OpsPerSec: 3, SchedP99: 0.006, SchedSamples: 9}, NrPeriods: 30, NrThrottled: 3},
	} {
		m := &result.QuotaMode{Runs: []result.QuotaRun{r}}
		m.Summarize()
		quota.Modes[mode] = m
	}
	dir := t.TempDir()
	v2 := func(name string) string { return result.V2Prefix + name }
	writeJSON(t, dir, v2(result.MemoryHighFile), high)
	writeJSON(t, dir, v2(result.SurvivalFile), survival(480))
	writeJSON(t, dir, v2(result.ReactionFile), reaction(1.0, "memory.max", "memory.high"))
	writeJSON(t, dir, v2(result.QuotaFile), quota)
	rowResults(t, v2Rows(dir), map[string]string{
		"memory.high (v2 guest): throughput":                    "PASS", // 4.76×
		"memory.high (v2 guest): memory.events":                 "FAIL", // one high event in one run
		"memory.high (v2 guest): peak":                          "info",
		"survival (v2 guest), 256 MiB memory.max":               "PASS",
		"survival (v2 guest): throughput, tune vs automemlimit": "PASS",
		"reaction (v2 guest): memory.high raised":               "PASS",
		"ancestor quota (v2 guest): throttled":                  "PASS",
		"ancestor quota (v2 guest): scheduling latency":         "FAIL", // 6 ms against 5 ms
		"ancestor quota (v2 guest): throughput":                 "info",
	})

	// A v2 reaction result without memory.high, one with a field no
	// version writes, and one that is missing: each FAILs its rows.
	writeJSON(t, dir, v2(result.ReactionFile), reaction(1.0, "memory.max"))
	os.Remove(filepath.Join(dir, v2(result.QuotaFile)))
	writeJSON(t, dir, v2(result.MemoryHighFile), map[string]any{"high_bytes": 1, "extra": true})
	rows := v2Rows(dir)
	rowResults(t, rows, map[string]string{
		"memory.high (v2 guest): throughput": "FAIL",
		"reaction (v2 guest)":                "FAIL",
		"ancestor quota (v2 guest)":          "FAIL",
	})
	for _, r := range rows {
		if r.Result == "FAIL" && !strings.Contains(r.Tune, "missing or malformed result") {
			t.Errorf("row %q fails without saying its result is missing or malformed: %+v", r.Name, r)
		}
	}
	if got := guestLine(dir); !strings.Contains(got, "guest: unknown") {
		t.Errorf("guestLine without v2-guest.json: %q", got)
	}
}

func TestIdleRows(t *testing.T) {
	for _, c := range []struct {
		name, json string
		loop, work string
	}{
		{"under", `{"method": "cpuacct.usage", "seconds": 60, "refresh_share": 0.00005, "wake_share": 0.00002, "work_share": 0.00003}`, "info", "PASS"},
		// The wake-up alone is over 0.01%: the loop is shown, the tick's
		// own work is what must be under it.
		{"wake-up over", `{"method": "cpuacct.usage", "seconds": 60, "refresh_share": 0.0003, "wake_share": 0.00025, "work_share": 0.00005}`, "info", "PASS"},
		{"work over", `{"method": "cpuacct.usage", "seconds": 60, "refresh_share": 0.0003, "wake_share": 0.0001, "work_share": 0.0002}`, "info", "FAIL"},
		// An idle.json of the old clock-tick method is not compared.
		{"old method", `{"seconds": 60, "refresh_share": 0.00005, "work_share": 0.00003}`, "FAIL", "FAIL"},
		{"bad json", `{`, "FAIL", "FAIL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "idle.json")
			if err := os.WriteFile(p, []byte(c.json), 0o600); err != nil {
				t.Fatal(err)
			}
			rows := idleRows(p)
			if len(rows) != 2 || rows[0].Result != c.loop || rows[1].Result != c.work {
				t.Fatalf("idleRows(%s) = %+v; want results %s, %s", c.json, rows, c.loop, c.work)
			}
		})
	}
}
