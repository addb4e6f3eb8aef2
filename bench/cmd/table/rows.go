package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/runtimehooks/tune/bench/internal/result"
)

// hostRows are the rows of this machine: the Go benchmarks, then the
// survival, reaction and idle-CPU measurements on its cgroup v1.
func hostRows(bs benchmarks, dir string) []Row {
	var rows []Row
	rows = append(rows,
		ratioRow(bs, "start-up: tune.Init vs maxprocs.Set + memlimit.Set, time/op", "BenchmarkStartup/tune", "BenchmarkStartup/baseline", "ns/op", 0.5, ns),
		infoRow(bs, "start-up: allocs/op", "BenchmarkStartup/tune", "BenchmarkStartup/baseline", "allocs/op"),
		ratioRow(bs, "detection alone: tune.Detect vs memlimit.FromCgroup, time/op", "BenchmarkDetect/tune", "BenchmarkDetect/baseline", "ns/op", 1.0, ns),
		ratioRow(bs, "refresh tick, no change: tune vs memlimit.FromCgroup, time/op", "BenchmarkTick/tune", "BenchmarkTick/baseline", "ns/op", 0.1, ns),
		zeroRow(bs, "refresh tick: allocs/op", "BenchmarkTick/tune", "BenchmarkTick/baseline", "allocs/op"),
		tickStatsRow(bs),
		zeroRow(bs, "the kernel's stats, read on this host (StatsReader.Read): allocs/op", "BenchmarkStatsRead/host", "", "allocs/op"),
		infoRatioRow(bs, "the kernel's stats, read from a cgroup v2 snapshot with PSI and memory.events: vs memlimit.FromCgroup on this host, time/op",
			"BenchmarkStatsRead/stats-v2-psi", "BenchmarkTick/baseline", "ns/op", ns),
		ratioRow(bs, "scrape /metrics via promhttp: tune.Register vs GoCollector + ProcessCollector, time/op", "BenchmarkScrape/tune", "BenchmarkScrape/baseline", "ns/op", 1.15, ns),
		zeroRow(bs, "scrape: stop-the-world pauses (ReadMemStats) per scrape", "BenchmarkScrape/tune", "BenchmarkScrape/baseline", "stw/scrape"),
		addedRow(bs, "per-route profiler labels, plain pattern: LabelRoutes(mux) − bare mux, time/op", "BenchmarkLabelsPlain", "ns/op", 1000, ns),
		addedRow(bs, "per-route profiler labels, plain pattern: added allocs/op", "BenchmarkLabelsPlain", "allocs/op", 2, count),
		addedRow(bs, "per-route profiler labels, wildcard pattern: LabelRoutes(mux) − bare mux, time/op", "BenchmarkLabelsWildcard", "ns/op", 1000, ns),
		infoAddedRow(bs, "per-route profiler labels, wildcard pattern: added allocs/op (the mux matches twice)", "BenchmarkLabelsWildcard", "allocs/op"),
		statusRow(bs, "html"),
		statusRow(bs, "json"),
	)
	rows = append(rows, blankRows(bs)...)
	rows = append(rows, serviceRows(bs)...)
	rows = append(rows, survivalRows(filepath.Join(dir, result.SurvivalFile), "host v1", "memory.limit_in_bytes")...)
	rows = append(rows, reactionRows(filepath.Join(dir, result.ReactionFile), "host v1", "memory.limit_in_bytes")...)
	rows = append(rows, idleRows(filepath.Join(dir, result.IdleFile))...)
	return rows
}

// ratioRow compares the medians of tune's and the baseline's benchmark in
// unit: ratio = tune ÷ baseline must be at most max.
func ratioRow(bs benchmarks, name, tuneB, baseB, unit string, max float64, format func(float64) string) Row {
	t, ok1 := bs.median(tuneB, unit)
	b, ok2 := bs.median(baseB, unit)
	target := fmt.Sprintf("≤ %.2f×", max)
	switch {
	case !ok1:
		return na(name, target, "no "+unit+" result for "+tuneB)
	case !ok2:
		return na(name, target, "no "+unit+" result for "+baseB)
	}
	r := Row{Name: name, Tune: format(t), Baseline: format(b), Target: target}
	if b == 0 {
		r.Ratio = "—"
		r.Result = verdict(t == 0)
		return r
	}
	r.Ratio = fmt.Sprintf("%.2f×", t/b)
	r.Result = verdict(t/b <= max)
	return r
}

