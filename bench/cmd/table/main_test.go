package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkStartup/tune-2         	    2000	    100000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/tune-2         	    2000	    120000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/tune-2         	    2000	    900000 ns/op	   36271 B/op	     224 allocs/op
BenchmarkStartup/baseline-2     	    2000	    218637 ns/op	   80064 B/op	     543 allocs/op
BenchmarkTick/baseline-2        	    2000	    114500 ns/op	   29168 B/op	     197 allocs/op
BenchmarkTick/tune-2            	 1000000	      1200 ns/op	       0 B/op	       0 allocs/op
BenchmarkScrape/tune-2          	     300	    760597 ns/op	         0 stw/scrape	  425943 B/op	    2814 allocs/op
BenchmarkScrape/baseline-2      	     300	    670576 ns/op	         0 stw/scrape	  424238 B/op	    2760 allocs/op
BenchmarkLabelsPlain/baseline-2 	17555503	        75.43 ns/op	       0 B/op	       0 allocs/op
BenchmarkLabelsPlain/tune-2     	 2421184	       614.9 ns/op	     352 B/op	       2 allocs/op
BenchmarkLabelsWildcard/baseline-2	 6650802	       185.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkLabelsWildcard/tune-2  	 1699920	      1277 ns/op	     384 B/op	       4 allocs/op
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
	} {
		if got, ok := bs.median(c.name, c.unit); !ok || got != c.want {
			t.Errorf("median(%s, %s) = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if _, ok := bs.median("BenchmarkNope", "ns/op"); ok {
		t.Error("median of a missing benchmark reported a value")
	}
}

func TestRowsVerdicts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("survival.json", `{"limit_bytes": 268435456, "live": "150MiB", "ops": 3, "rounds": 2, "modes": {
		"ceiling": {"survived": 2, "ops_per_sec": 1000, "ops_per_cpu_sec": 500, "gc_cpu_fraction": 0.05, "peak_share": 1.5},
		"none": {"survived": 0, "oom_killed": 2, "peak_share": 1},
		"automemlimit": {"survived": 2, "ops_per_sec": 900, "ops_per_cpu_sec": 450, "gc_cpu_fraction": 0.1, "peak_share": 0.9},
		"tune": {"survived": 2, "ops_per_sec": 1000, "ops_per_cpu_sec": 350, "gc_cpu_fraction": 0.1, "peak_share": 0.9}}}`)
	write("reaction.json", `{"seconds": [1.0, 1.6], "max_seconds": 1.6, "median_seconds": 1.3}`)
	bs, err := parseBench(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range buildRows(bs, dir) {
		got[r.Name] = r.Result
	}
	for _, c := range []struct{ prefix, want string }{
		{"start-up: tune.Init", "FAIL"},     // 120 µs vs 218.6 µs: 0.55×
		{"refresh tick, no change", "PASS"}, // 1.2 µs vs 114.5 µs
		{"refresh tick: allocs", "PASS"},
		{"scrape /metrics", "PASS"}, // 1.13×
		{"scrape: stop-the-world", "PASS"},
		{"per-route profiler labels, plain pattern: LabelRoutes", "PASS"},    // +539 ns
		{"per-route profiler labels, plain pattern: added allocs", "PASS"},   // +2
		{"per-route profiler labels, wildcard pattern: LabelRoutes", "FAIL"}, // +1.09 µs
		{"per-route profiler labels, wildcard pattern: added allocs", "info"},
		{"survival, 256 MiB", "PASS"}, // no tuning killed both times
		{"survival: outcome", "PASS"},
		{"survival: throughput, tune vs no limit", "FAIL"}, // 0.70× per CPU-second (wall: 1.00×)
		{"survival: throughput, tune vs automemlimit", "FAIL"},
		{"reaction", "FAIL"},          // 1.6 s
		{"idle CPU over 60 s", "n/a"}, // idle.json missing
		{"idle CPU: the tick's work", "n/a"},
	} {
		found := false
		for name, res := range got {
			if strings.HasPrefix(name, c.prefix) {
				found = true
				if res != c.want {
					t.Errorf("row %q: %s, want %s", name, res, c.want)
				}
			}
		}
		if !found {
			t.Errorf("no row starting %q in %v", c.prefix, got)
		}
	}
}

func TestIdleRows(t *testing.T) {
	for _, c := range []struct {
		name, json string
		loop, work string
	}{
		{"both under", `{"method": "cpuacct.usage", "refresh_share": 0.00005, "wake_share": 0.00002, "work_share": 0.00003}`, "PASS", "PASS"},
		// The wake-up alone is over the target: the loop fails, the tick's
		// own work may still pass.
		{"wake-up over", `{"method": "cpuacct.usage", "refresh_share": 0.0003, "wake_share": 0.00025, "work_share": 0.00005}`, "FAIL", "PASS"},
		{"work over", `{"method": "cpuacct.usage", "refresh_share": 0.0003, "wake_share": 0.0001, "work_share": 0.0002}`, "FAIL", "FAIL"},
		// An idle.json of the old clock-tick method is not compared.
		{"old method", `{"refresh_share": 0.00005, "work_share": 0.00003}`, "n/a", "n/a"},
		{"bad json", `{`, "n/a", "n/a"},
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
