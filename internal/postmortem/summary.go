package postmortem

// The last words' summary, and the termination message that carries it
// to Kubernetes.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"
)

// summary is the one-line summary of a set. Its first key marks it as
// tune's.
type summary struct {
	Mark       int       `json:"tune_last_words"` // the format's version: 1
	Time       time.Time `json:"time"`
	PID        int       `json:"pid"`
	Pressure   string    `json:"pressure"`
	Signal     string    `json:"signal"`
	GCCPU      float64   `json:"gc_cpu_fraction"`
	InUse      uint64    `json:"go_memory_in_use_bytes"`
	HeapLive   uint64    `json:"heap_live_bytes"`
	Goroutines int       `json:"goroutines"`
	GOMEMLIMIT int64     `json:"gomemlimit_bytes,omitempty"`   // absent: none
	Limit      int64     `json:"memory_limit_bytes,omitempty"` // the cgroup's; absent: none
	Usage      *uint64   `json:"group_memory_usage_bytes,omitempty"`
	PSISome    *float64  `json:"psi_memory_some_avg10,omitempty"`
	PSIFull    *float64  `json:"psi_memory_full_avg10,omitempty"`
	OOMKills   *uint64   `json:"group_oom_kills,omitempty"`
	Dir        string    `json:"dir,omitempty"`
	Files      []string  `json:"files,omitempty"`
	Notes      []string  `json:"notes,omitempty"`
}

// summarize builds the summary from what the loop measured, the runtime
// and, when the loop read it, the kernel's view of the group.
func summarize(now time.Time, m Moment) summary {
	s := summary{Mark: 1, Time: now.UTC(), PID: os.Getpid(), Pressure: m.Pressure,
		Signal: m.Signal, GCCPU: math.Round(m.GCCPUFraction*1e4) / 1e4, InUse: m.MemoryInUse,
		Goroutines: runtime.NumGoroutine()}
	if m.GOMEMLIMIT > 0 && m.GOMEMLIMIT != math.MaxInt64 {
		s.GOMEMLIMIT = m.GOMEMLIMIT
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = sample[0].Value.Uint64()
	}
	if m.Limit > 0 {
		s.Limit = m.Limit
	}
	if st := m.Stats; st != nil {
		if st.Usage.OK {
			s.Usage = &st.Usage.Value
		}
		if st.Memory.OK {
			some, full := st.Memory.Some.Avg10, st.Memory.Full.Avg10
			s.PSISome, s.PSIFull = &some, &full
		}
		if g, ok := st.EventsAt(0); ok {
			s.OOMKills = &g.OOMKill
		}
	}
	return s
}

// line is the summary as one line of JSON, newline included.
func (s summary) line() []byte {
	b, err := json.Marshal(s)
	if err != nil { // not reached: every field marshals
		b = []byte(`{"tune_last_words":1}`)
	}
	return append(b, '\n')
}

// writeTermination overwrites the termination message file at path with
// line (cut at what the kubelet reads). It never creates the file, and
// writes only a regular one that is not one of tune's own (ours says
// which: see ownFile): an error wrapping os.ErrNotExist says there is
// none.
func writeTermination(path string, line []byte, ours func(string, os.FileInfo) error) error {
	f, _, err := openChecked(path, os.O_WRONLY, func(p string, fi os.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s): left as it is", p, fileType(fi.Mode()))
		}
		if ours != nil {
			return ours(p, fi)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := notCrashFile(f, path); err != nil {
		f.Close()
		return err
	}
	if len(line) > maxTermination {
		line = line[:maxTermination]
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(line, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ownFile refuses, as the termination message file, the crash file in
// use and any file named as one of its family beside it (its rotated
// reports P.1 to P.3, P.pid<N>, P.new…, the last words P.lastwords-…): a
// termination log pointed at one of them by mistake would overwrite the
// evidence it exists to keep.
func (r *Recorder) ownFile(path string, fi os.FileInfo) error {
	s := &r.crash
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		if cfi, err := s.file.Stat(); err == nil && os.SameFile(fi, cfi) {
			return fmt.Errorf("%s is tune's crash file: not overwriting it", path)
		}
	}
	if s.want == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	dir, name := filepath.Split(abs)
	wdir, wbase := filepath.Split(s.want)
	if dir == wdir && (name == wbase || strings.HasPrefix(name, wbase+".")) {
		return fmt.Errorf("%s is named as one of tune's files beside the crash file %s: not overwriting it", path, s.want)
	}
	return nil
}

// notCrashFile refuses a file that starts with a crash file's header
// (another program's crash file, or this one's under another name). A
// file that cannot be read is not refused: the check is for mistakes.
func notCrashFile(f *os.File, path string) error {
	r, err := openNoFollow(path, os.O_RDONLY|oNonblock)
	if err != nil {
		return nil
	}
	defer r.Close()
	if rfi, err1 := r.Stat(); err1 == nil {
		if ffi, err2 := f.Stat(); err2 != nil || !os.SameFile(rfi, ffi) {
			return nil
		}
	}
	buf := make([]byte, len(headerPrefix))
	if n, _ := io.ReadFull(r, buf); n == len(buf) && string(buf) == headerPrefix {
		return fmt.Errorf("%s is a crash file of tune's: not overwriting it", path)
	}
	return nil
}
