package cgroup

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the parsers of parse_kernel.go, run as those of
// fuzz_test.go are. Seeds are every file of the given names in the
// snapshots (testdata/ of the repository and of this package), the f.Add
// calls below and testdata/fuzz/<Name>/.

// addFileSeeds adds every file named one of names in the snapshots.
func addFileSeeds(f *testing.F, names ...string) {
	f.Helper()
	found := 0
	for _, root := range []string{filepath.Join("..", "..", "testdata"), "testdata"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p == filepath.Join("testdata", "fuzz") {
				return filepath.SkipDir
			}
			for _, n := range names {
				if !d.IsDir() && d.Name() == n {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					f.Add(string(b))
					found++
				}
			}
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	if found == 0 {
		f.Fatalf("no seeds named %q in the snapshots", names)
	}
}

// countLine matches what eachKeyValue accepts as the value of a line, as
// the kernel writes it.
var countLine = regexp.MustCompile(`^-?[0-9]{1,19}$`)

// refKeyValues parses "key N" lines with the standard library: the
// reference eachKeyValue is checked against. ok is false when a line does
// not parse.
func refKeyValues(s string) (map[string]uint64, bool) {
	kv := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, val, found := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		if !found || key == "" || !countLine.MatchString(val) {
			return nil, false
		}
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil || v < 0 {
			return nil, false
		}
		kv[key] = uint64(v)
	}
	return kv, true
}

func FuzzParsePSI(f *testing.F) {
	addFileSeeds(f, "memory.pressure", "cpu.pressure", "io.pressure")
	for _, s := range []string{
		"", "some", "some ", "some =", "some avg10= total=", "some avg10=0 total=0", "full avg10=0 total=0",
		"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"some avg10=99999999999999999999.0 total=1", "some avg10=.5 total=1", "some avg10=1.5.5 total=1",
		"some avg10=0.00 total=9223372036854775807", "some avg10=0.00 total=9223372036854775808",
		"some  avg10=1.00  total=2", "some\tavg10=1.00 total=2", "some avg10=1.00 total=2\r\n", "\x00some avg10=1 total=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePSI([]byte(s))
		if err != nil {
			if p != (PSI{}) {
				t.Errorf("error %v with %+v", err, p)
			}
			return
		}
		for _, l := range []PSILine{p.Some, p.Full} {
			for _, a := range []float64{l.Avg10, l.Avg60, l.Avg300} {
				if a < 0 || math.IsNaN(a) || math.IsInf(a, 0) {
					t.Errorf("average %v in %+v", a, p)
				}
			}
			if l.Total > math.MaxInt64 {
				t.Errorf("total %d", l.Total)
			}
		}
		if !p.HasFull && p.Full != (PSILine{}) {
			t.Errorf("no full line, but %+v", p.Full)
		}
		if !strings.Contains(s, "some ") {
			t.Errorf("%q has no some line, but parsed: %+v", s, p)
		}
		// What the kernel writes for the values read parses back to them
		// (for averages the kernel can write: percentages).
		if max(p.Some.Avg10, p.Some.Avg60, p.Some.Avg300, p.Full.Avg10, p.Full.Avg60, p.Full.Avg300) > 100 {
			return
		}
		text := func(kind string, l PSILine) string {
			return fmt.Sprintf("%s avg10=%.2f avg60=%.2f avg300=%.2f total=%d\n", kind, l.Avg10, l.Avg60, l.Avg300, l.Total)
		}
		out := text("some", p.Some)
		if p.HasFull {
			out += text("full", p.Full)
		}
		q, err := ParsePSI([]byte(out))
		if err != nil || q.HasFull != p.HasFull || q.Some.Total != p.Some.Total || q.Full.Total != p.Full.Total ||
			math.Abs(q.Some.Avg10-p.Some.Avg10) > 0.005*(1+p.Some.Avg10) {
			t.Errorf("%q: %+v; written back as %q: %+v, %v", s, p, out, q, err)
		}
	})
}

func FuzzParseMemoryEvents(f *testing.F) {
	addFileSeeds(f, "memory.events", "memory.events.local")
	for _, s := range []string{
		"", "low", "low ", " 1", "low 1 ", "low  1", "low\t1", "oom_kill -0", "oom_kill +1", "max 00000000000000000001",
		"max 9223372036854775807\nmax 1", "high 1\r\n", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseMemoryEvents([]byte(s))
		ref, ok := refKeyValues(s)
		if (err == nil) != ok {
			t.Fatalf("%q: error %v, but the reference parse says ok=%v", s, err, ok)
		}
		if err != nil {
			if e != (MemoryEventCounts{}) || !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q with %+v", err, e)
			}
			return
		}
		want := MemoryEventCounts{ref["low"], ref["high"], ref["max"], ref["oom"], ref["oom_kill"], ref["oom_group_kill"]}
		if e != want {
			t.Errorf("%q: %+v, want %+v", s, e, want)
		}
	})
}

func FuzzParseOOMControl(f *testing.F) {
	addFileSeeds(f, "memory.oom_control")
	for _, s := range []string{"", "oom_kill_disable 2", "under_oom 1\nunder_oom 0", "oom_kill 1\noom_kill x", "oom_kill"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOOMControl([]byte(s))
		ref, ok := refKeyValues(s)
		if (err == nil) != ok {
			t.Fatalf("%q: error %v, but the reference parse says ok=%v", s, err, ok)
		}
		if err != nil {
			if o != (OOMControl{}) {
				t.Errorf("error %v with %+v", err, o)
			}
			return
		}
		kill, has := ref["oom_kill"]
		want := OOMControl{KillDisable: ref["oom_kill_disable"] != 0, UnderOOM: ref["under_oom"] != 0, OOMKill: kill, HasOOMKill: has}
		if o != want {
			t.Errorf("%q: %+v, want %+v", s, o, want)
		}
	})
}

func FuzzParseCount(f *testing.F) {
	addFileSeeds(f, "memory.failcnt", "memory.current", "memory.peak", "memory.usage_in_bytes", "memory.max_usage_in_bytes")
	for _, s := range []string{"", "0", "-0", "-1", "+1", " 1\n", "1 2", "9223372036854775807", "9223372036854775808", "max", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseCount([]byte(s))
		trimmed := strings.TrimSpace(s)
		want, werr := strconv.ParseInt(trimmed, 10, 64)
		switch {
		case countLine.MatchString(trimmed) && werr == nil && want >= 0:
			if err != nil || v != uint64(want) {
				t.Errorf("%q: %d, %v; want %d", s, v, err, want)
			}
		case err == nil:
			t.Errorf("%q: %d, no error", s, v)
		case v != 0:
			t.Errorf("%q: error %v with %d", s, err, v)
		}
	})
}
