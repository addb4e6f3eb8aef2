// Command table prints the one table of bench/run: for each row, tune's
// figure, the baseline's, their ratio, the target and PASS, FAIL or n/a,
// followed by the machine it ran on. It reads the raw output of the Go
// benchmarks (medians are taken over -count runs) and the JSON that the
// child-process measurements wrote.
//
//	table -bench bench.txt -results DIR
//
// It exits 1 when any row FAILs (n/a rows, whose input is missing, say why
// and do not fail), 2 for bad usage.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func main() {
	benchFile := flag.String("bench", "", "raw `file` of go test -bench output")
	dir := flag.String("results", "", "`dir` holding survival.json, reaction.json and idle.json")
	flag.Parse()
	if *benchFile == "" || *dir == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Open(*benchFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(2)
	}
	bs, err := parseBench(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(2)
	}
	rows := buildRows(bs, *dir)
	print(os.Stdout, rows)
	fmt.Println()
	fmt.Println(machine())
	for _, r := range rows {
		if r.Result == "FAIL" {
			os.Exit(1)
		}
	}
}

// benchmarks maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to the values of every run.
type benchmarks map[string]map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads go test -bench output: lines such as
// "BenchmarkStartup/tune-2  2000  225536 ns/op  36271 B/op  224 allocs/op".
func parseBench(r io.Reader) (benchmarks, error) {
	bs := benchmarks{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number in %q", name, f[i], sc.Text())
			}
			if bs[name] == nil {
				bs[name] = map[string][]float64{}
			}
			bs[name][f[i+1]] = append(bs[name][f[i+1]], v)
		}
	}
	return bs, sc.Err()
}