func ns(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func count(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// added returns the medians of name/tune and name/baseline in unit.
func added(bs benchmarks, name, unit string) (t, b float64, ok bool) {
	t, ok1 := bs.median(name+"/tune", unit)
	b, ok2 := bs.median(name+"/baseline", unit)
	return t, b, ok1 && ok2
}

// addedRow checks what tune adds to the baseline: tune − baseline in unit
// must be at most max.
func addedRow(bs benchmarks, name, bench, unit string, max float64, format func(float64) string) Row {
	target := "≤ " + format(max) + " added"
	t, b, ok := added(bs, bench, unit)
	if !ok {
		return na(name, target, "no "+unit+" results for "+bench)
	}
	r := Row{Name: name, Tune: format(t) + " (+" + format(t-b) + ")", Baseline: format(b), Ratio: "—", Target: target, Result: verdict(t-b <= max)}
	if b > 0 {
		r.Ratio = fmt.Sprintf("%.2f×", t/b)
	}
	return r
}

// infoAddedRow shows what tune adds with no target.
func infoAddedRow(bs benchmarks, name, bench, unit string) Row {
	t, b, ok := added(bs, bench, unit)
	if !ok {
		return na(name, "—", "no "+unit+" results for "+bench)
	}
	return Row{Name: name, Tune: count(t) + " (+" + count(t-b) + ")", Baseline: count(b), Ratio: "—", Target: "—", Result: "info"}
}

// infoRow shows both figures with no target.
func infoRow(bs benchmarks, name, tuneB, baseB, unit string) Row {
	t, ok1 := bs.median(tuneB, unit)
	b, ok2 := bs.median(baseB, unit)
	if !ok1 || !ok2 {
		return na(name, "—", "no "+unit+" results")
	}
	r := Row{Name: name, Tune: count(t), Baseline: count(b), Ratio: "—", Target: "—", Result: "info"}
	if b > 0 {
		r.Ratio = fmt.Sprintf("%.2f×", t/b)
	}
	return r
}

// zeroRow requires tune's figure to be 0 (the baseline's is shown).
func zeroRow(bs benchmarks, name, tuneB, baseB, unit string) Row {
	t, ok := bs.median(tuneB, unit)
	if !ok {
		return na(name, "= 0", "no "+unit+" result for "+tuneB)
	}
	r := Row{Name: name, Tune: count(t), Baseline: "—", Ratio: "—", Target: "= 0", Result: verdict(t == 0)}
	if b, ok := bs.median(baseB, unit); ok {
		r.Baseline = count(b)
	}
	return r
}

// infoRatioRow shows tune ÷ baseline in unit with no target.
func infoRatioRow(bs benchmarks, name, tuneB, baseB, unit string, format func(float64) string) Row {
	t, ok1 := bs.median(tuneB, unit)
	b, ok2 := bs.median(baseB, unit)
	if !ok1 || !ok2 {
		return na(name, "—", "no "+unit+" results for "+tuneB+" and "+baseB)
	}
	r := Row{Name: name, Tune: format(t), Baseline: format(b), Ratio: "—", Target: "—", Result: "info"}
	if b > 0 {
		r.Ratio = fmt.Sprintf("%.2f×", t/b)
	}
	return r
}

// tickStatsRow is the refresh tick with the kernel's stats read (PSI,
// memory events, usage: issue 11's target, ≤ 0.1× FromCgroup as the
// tick). Once the loop reads them, the library's BenchmarkRefreshTick
// includes them and reports how many stats files it read (stat-files);
// until then the row adds the stats read on its own (BenchmarkStatsRead on
// this host) to the tick, which is what the tick will cost.
func tickStatsRow(bs benchmarks) Row {
	const name, target = "refresh tick with the kernel's stats (PSI, memory events, usage), no change: tune vs memlimit.FromCgroup, time/op", "≤ 0.10×"
	tick, ok1 := bs.median("BenchmarkTick/tune", "ns/op")
	base, ok2 := bs.median("BenchmarkTick/baseline", "ns/op")
	switch {
	case !ok1:
		return na(name, target, "no ns/op result for BenchmarkTick/tune")
	case !ok2 || base == 0:
		return na(name, target, "no ns/op result for BenchmarkTick/baseline")
	}
	r := Row{Name: name, Baseline: ns(base), Target: target}
	t := tick
	if files, ok := bs.median("BenchmarkTick/tune", "stat-files"); ok && files > 0 {
		r.Tune = fmt.Sprintf("%s (the tick reads %s stats files)", ns(tick), count(files))
	} else {
		stats, ok := bs.median("BenchmarkStatsRead/host", "ns/op")
		if !ok {
			return na(name, target, "the tick reads no stats yet, and no ns/op result for BenchmarkStatsRead/host")
		}
		t = tick + stats
		r.Tune = fmt.Sprintf("%s (tick %s + stats read %s: the loop does not read them yet)", ns(t), ns(tick), ns(stats))
	}
	r.Ratio = fmt.Sprintf("%.2f×", t/base)
	r.Result = verdict(t/base <= 0.1)
	return r
}

// statusRow is the status page's render of 15 minutes of history, as
// HTML or JSON (informational).
func statusRow(bs benchmarks, form string) Row {
	name := "status page (status.Handler), 15 min of history (900 samples), rendered as " + form + ": time/op, bytes, allocs/op"
	b := "BenchmarkStatusRender/" + form
	t, ok1 := bs.median(b, "ns/op")
	size, ok2 := bs.median(b, "bytes/page")
	allocs, ok3 := bs.median(b, "allocs/op")
	if !ok1 || !ok2 || !ok3 {
		return na(name, "—", "no results for "+b)
	}
	return Row{Name: name, Tune: fmt.Sprintf("%s, %.0f KB, %s allocs", ns(t), size/1e3, count(allocs)),
		Baseline: "—", Ratio: "—", Target: "—", Result: "info"}
}

// serviceRows are what the blank import adds to a typical small service
// (BenchmarkBlankService): its binary size against a target, its start-up
// and RSS for information.
func serviceRows(bs benchmarks) []Row {
	const what = "blank import, a typical service (net/http, client_golang's Go collector, slog, encoding/json): "
	mb := func(v float64) string { return fmt.Sprintf("%.2f MB", v/1e6) }
	kib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/1024) }
	rows := []Row{addedRow(bs, what+"binary size, with tune/auto − without", "BenchmarkBlankService", "binary-bytes", 0.8e6, mb)}
	for _, c := range []struct {
		what, unit string
		format     func(float64) string
	}{
		{"start-up, exec to exit", "ns/op", ns},
		{"RSS once set up", "rss-KiB", kib},
	} {
		name := what + c.what + ", with tune/auto − without"
		t, b, ok := added(bs, "BenchmarkBlankService", c.unit)
		if !ok {
			rows = append(rows, na(name, "—", "no "+c.unit+" results for BenchmarkBlankService"))
			continue
		}
		rows = append(rows, Row{Name: name, Tune: c.format(t) + " (+" + c.format(t-b) + ")", Baseline: c.format(b),
			Ratio: fmt.Sprintf("%.2f×", t/b), Target: "—", Result: "info"})
	}
	return rows
}

