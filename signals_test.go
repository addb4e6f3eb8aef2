package tune

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/runtimehooks/tune/internal/cgroup"
)

// fullStats is a reading in which every part was read and every number is
// set (no two alike), so a part that no table entry carries shows as a
// zero on the other side.
func fullStats() cgroup.Stats {
	s := cgroup.Stats{Version: 2, NGroups: 1}
	n := uint64(1)
	next := func() uint64 { n++; return n }
	for _, p := range []*cgroup.Pressure{&s.Memory, &s.CPU, &s.IO} {
		p.OK, p.HasFull = true, true
		p.Some = cgroup.PSILine{Avg10: float64(next()), Avg60: 1, Avg300: 1, Total: next()}
		p.Full = cgroup.PSILine{Avg10: float64(next()), Avg60: 1, Avg300: 1, Total: next()}
	}
	s.Events.OK = true
	s.Group[0] = cgroup.GroupEvents{OK: true, MemoryEventCounts: cgroup.MemoryEventCounts{
		Low: next(), High: next(), Max: next(), OOM: next(), OOMKill: next()}}
	s.Usage = cgroup.Bytes{Avail: cgroup.Avail{OK: true}, Value: 1 << 30}
	s.Peak = cgroup.Bytes{Avail: cgroup.Avail{OK: true}, Value: 2 << 30}
	return s
}

// TestKernelSignalsTable: every number of KernelReport comes out of the
// cell non-zero from a reading where every part was read, and every part
// of cgroup.Stats changes what the cell stores or the notes: a part or a report field
// without an entry in kernelSignals fails here.
func TestKernelSignalsTable(t *testing.T) {
	s := fullStats()
	var c seqCell
	c.storeKernel(&s)
	var k KernelReport
	if !c.kernelNumbers(&k, 1<<20) {
		t.Fatal("kernelNumbers: nothing published")
	}
	walkZero(t, reflect.ValueOf(k), "KernelReport", func(name string) bool { return strings.HasSuffix(name, "Note") })

	var base [cellWords]uint64
	c.loadKernel(&base)
	st := reflect.TypeOf(s)
	for i := range st.NumField() {
		f := st.Field(i)
		if f.Name == "Version" || f.Name == "NGroups" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			z := s
			v := reflect.ValueOf(&z).Elem().Field(i)
			if f.Name == "Group" {
				v = v.Index(0).FieldByName("MemoryEventCounts")
			}
			v.Set(reflect.Zero(v.Type()))
			var c seqCell
			c.storeKernel(&z)
			var w [cellWords]uint64
			c.loadKernel(&w)
			if w == base && kernelNotes(&z) == kernelNotes(&s) {
				t.Errorf("cgroup.Stats.%s: no entry of kernelSignals reads or notes it", f.Name)
			}
		})
	}
	if kernelWords > cellWords {
		t.Errorf("the kernel signals take %d words; a seqCell holds %d", kernelWords, cellWords)
	}
}

// walkZero fails for every number or bool in v that is zero, but for the
// fields skip names.
func walkZero(t *testing.T, v reflect.Value, name string, skip func(string) bool) {
	t.Helper()
	if skip(name) {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			walkZero(t, v.Field(i), name+"."+v.Type().Field(i).Name, skip)
		}
	case reflect.String:
	default:
		if v.IsZero() {
			t.Errorf("%s is zero after a full reading went through the kernel cell: no entry of kernelSignals shows it", name)
		}
	}
}

// TestKernelSignalsExported: a full reading exports every series of every
// entry, each once, under a family the collector describes.
func TestKernelSignalsExported(t *testing.T) {
	s := fullStats()
	var cell seqCell
	cell.storeKernel(&s)
	c := newTuneCollector()
	ch := make(chan prometheus.Metric, 64)
	c.collectKernel(ch, &cell)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		key := m.Desc().String()
		for _, l := range pb.GetLabel() {
			key += "," + l.GetName() + "=" + l.GetValue()
		}
		if _, dup := got[key]; dup {
			t.Errorf("%s exported twice", key)
		}
		got[key] = pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
	}
	want := 0
	for i, sig := range kernelSignals {
		want += len(sig.export)
		for j, e := range sig.export {
			if d := c.kernelDesc[i][j]; d == nil || !strings.Contains(d.String(), `"`+e.metric.name+`"`) {
				t.Errorf("%s: the collector's descriptor for %s is %v", sig.name, e.metric.name, d)
			}
			if len(e.labels) != len(e.metric.labels) {
				t.Errorf("%s: %d label values for %s, which has %d labels", sig.name, len(e.labels), e.metric.name, len(e.metric.labels))
			}
		}
	}
	if len(got) != want {
		t.Errorf("exported %d series, the table lists %d: %v", len(got), want, got)
	}
	for k, v := range got {
		if v == 0 {
			t.Errorf("%s: exported as 0 from a full reading", k)
		}
	}
}

// TestPressureSignalsTable: every PressureSignal constant declared in the
// package is in signals, so the pressure cell does not turn it into "".
func TestPressureSignalsTable(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]PressureSignal{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "PressureSignal" {
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s: not a string literal", name.Name)
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					declared[name.Name] = PressureSignal(v)
				}
			}
			return true
		})
	}
	if len(declared) < 6 {
		t.Fatalf("found %d PressureSignal constants (%v): the scan is broken", len(declared), declared)
	}
	for name, sig := range declared {
		if i := signalIndex(sig); i == 0 || signals[i] != sig {
			t.Errorf("%s (%q) is not in signals: the pressure cell would report it as \"\"", name, sig)
		}
		var c pressureCell
		c.store(PressureEvent{Level: PressureHigh, Signal: sig})
		if got := c.load().Signal; got != sig {
			t.Errorf("%s through the pressure cell: %q", name, got)
		}
	}
	if n := len(slices.Compact(slices.Sorted(slices.Values(signals[:])))); n != len(signals) {
		t.Errorf("signals has duplicates: %v", signals)
	}
}

// BenchmarkCollectKernel measures the kernel's part of a scrape, from a
// reading where every part was read.
func BenchmarkCollectKernel(b *testing.B) {
	s := fullStats()
	var cell seqCell
	cell.storeKernel(&s)
	c := newTuneCollector()
	ch := make(chan prometheus.Metric, 64)
	b.ReportAllocs()
	for b.Loop() {
		c.collectKernel(ch, &cell)
		for len(ch) > 0 {
			<-ch
		}
	}
}