// median returns the median of the name's values in unit, and whether
// there were any.
func (bs benchmarks) median(name, unit string) (float64, bool) {
	v := slices.Clone(bs[name][unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// Row is one line of the table.
type Row struct {
	Name, Tune, Baseline, Ratio, Target, Result string
}

func na(name, target, why string) Row {
	return Row{Name: name, Tune: "n/a: " + why, Baseline: "", Ratio: "", Target: target, Result: "n/a"}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
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

func buildRows(bs benchmarks, dir string) []Row {
	var rows []Row
	rows = append(rows,
		ratioRow(bs, "start-up: tune.Init vs maxprocs.Set + memlimit.Set, time/op", "BenchmarkStartup/tune", "BenchmarkStartup/baseline", "ns/op", 0.5, ns),
		infoRow(bs, "start-up: allocs/op", "BenchmarkStartup/tune", "BenchmarkStartup/baseline", "allocs/op"),
		ratioRow(bs, "refresh tick, no change: tune vs memlimit.FromCgroup, time/op", "BenchmarkTick/tune", "BenchmarkTick/baseline", "ns/op", 0.1, ns),
		zeroRow(bs, "refresh tick: allocs/op", "BenchmarkTick/tune", "BenchmarkTick/baseline", "allocs/op"),
		ratioRow(bs, "scrape /metrics via promhttp: tune.Register vs GoCollector + ProcessCollector, time/op", "BenchmarkScrape/tune", "BenchmarkScrape/baseline", "ns/op", 1.15, ns),
		zeroRow(bs, "scrape: stop-the-world pauses (ReadMemStats) per scrape", "BenchmarkScrape/tune", "BenchmarkScrape/baseline", "stw/scrape"),
		addedRow(bs, "per-route profiler labels, plain pattern: LabelRoutes(mux) − bare mux, time/op", "BenchmarkLabelsPlain", "ns/op", 1000, ns),
		addedRow(bs, "per-route profiler labels, plain pattern: added allocs/op", "BenchmarkLabelsPlain", "allocs/op", 2, count),
		addedRow(bs, "per-route profiler labels, wildcard pattern: LabelRoutes(mux) − bare mux, time/op", "BenchmarkLabelsWildcard", "ns/op", 1000, ns),
		infoAddedRow(bs, "per-route profiler labels, wildcard pattern: added allocs/op (the mux matches twice)", "BenchmarkLabelsWildcard", "allocs/op"),
	)
	rows = append(rows, survivalRows(filepath.Join(dir, "survival.json"))...)
	rows = append(rows, reactionRow(filepath.Join(dir, "reaction.json")))
	rows = append(rows, idleRows(filepath.Join(dir, "idle.json"))...)
	return rows
}

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

// Survival mirrors what the survival test writes.
type Survival struct {
	LimitBytes int64                   `json:"limit_bytes"`
	Live       string                  `json:"live"`
	Ops        int64                   `json:"ops"`
	Rounds     int                     `json:"rounds"`
	Modes      map[string]SurvivalMode `json:"modes"`
}

// SurvivalMode sums up the runs of one way of running the workload.
type SurvivalMode struct {
	Survived      int     `json:"survived"`
	OOMKilled     int     `json:"oom_killed"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	OpsPerCPUSec  float64 `json:"ops_per_cpu_sec"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	PeakShare     float64 `json:"peak_share"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func survivalRows(path string) []Row {
	var s Survival
	if err := readJSON(path, &s); err != nil {
		return []Row{na("survival under a memory limit", "—", err.Error())}
	}
	for _, m := range []string{"ceiling", "none", "automemlimit", "tune"} {
		if _, ok := s.Modes[m]; !ok {
			return []Row{na("survival under a memory limit", "—", path+" lacks the "+m+" runs")}
		}
	}
	lim := fmt.Sprintf("%d MiB", s.LimitBytes>>20)
	none, aml, tn, ceil := s.Modes["none"], s.Modes["automemlimit"], s.Modes["tune"], s.Modes["ceiling"]
	outcome := func(survived, killed int) string {
		return fmt.Sprintf("survived %d/%d, OOM-killed %d", survived, s.Rounds, killed)
	}
	// Throughput is compared per CPU-second (getrusage), which does not
	// depend on how much CPU the neighbours on a shared machine left; the
	// wall-clock figure is shown beside it.
	ops := func(m SurvivalMode) string {
		return fmt.Sprintf("%.0fk ops/CPU-s (wall %.0fk ops/s)", m.OpsPerCPUSec/1e3, m.OpsPerSec/1e3)
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	rows := []Row{
		{Name: fmt.Sprintf("survival, %s limit, %s live heap: no tuning (GOGC=100, no GOMEMLIMIT)", lim, s.Live),
			Tune: "—", Baseline: outcome(none.Survived, none.OOMKilled), Ratio: "—", Target: "baseline OOM-killed",
			Result: verdict(none.OOMKilled == s.Rounds)},
		{Name: "survival: outcome, tune vs automemlimit",
			Tune: outcome(tn.Survived, tn.OOMKilled), Baseline: outcome(aml.Survived, aml.OOMKilled), Ratio: "—",
			Target: "tune survives every run", Result: verdict(tn.Survived == s.Rounds)},
		{Name: "survival: throughput, tune vs no limit at all (the ceiling)",
			Tune: ops(tn), Baseline: ops(ceil), Ratio: ratio(tn.OpsPerCPUSec, ceil.OpsPerCPUSec),
			Target: "≥ 0.80×", Result: verdict(tn.Survived == s.Rounds && ceil.OpsPerCPUSec > 0 && tn.OpsPerCPUSec >= 0.8*ceil.OpsPerCPUSec)},
	}
	// tune and automemlimit set the same GOMEMLIMIT here, so their runs
	// differ only by noise: "no worse" allows 10%. Where automemlimit was
	// killed, tune surviving is enough.
	r := Row{Name: "survival: throughput, tune vs automemlimit", Tune: ops(tn), Baseline: ops(aml),
		Ratio: ratio(tn.OpsPerCPUSec, aml.OpsPerCPUSec), Target: "≥ 0.90× (no worse, 10% noise)"}
	switch {
	case tn.Survived < s.Rounds:
		r.Result = "FAIL"
	case aml.Survived == 0:
		r.Baseline, r.Ratio, r.Result = "killed every run", "—", "PASS"
	default:
		r.Result = verdict(tn.OpsPerCPUSec >= 0.9*aml.OpsPerCPUSec)
	}
	rows = append(rows, r,
		Row{Name: "survival: GC CPU fraction, tune vs automemlimit (ceiling: " + pct(ceil.GCCPUFraction) + ")",
			Tune: pct(tn.GCCPUFraction), Baseline: pct(aml.GCCPUFraction), Ratio: ratio(tn.GCCPUFraction, aml.GCCPUFraction),
			Target: "—", Result: "info"},
		Row{Name: "survival: peak memory ÷ limit, tune vs automemlimit (ceiling: " + pct(ceil.PeakShare) + ")",
			Tune: pct(tn.PeakShare), Baseline: pct(aml.PeakShare), Ratio: "—",
			Target: "tune < 100%", Result: verdict(tn.PeakShare < 1)},
	)
	return rows
}

func reactionRow(path string) Row {
	const name, target = "reaction: lowered memory.limit_in_bytes → GOMEMLIMIT, default 1 s refresh (max of 5)", "≤ 1.5 s"
	var r struct {
		Seconds []float64 `json:"seconds"`
		Max     float64   `json:"max_seconds"`
		Median  float64   `json:"median_seconds"`
	}
	if err := readJSON(path, &r); err != nil {
		return na(name, target, err.Error())
	}
	if len(r.Seconds) == 0 {
		return na(name, target, path+" holds no trials")
	}
	return Row{Name: name, Tune: fmt.Sprintf("%.3f s (median %.3f s)", r.Max, r.Median),
		Baseline: "— (automemlimit: no refresh by default)", Ratio: "—", Target: target, Result: verdict(r.Max <= 1.5)}
}

// idleRows are the idle-CPU rows: the whole refresh loop (tune − plain
// idle Go program) against the target, and, because a wake-up of
// any Go program once a second may by itself cost more than that target
// on a given machine, the tick's own work beyond the wake-up (tune − the
// same program with an empty 1 s ticker) against the same target.
func idleRows(path string) []Row {
	const loop, work, target = "idle CPU over 60 s (cpuacct.usage), share of one core: refresh loop, tune − plain idle Go program",
		"idle CPU: the tick's work beyond a 1 s wake-up, tune − plain program with an empty 1 s ticker", "< 0.01%"
	var r struct {
		Method       string  `json:"method"`
		Seconds      float64 `json:"seconds"`
		TuneShare    float64 `json:"tune_share"`
		PlainShare   float64 `json:"plain_share"`
		TickerShare  float64 `json:"ticker_share"`
		RefreshShare float64 `json:"refresh_share"`
		WakeShare    float64 `json:"wake_share"`
		WorkShare    float64 `json:"work_share"`
	}
	if err := readJSON(path, &r); err != nil {
		return []Row{na(loop, target, err.Error()), na(work, target, err.Error())}
	}
	if r.Method != "cpuacct.usage" {
		why := fmt.Sprintf("%s: measured with %q, not cpuacct.usage", path, r.Method)
		return []Row{na(loop, target, why), na(work, target, why)}
	}
	pct := func(f float64) string { return fmt.Sprintf("%.4f%%", 100*f) }
	return []Row{
		{Name: loop, Tune: pct(r.RefreshShare) + " (tune alone " + pct(r.TuneShare) + ")",
			Baseline: "plain program: " + pct(r.PlainShare) + "; a 1 s wake-up alone (empty ticker − plain): " + pct(r.WakeShare),
			Ratio:    "—", Target: target, Result: verdict(r.RefreshShare < 0.0001)},
		{Name: work, Tune: pct(r.WorkShare),
			Baseline: "empty 1 s ticker: " + pct(r.TickerShare),
			Ratio:    "—", Target: target, Result: verdict(r.WorkShare < 0.0001)},
	}
}

// print writes the rows as a Markdown table with aligned columns.
func print(w io.Writer, rows []Row) {
	head := Row{"row", "tune", "baseline", "ratio", "target", "result"}
	all := append([]Row{head}, rows...)
	var width [6]int
	cells := func(r Row) [6]string { return [6]string{r.Name, r.Tune, r.Baseline, r.Ratio, r.Target, r.Result} }
	for _, r := range all {
		for i, c := range cells(r) {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(c [6]string) {
		var b strings.Builder
		for i, s := range c {
			b.WriteString("| " + s + strings.Repeat(" ", width[i]-len([]rune(s))) + " ")
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	line(cells(head))
	var sep [6]string
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(cells(r))
	}
}

// machine describes where the table was made.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		kernel = err.Error()
	}
	return fmt.Sprintf("machine: %d CPUs (nproc), %s, Linux %s, %s %s/%s", runtime.NumCPU(), model, kernel,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