// blankRows are what the blank import costs an empty program, against
// automaxprocs's and automemlimit's blank imports, with the program
// without any import beside (informational).
func blankRows(bs benchmarks) []Row {
	kib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/1024) }
	mb := func(v float64) string { return fmt.Sprintf("%.1f MB", v/1e6) }
	var rows []Row
	for _, c := range []struct {
		what, unit string
		format     func(float64) string
	}{
		{"start-up, exec to exit", "ns/op", ns},
		{"binary size", "binary-bytes", mb},
		{"RSS when main starts", "rss-KiB", kib},
	} {
		name := "blank import, an empty program: " + c.what + ": tune/auto vs automaxprocs + automemlimit"
		t, ok1 := bs.median("BenchmarkBlankImport/tune", c.unit)
		b, ok2 := bs.median("BenchmarkBlankImport/baseline", c.unit)
		p, ok3 := bs.median("BenchmarkBlankImport/plain", c.unit)
		if !ok1 || !ok2 || !ok3 {
			rows = append(rows, na(name, "—", "no "+c.unit+" results for BenchmarkBlankImport"))
			continue
		}
		rows = append(rows, Row{Name: name + " (no import: " + c.format(p) + ")", Tune: c.format(t), Baseline: c.format(b),
			Ratio: fmt.Sprintf("%.2f×", t/b), Target: "—", Result: "info"})
	}
	return rows
}
