package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/runtimehooks/tune"
)

// printReport writes the report for people.
func printReport(w io.Writer, r tune.Report, root string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	what := "applied in this process (tune.Init)"
	if root != "" {
		what = "dry run over snapshot " + root + " (tune.Detect)"
	} else if !r.Applied {
		what = "not applied (GOTUNE=off or no cgroups here)"
	}
	fmt.Fprintf(tw, "tune\t%s\n", what)
	fmt.Fprintf(tw, "cgroup\t%s (version %d)\n", r.Cgroup.Mode, r.Cgroup.Version)
	if r.Cgroup.Note != "" {
		fmt.Fprintf(tw, "\t%s\n", r.Cgroup.Note)
	}
	if r.Cgroup.MemoryGroup != "" {
		fmt.Fprintf(tw, "memory group\t%s\n", r.Cgroup.MemoryGroup)
	}
	if r.Cgroup.CPUGroup != "" {
		fmt.Fprintf(tw, "cpu group\t%s\n", r.Cgroup.CPUGroup)
	}
	for i, f := range r.Cgroup.Files {
		label := ""
		if i == 0 {
			label = "files read"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, f)
	}
	for i, l := range r.Cgroup.Skipped {
		label := ""
		if i == 0 {
			label = "passed over"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, l)
	}
	fmt.Fprintln(tw, "\t")
	m := r.Memory
	fmt.Fprintf(tw, "memory limit\t%s\n", withSource(human(m.Limit), m.Source, m.LevelsUp))
	fmt.Fprintf(tw, "GOMEMLIMIT\t%s → %s\n", human(m.Before), human(m.GOMEMLIMIT))
	fmt.Fprintf(tw, "\t%s: %s\n", m.Action, m.Reason)
	fmt.Fprintln(tw, "\t")
	c := r.CPU
	quota := "none"
	if c.Quota > 0 {
		quota = fmt.Sprintf("%.4g CPUs", c.Quota)
	}
	fmt.Fprintf(tw, "CPU quota\t%s\n", withSource(quota, c.Source, c.LevelsUp))
	fmt.Fprintf(tw, "GOMAXPROCS\t%d → %d (policy %s; runtime default %d; %d CPUs allowed)\n", c.Before, c.GOMAXPROCS, c.Policy, c.RuntimeDefault, c.NumCPU)
	fmt.Fprintf(tw, "\t%s: %s\n", c.Action, c.Reason)
	if len(r.Errors) > 0 {
		fmt.Fprintln(tw, "\t")
		for i, e := range r.Errors {
			label := ""
			if i == 0 {
				label = "errors"
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, e)
		}
	}
	tw.Flush()
}

func withSource(v, src string, level int) string {
	if src == "" {
		return v
	}
	where := "own group"
	switch {
	case level < 0:
		where = "an ancestor above the mount point"
	case level == 1:
		where = "parent group"
	case level > 1:
		where = fmt.Sprintf("ancestor %d levels up", level)
	}
	return fmt.Sprintf("%s from %s (%s)", v, src, where)
}

func human(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "none"
	}
	s := fmt.Sprintf("%d bytes", n)
	const unit = 1024
	v, units := float64(n), []string{"KiB", "MiB", "GiB", "TiB"}
	suffix := ""
	for _, u := range units {
		if v < unit {
			break
		}
		v /= unit
		suffix = u
	}
	if suffix != "" {
		s += fmt.Sprintf(" (%.4g %s)", v, suffix)
	}
	return strings.TrimSpace(s)
}
