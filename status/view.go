package status

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"time"

	"github.com/runtimehooks/tune"
)

// What the status page's template shows, computed from a input by
// pure functions: the numbers in plain words and the plots as SVG paths.

// The plot area in SVG units (the template draws the axes around it).
const (
	plotW = 1000.0
	plotH = 200.0
)

type statusView struct {
	Style       template.CSS
	Script      template.JS
	PollMS      int64
	PollText    string
	Updated     string // RFC 3339
	UpdatedText string
	HistoryText string
	SampleCount int
	Cards       []statusCard
	Plots       []plotView
	Summary     string
	Rows        []reportRow
	Exit        *exitView
	Events      []eventView
}

// statusCard is one current value; ID is stable for scripts and tests
// ("gomemlimit-now"), Raw the number itself (bytes, cores, a fraction).
type statusCard struct {
	ID, Label, Text, Raw, Class string
}

type plotView struct {
	ID, Title, What string
	Series          []seriesView
	Bands           []bandView
	BandSeries      string // data-series of the bands' group, "" without bands
	BandNow         string
	YTicks, XTicks  []tickView
}

// seriesView is one line: D is its SVG path, Now its latest value (raw) and
// NowText the same for people.
type seriesView struct {
	Name, Label, D, Now, NowText string
}

type bandView struct {
	Level string
	X, W  string
}

type tickView struct {
	Pos   string
	Label string
}

type reportRow struct {
	ID, Name, Action, Value, Detail string
	List                            []string
	ListName                        string
}

type eventView struct {
	When, Kind, Message string
}

func buildStatusView(in input) statusView {
	v := statusView{
		Style:       statusStyle,
		Script:      statusScript,
		Updated:     in.Now.UTC().Format(time.RFC3339Nano),
		UpdatedText: in.Now.UTC().Format("2006-01-02 15:04:05 UTC"),
		SampleCount: len(in.Samples),
	}
	poll := min(max(in.Interval, 2*time.Second), 30*time.Second)
	v.PollMS, v.PollText = poll.Milliseconds(), poll.String()
	switch n := len(in.Samples); {
	case n == 0:
		v.HistoryText = "no history: the refresh loop has not run (it is off, GOTUNE=off, or Init was not called)."
	default:
		span := in.Samples[n-1].Time.Sub(in.Samples[0].Time).Round(time.Second)
		v.HistoryText = fmt.Sprintf("%d samples over %v, one every %v.", n, span, in.Interval)
	}
	v.Cards = statusCards(in)
	v.Plots = statusPlots(in.Samples, in.Now)
	v.Summary, v.Rows = reportRows(in.Report)
	v.Exit = previousExit(in.Exit)
	for i := len(in.Events) - 1; i >= 0; i-- {
		e := in.Events[i]
		v.Events = append(v.Events, eventView{When: e.Time.UTC().Format("15:04:05"), Kind: e.Kind, Message: e.Message})
	}
	return v
}

// latest is what the page shows as "now": the newest sample, or without
// one what the Report and the pressure measurement say.
func latest(in input) (tune.Sample, bool) {
	if n := len(in.Samples); n > 0 {
		return in.Samples[n-1], true
	}
	s := tune.Sample{
		MemoryInUse: in.Pressure.MemoryInUse, GOMEMLIMIT: in.Report.Memory.GOMEMLIMIT,
		MemoryLimit: in.Report.Memory.Limit, GCCPUFraction: in.Pressure.GCCPUFraction,
		GOMAXPROCS: in.Report.CPU.GOMAXPROCS, CPUQuota: in.Report.CPU.Quota, Pressure: in.Pressure.Level,
	}
	if s.GOMEMLIMIT == math.MaxInt64 {
		s.GOMEMLIMIT = 0
	}
	return s, false
}

