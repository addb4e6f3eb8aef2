package main

import (
	"fmt"
	"path/filepath"

	"github.com/runtimehooks/tune/bench/internal/result"
)

// v2Rows are the rows of the cgroup v2 guest (cmd/guestbench's v2-*.json):
// memory.high, survival under memory.max, reaction of memory.max and
// memory.high, and a CPU quota on an ancestor only.
func v2Rows(dir string) []Row {
	path := func(name string) string { return filepath.Join(dir, result.V2Prefix+name) }
	var rows []Row
	rows = append(rows, memoryHighRows(path(result.MemoryHighFile))...)
	rows = append(rows, survivalRows(path(result.SurvivalFile), "v2 guest", "memory.max")...)
	rows = append(rows, reactionRows(path(result.ReactionFile), "v2 guest", "memory.max", "memory.high")...)
	rows = append(rows, quotaRows(path(result.QuotaFile))...)
	return rows
}

func mib(v float64) string { return fmt.Sprintf("%.0f MiB", v/(1<<20)) }

func kops(v float64) string { return fmt.Sprintf("%.1fk", v/1e3) }

// memoryHighRows: tune must have at least 3× automemlimit's throughput
// under memory.high, and never be throttled (0 memory.events high in every
// run); peak and GC CPU are shown for information.
func memoryHighRows(path string) []Row {
	const name = "memory.high (v2 guest): throughput per wall second, tune vs automemlimit"
	var h result.MemoryHigh
	if err := readResult(path, &h, h.Check); err != nil {
		return []Row{failed(name, "≥ 3.00×", err)}
	}
	none, aml, tn := h.Modes["none"], h.Modes["automemlimit"], h.Modes["tune"]
	limit := func(m *result.MemoryHighMode) string {
		if m.GOMEMLIMIT <= 0 || m.GOMEMLIMIT == 1<<63-1 {
			return "none"
		}
		return mib(float64(m.GOMEMLIMIT))
	}
	ops := func(m *result.MemoryHighMode) string {
		return fmt.Sprintf("%s ops/s (%s–%s), GOMEMLIMIT %s", kops(m.OpsPerSec), kops(m.OpsPerSecMin), kops(m.OpsPerSecMax), limit(m))
	}
	events := func(m *result.MemoryHighMode) string {
		return fmt.Sprintf("%.0f (max %d)", m.HighEvents, m.HighEventsMax)
	}
	peak := func(m *result.MemoryHighMode) string {
		return fmt.Sprintf("%s (max %s)", mib(m.PeakBytes), mib(float64(m.PeakBytesMax)))
	}
	setup := fmt.Sprintf("memory.high %s, memory.max %s, %s live heap, %d ops, %d rounds, median (range)",
		mib(float64(h.HighBytes)), mib(float64(h.MaxBytes)), h.Live, h.Ops, h.Rounds)
	return []Row{
		{Name: name + " (" + setup + "; no tuning: " + ops(none) + ")", Tune: ops(tn), Baseline: ops(aml),
			Ratio: ratio(tn.OpsPerSec, aml.OpsPerSec), Target: "≥ 3.00×", Result: verdict(aml.OpsPerSec > 0 && tn.OpsPerSec >= 3*aml.OpsPerSec)},
		{Name: "memory.high (v2 guest): memory.events high per run, tune vs automemlimit (no tuning: " + events(none) + ")",
			Tune: events(tn), Baseline: events(aml), Ratio: "—", Target: "0 in every run", Result: verdict(tn.HighEventsMax == 0)},
		{Name: "memory.high (v2 guest): peak memory (memory.peak), tune vs automemlimit (no tuning: " + peak(none) + ")",
			Tune: peak(tn), Baseline: peak(aml), Ratio: ratio(tn.PeakBytes, aml.PeakBytes), Target: "—", Result: "info"},
		{Name: "memory.high (v2 guest): GC CPU fraction, tune vs automemlimit (no tuning: " + pct(none.GCCPUFraction) + ")",
			Tune: pct(tn.GCCPUFraction), Baseline: pct(aml.GCCPUFraction), Ratio: ratio(tn.GCCPUFraction, aml.GCCPUFraction), Target: "—", Result: "info"},
	}
}

// quotaRows: with a CPU quota on the parent only, tune's GOMAXPROCS must
// be throttled in fewer periods and have a lower scheduling latency p99
// than the runtime's default; throughput is shown for information.
func quotaRows(path string) []Row {
	const name = "ancestor quota (v2 guest): throttled periods of the parent (cpu.stat nr_throttled), tune vs the runtime's default GOMAXPROCS"
	var q result.Quota
	if err := readResult(path, &q, q.Check); err != nil {
		return []Row{failed(name, "fewer", err)}
	}
	rt, tn := q.Modes["runtime"], q.Modes["tune"]
	setup := fmt.Sprintf("%d CPUs, parent cpu.max %g CPUs, own group none; %s runs, %d rounds, medians", q.CPUs, q.QuotaCPUs, q.Duration, q.Rounds)
	who := func(m *result.QuotaMode) string { return fmt.Sprintf("GOMAXPROCS %d: ", m.GOMAXPROCS) }
	throttled := func(m *result.QuotaMode) string {
		return fmt.Sprintf("%s%.0f of %.0f periods, %.0f ms throttled", who(m), m.NrThrottled, m.NrPeriods, m.ThrottledUsec/1e3)
	}
	ms := func(s float64) string { return fmt.Sprintf("%.2f ms", 1e3*s) }
	latency := func(m *result.QuotaMode) string { return who(m) + ms(m.SchedP99) + " (p50 " + ms(m.SchedP50) + ")" }
	return []Row{
		{Name: name + " (" + setup + ")", Tune: throttled(tn), Baseline: throttled(rt),
			Ratio: ratio(tn.NrThrottled, rt.NrThrottled), Target: "fewer", Result: verdict(tn.NrThrottled < rt.NrThrottled)},
		{Name: "ancestor quota (v2 guest): scheduling latency p99 (/sched/latencies:seconds), tune vs the runtime's default",
			Tune: latency(tn), Baseline: latency(rt), Ratio: ratio(tn.SchedP99, rt.SchedP99), Target: "lower", Result: verdict(tn.SchedP99 < rt.SchedP99)},
		{Name: "ancestor quota (v2 guest): throughput, chunks per wall second (emulated CPUs beyond the host's cores skew it)",
			Tune: who(tn) + kops(tn.OpsPerSec) + "/s", Baseline: who(rt) + kops(rt.OpsPerSec) + "/s", Ratio: ratio(tn.OpsPerSec, rt.OpsPerSec),
			Target: "—", Result: "info"},
	}
}

// guestLine describes the guest of the v2 rows.
func guestLine(dir string) string {
	var g result.Guest
	if err := readResult(filepath.Join(dir, result.V2Prefix+result.GuestFile), &g, nil); err != nil {
		return "guest: unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("guest: %d CPUs under QEMU's software emulation (TCG) on the machine above, %d MiB, kernel from %s, cgroup v2; %s size, boot to results %.0f s",
		g.CPUs, g.MemoryMiB, g.Kernel, g.Size, g.ToResults)
}
