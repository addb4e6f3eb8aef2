package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
)

// The parsers of the kernel's own view of a group: pressure stall
// information, memory events and memory counters. Like the limit parsers
// they take a file's bytes, touch no files and do not allocate unless they
// fail.

// PSILine is one line of a pressure file: the share of wall time in which
// tasks of the group stalled on the resource.
type PSILine struct {
	Avg10, Avg60, Avg300 float64 // percent of wall time stalled, averaged over 10 s, 60 s and 300 s
	Total                uint64  // all stall time so far, in microseconds
}

// PSI is the content of a pressure file (memory.pressure, cpu.pressure,
// io.pressure in a cgroup v2 group, or /proc/pressure/*):
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// "some" counts time in which at least one task stalled, "full" time in
// which every non-idle task did at once.
type PSI struct {
	Some    PSILine
	Full    PSILine
	HasFull bool // the file has a full line (cpu.pressure has none before Linux 5.13)
}

// ParsePSI parses a pressure file. The some line is required, the full line
// is optional; each needs avg10 and total. Unknown lines and keys are
// passed over (later kernels may add some).
func ParsePSI(b []byte) (PSI, error) {
	var p PSI
	var hasSome bool
	for n, line := range nonBlankLines(b) {
		kind, rest, _ := bytes.Cut(line, []byte(" "))
		var dst *PSILine
		switch string(kind) {
		case "some":
			if hasSome {
				return PSI{}, fmt.Errorf("line %d: a second some line", n)
			}
			dst, hasSome = &p.Some, true
		case "full":
			if p.HasFull {
				return PSI{}, fmt.Errorf("line %d: a second full line", n)
			}
			dst, p.HasFull = &p.Full, true
		default:
			continue
		}
		if err := parsePSILine(rest, dst); err != nil {
			return PSI{}, fmt.Errorf("line %d: %s: %w", n, quote(line, maxContentQuote), err)
		}
	}
	if !hasSome {
		return PSI{}, errors.New(`no "some" line`)
	}
	return p, nil
}

// parsePSILine parses the key=value fields after "some" or "full".
func parsePSILine(b []byte, l *PSILine) error {
	var avg10, total bool
	for len(b) > 0 {
		var field []byte
		field, b, _ = bytes.Cut(b, []byte(" "))
		if len(field) == 0 {
			continue
		}
		key, val, ok := bytes.Cut(field, []byte("="))
		if !ok {
			return errors.New("a field without =")
		}
		var err error
		switch string(key) {
		case "avg10":
			l.Avg10, err = parseDecimal(val)
			avg10 = true
		case "avg60":
			l.Avg60, err = parseDecimal(val)
		case "avg300":
			l.Avg300, err = parseDecimal(val)
		case "total":
			l.Total, err = parseCount(val)
			total = true
		}
		if err != nil {
			return err
		}
	}
	if !avg10 || !total {
		return errors.New("avg10 or total missing")
	}
	return nil
}

// parseDecimal parses what the kernel writes for a PSI average: digits, a
// point, digits ("12.34"). The point and fraction are optional; no sign,
// no exponent.
func parseDecimal(b []byte) (float64, error) {
	ip, fp, point := bytes.Cut(b, []byte("."))
	if len(ip) == 0 || len(ip) > 18 || point && (len(fp) == 0 || len(fp) > 18) {
		return 0, fmt.Errorf("%s is not a decimal number", quote(b, maxContentQuote))
	}
	var whole, frac uint64
	scale := 1.0
	for _, c := range ip {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s is not a decimal number", quote(b, maxContentQuote))
		}
		whole = whole*10 + uint64(c-'0')
	}
	for _, c := range fp {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s is not a decimal number", quote(b, maxContentQuote))
		}
		frac = frac*10 + uint64(c-'0')
		scale *= 10
	}
	return float64(whole) + float64(frac)/scale, nil
}