func statusCards(in input) []statusCard {
	s, sampled := latest(in)
	heap := statusCard{ID: "heap-live-now", Label: "Go heap, live", Text: "unknown", Raw: "0"}
	if sampled {
		heap.Text, heap.Raw = heapText(s.HeapLive), uintRaw(s.HeapLive)
	}
	usage := statusCard{ID: "memory-usage-now", Label: "group memory usage", Text: "not read", Raw: "0"}
	if s.MemoryUsage > 0 {
		usage.Text, usage.Raw = bytesText(s.MemoryUsage), intRaw(s.MemoryUsage)
	}
	cards := []statusCard{
		heap,
		{ID: "memory-in-use-now", Label: "Go memory in use", Text: bytesText(int64(s.MemoryInUse)), Raw: uintRaw(s.MemoryInUse)},
		{ID: "gomemlimit-now", Label: "GOMEMLIMIT", Text: bytesText(s.GOMEMLIMIT), Raw: intRaw(s.GOMEMLIMIT)},
		{ID: "memory-limit-now", Label: "cgroup memory limit", Text: bytesText(s.MemoryLimit), Raw: intRaw(s.MemoryLimit)},
		usage,
		{ID: "gc-cpu-now", Label: "GC CPU", Text: percentText(s.GCCPUFraction), Raw: floatRaw(s.GCCPUFraction)},
		{ID: "pressure-now", Label: "memory pressure", Text: s.Pressure.String(), Raw: s.Pressure.String(), Class: "level-" + s.Pressure.String()},
		{ID: "gomaxprocs-now", Label: "GOMAXPROCS", Text: strconv.Itoa(s.GOMAXPROCS), Raw: strconv.Itoa(s.GOMAXPROCS)},
		{ID: "cpu-quota-now", Label: "CPU quota", Text: quotaText(s.CPUQuota), Raw: floatRaw(s.CPUQuota)},
	}
	return cards
}

