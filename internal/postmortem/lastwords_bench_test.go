package postmortem

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchHeap is a live heap of about size bytes in 64 KiB blocks of
// pointers, allocated from 240 different stacks (30 depths × 8 sites), so
// that the heap profile has as many entries as a modest service's.
type benchHeap [][]*[8 << 10]byte

//go:noinline
func (h *benchHeap) grow(depth, site int, n int) {
	if depth > 0 {
		h.grow(depth-1, site, n)
		return
	}
	for range n {
		switch site {
		case 0:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 1:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 2:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 3:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 4:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 5:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		case 6:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		default:
			*h = append(*h, make([]*[8 << 10]byte, 8<<10))
		}
	}
}

func newBenchHeap(size int) *benchHeap {
	h := new(benchHeap)
	blocks := size / (64 << 10)
	for i := range 240 {
		h.grow(i%30, i/30, blocks/240)
	}
	runtime.GC() // the heap profile shows what the latest GC saw
	return h
}

// BenchmarkLastWords: what one rise to Critical costs the loop's
// goroutine (time, allocations: the header's mark, the OOM kill counts and
// the set of last words) and the disk (disk-B/op: the set's bytes), with 100 MiB and 1 GiB of live heap, beside one GC cycle of
// the same heap (the ratio to quote: the last words against the work the
// runtime does anyway, many times a second, at Critical pressure).
//
//	go test -run '^$' -bench BenchmarkLastWords -benchmem -benchtime 20x ./internal/postmortem
func BenchmarkLastWords(b *testing.B) {
	for _, size := range []int{100 << 20, 1 << 30} {
		h := newBenchHeap(size)
		name := fmt.Sprintf("heap=%dMiB", size>>20)
		for _, flight := range []bool{false, true} {
			b.Run(name+map[bool]string{false: "", true: "/flight"}[flight], func(b *testing.B) {
				dir := b.TempDir()
				r := newRecorder(b)
				if _, err := r.SetCrashFile(CrashConfig{Path: filepath.Join(dir, "app.crash")}); err != nil {
					b.Fatal(err)
				}
				c := LastWords{Interval: time.Minute, TerminationLog: TerminationOff}
				if flight {
					r.SetFlight(10*time.Second, true)
					time.Sleep(time.Second) // a second of trace to write
				}
				m := criticalMoment()
				var disk int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					r.Critical(m, c)
					b.StopTimer()
					disk += setSize(b, dir, r.now())
					r.Now = advance(r.Now, time.Minute) // due again, under a new name
					b.StartTimer()
				}
				b.ReportMetric(float64(disk)/float64(b.N), "disk-B/op")
			})
		}
		b.Run(name+"/gc", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				runtime.GC()
			}
		})
		runtime.KeepAlive(h)
	}
}

// setSize is the bytes on disk of the set written at now in dir.
func setSize(b *testing.B, dir string, now time.Time) int64 {
	set := lastWordsName("app.crash", now, os.Getpid())
	var n int64
	for _, kind := range lwKinds {
		if fi, err := os.Stat(filepath.Join(dir, set+"."+kind)); err == nil {
			n += fi.Size()
		}
	}
	if n == 0 {
		b.Fatalf("no set %s in %s", set, dir)
	}
	return n
}