// ParseCount parses a file holding one non-negative number: a counter
// (memory.failcnt) or an amount of bytes (memory.current, memory.peak,
// memory.usage_in_bytes, memory.max_usage_in_bytes).
func ParseCount(b []byte) (uint64, error) {
	return parseCount(bytes.TrimSpace(b))
}

func parseCount(b []byte) (uint64, error) {
	v, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("%d is negative", v)
	}
	return uint64(v), nil
}

// MemoryEventCounts are the counters of a cgroup v2 memory.events file.
// Each counts events since the group was made, in the group and every group
// below it (unless cgroup2 is mounted with memory_localevents).
type MemoryEventCounts struct {
	Low          uint64 // reclaimed below memory.low: the protection was not enough
	High         uint64 // throttled and sent to reclaim for going over memory.high
	Max          uint64 // a charge hit memory.max and had to reclaim first
	OOM          uint64 // memory.max was hit and reclaim failed: the OOM killer ran (or would have)
	OOMKill      uint64 // processes the OOM killer killed (Linux 4.13)
	OOMGroupKill uint64 // whole-group OOM kills, with memory.oom.group (Linux 5.17)
}

// ParseMemoryEvents parses a cgroup v2 memory.events file: "key N" lines.
// Unknown keys are passed over; a key the kernel does not write yet stays 0.
func ParseMemoryEvents(b []byte) (MemoryEventCounts, error) {
	var e MemoryEventCounts
	err := eachKeyValue(b, func(key []byte, v uint64) {
		switch string(key) {
		case "low":
			e.Low = v
		case "high":
			e.High = v
		case "max":
			e.Max = v
		case "oom":
			e.OOM = v
		case "oom_kill":
			e.OOMKill = v
		case "oom_group_kill":
			e.OOMGroupKill = v
		}
	})
	if err != nil {
		return MemoryEventCounts{}, err
	}
	return e, nil
}

// OOMControl is the content of a cgroup v1 memory.oom_control file.
type OOMControl struct {
	KillDisable bool   // oom_kill_disable: the OOM killer is off; tasks wait at the limit instead
	UnderOOM    bool   // under_oom: the group (or an ancestor) is out of memory right now
	OOMKill     uint64 // oom_kill: processes of this group the OOM killer killed (Linux 4.13)
	HasOOMKill  bool   // the file has the oom_kill line
}

// ParseOOMControl parses a cgroup v1 memory.oom_control file: "key N"
// lines; unknown keys are passed over.
func ParseOOMControl(b []byte) (OOMControl, error) {
	var o OOMControl
	err := eachKeyValue(b, func(key []byte, v uint64) {
		switch string(key) {
		case "oom_kill_disable":
			o.KillDisable = v != 0
		case "under_oom":
			o.UnderOOM = v != 0
		case "oom_kill":
			o.OOMKill, o.HasOOMKill = v, true
		}
	})
	if err != nil {
		return OOMControl{}, err
	}
	return o, nil
}

// eachKeyValue calls f with each "key N" line of b. A line that is not a
// key, one space and a non-negative number is an error naming the line.
func eachKeyValue(b []byte, f func(key []byte, v uint64)) error {
	for n, line := range nonBlankLines(b) {
		key, val, ok := bytes.Cut(line, []byte(" "))
		if !ok || len(key) == 0 {
			return fmt.Errorf("line %d: %s is not \"key number\"", n, quote(line, maxContentQuote))
		}
		v, err := parseCount(bytes.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", n, quote(key, maxContentQuote), err)
		}
		f(key, v)
	}
	return nil
}

// nonBlankLines yields the lines of b that hold more than white space,
// each with its number (from 1).
func nonBlankLines(b []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(b) > 0; n++ {
			line := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line, b = b[:i], b[i+1:]
			} else {
				b = nil
			}
			if len(bytes.TrimSpace(line)) != 0 && !yield(n, line) {
				return
			}
		}
	}
}