// bytesText is a byte count for people ("172.8 MiB", "512 B"), "none"
// for 0 and for the runtime's "no limit".
func bytesText(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "none"
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, 0
	for ; v >= 1024 && unit < 4; unit++ {
		v /= 1024
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + [...]string{"KiB", "MiB", "GiB", "TiB", "PiB"}[unit]
}

// heapText is the live heap for people: before the first garbage
// collection the runtime has not measured it yet.
func heapText(n uint64) string {
	if n == 0 {
		return "no GC yet"
	}
	return bytesText(int64(n))
}

func percentText(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func quotaText(q float64) string {
	if q <= 0 {
		return "none"
	}
	return strconv.FormatFloat(q, 'g', 4, 64) + " CPUs"
}

func intRaw(n int64) string       { return strconv.FormatInt(max(n, 0), 10) }
func uintRaw(n uint64) string     { return strconv.FormatUint(n, 10) }
func floatRaw(f float64) string   { return strconv.FormatFloat(f, 'g', -1, 64) }
func psiRaw(f float64) string     { return strconv.FormatFloat(f, 'f', 2, 64) }
func percentRaw(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) + "%" }

// series describes one line of a plot: how to read its value from a
// sample (ok false: no value, a gap in the line) and how to show it.
type series struct {
	name, label string
	value       func(tune.Sample) (float64, bool)
	raw, text   func(tune.Sample) string
}

func positive(f float64) (float64, bool) { return f, f > 0 }

func statusPlots(ss []tune.Sample, now time.Time) []plotView {
	axis := newTimeAxis(ss, now)
	heapLive := series{"heap-live", "Go heap, live", func(s tune.Sample) (float64, bool) { return positive(float64(s.HeapLive)) },
		func(s tune.Sample) string { return uintRaw(s.HeapLive) }, func(s tune.Sample) string { return heapText(s.HeapLive) }}
	inUse := series{"memory-in-use", "Go memory in use", func(s tune.Sample) (float64, bool) { return positive(float64(s.MemoryInUse)) },
		func(s tune.Sample) string { return uintRaw(s.MemoryInUse) }, func(s tune.Sample) string { return bytesText(int64(s.MemoryInUse)) }}
	gomemlimit := series{"gomemlimit", "GOMEMLIMIT", func(s tune.Sample) (float64, bool) { return positive(float64(s.GOMEMLIMIT)) },
		func(s tune.Sample) string { return intRaw(s.GOMEMLIMIT) }, func(s tune.Sample) string { return bytesText(s.GOMEMLIMIT) }}
	limit := series{"memory-limit", "cgroup memory limit", func(s tune.Sample) (float64, bool) { return positive(float64(s.MemoryLimit)) },
		func(s tune.Sample) string { return intRaw(s.MemoryLimit) }, func(s tune.Sample) string { return bytesText(s.MemoryLimit) }}
	usage := series{"memory-usage", "group memory usage (kernel)", func(s tune.Sample) (float64, bool) { return positive(float64(s.MemoryUsage)) },
		func(s tune.Sample) string { return intRaw(s.MemoryUsage) }, func(s tune.Sample) string { return bytesText(s.MemoryUsage) }}
	memSeries := []series{heapLive, inUse, gomemlimit, limit}
	if anyValue(ss, usage) {
		memSeries = append(memSeries, usage)
	}
	memMax := maxValue(ss, memSeries)
	memUnit, memUnitName := byteUnit(memMax)
	memAxis := newValueAxis(memMax/memUnit, 0, func(v float64) string {
		return strconv.FormatFloat(v, 'f', -1, 64) + " " + memUnitName
	})
	memAxis.scale = memUnit
	memory := axis.plot("memory", "Memory",
		"The Go heap (live after the last GC, and all the Go runtime holds) against GOMEMLIMIT, the soft limit the GC works to stay under, and the cgroup limit, where the kernel kills.",
		memAxis, ss, memSeries)

	gcSeries := series{"gc-cpu", "GC CPU", func(s tune.Sample) (float64, bool) { return 100 * s.GCCPUFraction, true },
		func(s tune.Sample) string { return floatRaw(s.GCCPUFraction) }, func(s tune.Sample) string { return percentText(s.GCCPUFraction) }}
	gcMax := min(max(maxValue(ss, []series{gcSeries}), 10), 100)
	gc := axis.plot("gc", "GC CPU and memory pressure",
		"The share of the CPU the garbage collector used over the last 10 s; the background shows when tune measured high or critical memory pressure.",
		newValueAxis(gcMax, 0, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }), ss, []series{gcSeries})
	gc.Bands = axis.bands(ss)
	gc.BandSeries, gc.BandNow = "pressure", tune.PressureNone.String()
	if n := len(ss); n > 0 {
		gc.BandNow = ss[n-1].Pressure.String()
	}

	procs := series{"gomaxprocs", "GOMAXPROCS", func(s tune.Sample) (float64, bool) { return float64(s.GOMAXPROCS), s.GOMAXPROCS > 0 },
		func(s tune.Sample) string { return strconv.Itoa(s.GOMAXPROCS) }, func(s tune.Sample) string { return strconv.Itoa(s.GOMAXPROCS) }}
	quota := series{"cpu-quota", "CPU quota", func(s tune.Sample) (float64, bool) { return positive(s.CPUQuota) },
		func(s tune.Sample) string { return floatRaw(s.CPUQuota) }, func(s tune.Sample) string { return quotaText(s.CPUQuota) }}
	cpuSeries := []series{procs, quota}
	cpu := axis.plot("cpu", "GOMAXPROCS and the CPU quota",
		"How many threads run Go code at once, against the CPUs the cgroup quota allows.",
		newValueAxis(max(maxValue(ss, cpuSeries)+1, 2), 1, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }), ss, cpuSeries)

	plots := []plotView{memory, gc, cpu}
	psi := []series{
		psiSeries("psi-memory-some", "memory, some", func(s tune.Sample) float64 { return s.PSIMemorySome }),
		psiSeries("psi-memory-full", "memory, full", func(s tune.Sample) float64 { return s.PSIMemoryFull }),
		psiSeries("psi-cpu-some", "CPU, some", func(s tune.Sample) float64 { return s.PSICPUSome }),
		psiSeries("psi-io-some", "I/O, some", func(s tune.Sample) float64 { return s.PSIIOSome }),
	}
	var present []series
	for _, p := range psi {
		if anyValue(ss, p) {
			present = append(present, p)
		}
	}
	if len(present) > 0 {
		plots = append(plots, axis.plot("psi", "Kernel pressure stall (PSI, avg10)",
			"The share of wall time in which tasks of the group waited for memory, CPU or I/O, as the kernel counts it.",
			newValueAxis(max(maxValue(ss, present), 1), 0, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }), ss, present))
	}
	return plots
}

func psiSeries(name, label string, get func(tune.Sample) float64) series {
	return series{name, label, func(s tune.Sample) (float64, bool) { v := get(s); return v, v >= 0 },
		func(s tune.Sample) string { return psiRaw(get(s)) },
		func(s tune.Sample) string {
			if v := get(s); v >= 0 {
				return percentRaw(v)
			}
			return "absent"
		}}
}

func anyValue(ss []tune.Sample, s series) bool {
	for _, x := range ss {
		if _, ok := s.value(x); ok {
			return true
		}
	}
	return false
}

func maxValue(ss []tune.Sample, sers []series) float64 {
	m := 0.0
	for _, s := range sers {
		for _, x := range ss {
			if v, ok := s.value(x); ok {
				m = max(m, v)
			}
		}
	}
	return m
}

// byteUnit picks the unit the memory axis is labelled in.
func byteUnit(max float64) (float64, string) {
	switch {
	case max >= 1<<30:
		return 1 << 30, "GiB"
	case max >= 1<<20:
		return 1 << 20, "MiB"
	}
	return 1 << 10, "KiB"
}

