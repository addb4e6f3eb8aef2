// Command table prints the one table of bench/run: for each row, tune's
// figure, the baseline's, their ratio, the target and PASS, FAIL, info or
// n/a, followed by the machines it ran on. It reads the raw output of the
// Go benchmarks (medians are taken over -count runs) and the JSON result
// files that the child-process measurements wrote: the host's (cgroup v1)
// and, with the v2 part, the guest's (v2-*.json, from cmd/guestbench).
//
//	table -bench bench.txt -results DIR [-parts host,v2]
//
// It exits 1 when any row FAILs, 2 for bad usage. A benchmark row whose
// benchmark did not run says n/a and why; a result file that is missing
// or malformed FAILs its rows: the measurement that writes it failed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func main() {
	benchFile := flag.String("bench", "", "raw `file` of go test -bench output (the host part)")
	dir := flag.String("results", "", "`dir` holding the result files")
	partsFlag := flag.String("parts", "host", "the parts to show: host (this machine, cgroup v1), v2 (the guest), or both: host,v2")
	flag.Parse()
	parts := strings.Split(*partsFlag, ",")
	host, v2 := slices.Contains(parts, "host"), slices.Contains(parts, "v2")
	for _, p := range parts {
		if p != "host" && p != "v2" {
			host, v2 = false, false
		}
	}
	if (!host && !v2) || (host && *benchFile == "") || *dir == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var rows []Row
	if host {
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
		rows = append(rows, hostRows(bs, *dir)...)
	}
	if v2 {
		rows = append(rows, v2Rows(*dir)...)
	}
	print(os.Stdout, rows)
	fmt.Println()
	fmt.Println(machine())
	if v2 {
		fmt.Println(guestLine(*dir))
	}
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

// failed is a row whose result file is missing or malformed: the
// measurement failed, which is never a skipped row.
func failed(name, target string, err error) Row {
	return Row{Name: name, Tune: "missing or malformed result: " + err.Error(), Target: target, Result: "FAIL"}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
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