// valueAxis maps values (divided by scale) to the plot's height, 0 at the
// bottom.
type valueAxis struct {
	top, step, scale float64
	label            func(float64) string
}

// newValueAxis makes an axis from 0 to above max, in about six steps of
// a round size, at least minStep.
func newValueAxis(max, minStep float64, label func(float64) string) valueAxis {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max * 1.08 / 6
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	step = math.Max(step, minStep)
	return valueAxis{top: step * math.Ceil(max*1.08/step), step: step, scale: 1, label: label}
}

func (a valueAxis) y(v float64) float64 {
	return plotH - math.Min(v/a.scale/a.top, 1.05)*plotH
}

func (a valueAxis) ticks() []tickView {
	var t []tickView
	for v := 0.0; v <= a.top+a.step/2; v += a.step {
		t = append(t, tickView{Pos: coord(plotH - v/a.top*plotH), Label: a.label(math.Round(v*1000) / 1000)})
	}
	return t
}

// timeAxis maps the samples' times to the plot's width, the oldest at the
// left and the newest at the right edge.
type timeAxis struct {
	from, to time.Time
}

// newTimeAxis spans the samples; without any, the minute before now.
func newTimeAxis(ss []tune.Sample, now time.Time) timeAxis {
	if len(ss) == 0 {
		return timeAxis{from: now.Add(-time.Minute), to: now}
	}
	a := timeAxis{from: ss[0].Time, to: ss[len(ss)-1].Time}
	if !a.to.After(a.from) {
		a.from = a.to.Add(-time.Second)
	}
	return a
}

func (a timeAxis) x(t time.Time) float64 {
	return float64(t.Sub(a.from)) / float64(a.to.Sub(a.from)) * plotW
}

// ticks labels the axis at round times before the newest sample.
func (a timeAxis) ticks() []tickView {
	span := a.to.Sub(a.from)
	step := time.Hour
	for _, s := range []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute} {
		if span/s <= 6 {
			step = s
			break
		}
	}
	t := []tickView{{Pos: coord(plotW - 12), Label: "now"}}
	for d := step; d <= span; d += step {
		t = append(t, tickView{Pos: coord(a.x(a.to.Add(-d))), Label: "−" + shortDuration(d)})
	}
	return t
}

func shortDuration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// plot draws sers over the samples.
func (a timeAxis) plot(id, title, what string, v valueAxis, ss []tune.Sample, sers []series) plotView {
	p := plotView{ID: id, Title: title, What: what, YTicks: v.ticks(), XTicks: a.ticks()}
	for _, s := range sers {
		sv := seriesView{Name: s.name, Label: s.label, D: a.path(v, ss, s), Now: "0", NowText: "none"}
		if n := len(ss); n > 0 {
			sv.Now, sv.NowText = s.raw(ss[n-1]), s.text(ss[n-1])
		}
		p.Series = append(p.Series, sv)
	}
	return p
}

// path is the SVG path of one series: a gap where it has no value, and
// within a run of equal values only the run's ends (limits stay flat for
// hours: this keeps the page small).
func (a timeAxis) path(v valueAxis, ss []tune.Sample, s series) string {
	type pt struct{ x, y float64 }
	b := make([]byte, 0, 256)
	run := make([]pt, 0, len(ss))
	flush := func() {
		for i, p := range run {
			if i > 0 && i < len(run)-1 && p.y == run[i-1].y && p.y == run[i+1].y {
				continue
			}
			switch {
			case i > 0:
				b = append(b, " L"...)
			case len(b) > 0:
				b = append(b, " M"...)
			default:
				b = append(b, 'M')
			}
			b = appendCoord(b, p.x)
			b = append(b, ' ')
			b = appendCoord(b, p.y)
		}
		if len(run) == 1 { // a lone point: a short tick so it shows
			b = append(b, " h2"...)
		}
		run = run[:0]
	}
	for _, x := range ss {
		val, ok := s.value(x)
		if !ok {
			flush()
			continue
		}
		run = append(run, pt{a.x(x.Time), v.y(val)})
	}
	flush()
	return string(b)
}

// bands are the stretches of time with high or critical pressure, each
// reaching to the next sample.
func (a timeAxis) bands(ss []tune.Sample) []bandView {
	var out []bandView
	for i := 0; i < len(ss); {
		lvl := ss[i].Pressure
		j := i + 1
		for j < len(ss) && ss[j].Pressure == lvl {
			j++
		}
		if lvl > tune.PressureNone {
			x0 := a.x(ss[i].Time)
			x1 := plotW
			if j < len(ss) {
				x1 = a.x(ss[j].Time)
			}
			out = append(out, bandView{Level: lvl.String(), X: coord(x0), W: coord(math.Max(x1-x0, 1))})
		}
		i = j
	}
	return out
}

// coord formats an SVG coordinate with one decimal.
func coord(f float64) string { return string(appendCoord(nil, f)) }

func appendCoord(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, math.Round(f*10)/10, 'f', -1, 64)
}

// reportRows puts the Report in plain words: one row per finding or
// decision, with the reason beside it.
func reportRows(r tune.Report) (string, []reportRow) {
	if r.Cgroup.Mode == "" && r.Memory.Action == "" && r.CPU.Action == "" {
		return "tune.Init has not run in this process: nothing was found or decided yet.", nil
	}
	var rows []reportRow
	mode := map[string]string{
		"v1":     "cgroup v1",
		"v2":     "cgroup v2",
		"hybrid": "cgroup v1 controllers beside a cgroup2 mount (hybrid)",
		"none":   "none found",
	}[r.Cgroup.Mode]
	if mode == "" {
		mode = r.Cgroup.Mode
	}
	rows = append(rows, reportRow{ID: "cgroups", Name: "Cgroups", Value: mode, Detail: r.Cgroup.Note,
		List: r.Cgroup.Files, ListName: "files read"})
	if r.Cgroup.MemoryGroup != "" {
		rows = append(rows, reportRow{ID: "memory-group", Name: "Memory group", Value: r.Cgroup.MemoryGroup})
	}
	if r.Cgroup.CPUGroup != "" {
		rows = append(rows, reportRow{ID: "cpu-group", Name: "CPU group", Value: r.Cgroup.CPUGroup})
	}
	if len(r.Cgroup.Skipped) > 0 {
		rows = append(rows, reportRow{ID: "skipped", Name: "Lines passed over", Value: "lines of /proc/self/cgroup or mountinfo that could not be parsed",
			List: r.Cgroup.Skipped, ListName: "lines"})
	}
	m := r.Memory
	limit := "none"
	if m.Limit > 0 {
		limit = bytesText(m.Limit) + ", from " + m.Source + " (" + levelText(m.LevelsUp) + ")"
	}
	rows = append(rows,
		reportRow{ID: "memory-limit", Name: "Memory limit", Value: limit},
		reportRow{ID: "gomemlimit", Name: "GOMEMLIMIT", Action: string(m.Action),
			Value:  bytesText(m.Before) + " → " + bytesText(m.GOMEMLIMIT) + ratioText(m.Ratio),
			Detail: m.Reason},
	)
	c := r.CPU
	quota := "none"
	if c.Quota > 0 {
		quota = quotaText(c.Quota) + ", from " + c.Source + " (" + levelText(c.LevelsUp) + ")"
	}
	rows = append(rows,
		reportRow{ID: "cpu-quota", Name: "CPU quota", Value: quota,
			Detail: fmt.Sprintf("%d CPUs usable; the Go runtime would pick GOMAXPROCS %d by itself", c.NumCPU, c.RuntimeDefault)},
		reportRow{ID: "gomaxprocs", Name: "GOMAXPROCS", Action: string(c.Action),
			Value:  fmt.Sprintf("%d → %d (policy %s)", c.Before, c.GOMAXPROCS, c.Policy),
			Detail: c.Reason},
	)
	applied := "yes: Init carried out these decisions"
	if !r.Applied {
		applied = "no: decided only (Detect, or GOTUNE=off)"
	}
	rows = append(rows, reportRow{ID: "applied", Name: "Applied", Value: applied})
	if len(r.Errors) > 0 {
		rows = append(rows, reportRow{ID: "errors", Name: "Errors", Value: fmt.Sprintf("%d problem(s) met; what could be applied was applied", len(r.Errors)),
			List: r.Errors, ListName: "errors"})
	}
	return "", rows
}

func ratioText(r float64) string {
	if r <= 0 {
		return ""
	}
	return " (" + strconv.FormatFloat(100*r, 'f', -1, 64) + "% of the limit)"
}

// levelText names the cgroup level a limit came from.
func levelText(level int) string {
	switch {
	case level == 0:
		return "own group"
	case level < 0:
		return "an ancestor above the mount point"
	case level == 1:
		return "parent group"
	}
	return "ancestor " + strconv.Itoa(level) + " levels up"
}
