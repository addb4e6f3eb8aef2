package postmortem

// Last words written by this process: the set and its files, their marks,
// rotation on disk, directories that cannot be written, the termination
// message, the header's pressure mark and how the next start reads it.
// The files are real, in temporary directories; the OOM kill itself is in
// package tune's lastwords_test.go.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wireCrash makes dir/app.crash the crash file of a new recorder until
// the test ends.
func wireCrash(t *testing.T, dir string) (*Recorder, string) {
	t.Helper()
	r := newRecorder(t)
	file := filepath.Join(dir, "app.crash")
	if _, err := r.SetCrashFile(CrashConfig{Path: file}); err != nil {
		t.Fatal(err)
	}
	return r, file
}

// criticalMoment is what the loop passes at a rise to Critical.
func criticalMoment() Moment {
	return Moment{Pressure: "critical", Signal: "runtime", GCCPUFraction: 0.61,
		MemoryInUse: 180 << 20, GOMEMLIMIT: 200 << 20, Limit: 222 << 20}
}

// lastWordsConfig is last words every minute, logging to log (nil: nowhere).
func lastWordsConfig(log LogFunc, termLog string) LastWords {
	return LastWords{Interval: time.Minute, TerminationLog: termLog, Log: log}
}

// filesIn lists the names in dir, sorted.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestLastWordsSet: one rise to Critical writes the heap profile (a gzip
// stream whose first member is tune's mark), the goroutines and the
// summary beside the crash file, each 0600 and recognised as tune's; the
// summary says what was measured and lists the files; the termination
// message file holds the summary line; the next start finds the set.
func TestLastWordsSet(t *testing.T) {
	dir := t.TempDir()
	r, file := wireCrash(t, dir)
	term := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(term, bytes.Repeat([]byte("an earlier, longer message\n"), 20), 0o666); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	start := r.now()
	runtime.GC() // the live heap is measured by a GC
	c := lastWordsConfig(textLog(&log), term)
	r.Critical(criticalMoment(), c)

	sets := lwPattern{base: "app.crash"}.sets(dir)
	if len(sets) != 1 {
		t.Fatalf("%d sets in %s, want 1: %v", len(sets), dir, filesIn(t, dir))
	}
	var kinds []string
	for _, f := range sets[0] {
		kinds = append(kinds, f.kind)
		p := filepath.Join(dir, f.set+"."+f.kind)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
			t.Errorf("%s: mode %v, want a regular file 0600", p, fi.Mode())
		}
		if !isLastWordsFile(p, f.kind) {
			t.Errorf("%s is not recognised as tune's", p)
		}
	}
	slices.Sort(kinds)
	if want := []string{lwGoroutines, lwHeap, lwSummary}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	set := filepath.Join(dir, sets[0][0].set)

	// The heap profile: two gzip members read as one stream, the first
	// carrying the mark, the whole a profile (go tool pprof reads it in
	// lastwords_test.go).
	raw, _ := os.ReadFile(set + "." + lwHeap)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(zr.Header.Comment, lwMark+": pid ") {
		t.Errorf("gzip comment %q, want tune's mark", zr.Header.Comment)
	}
	if body, err := io.ReadAll(zr); err != nil || len(body) < 100 {
		t.Errorf("heap profile: %d bytes decompressed, %v", len(body), err)
	}
	goroutines, _ := os.ReadFile(set + "." + lwGoroutines)
	if !bytes.Contains(goroutines, []byte("goroutine profile: total ")) || !bytes.Contains(goroutines, []byte("TestLastWordsSet")) {
		t.Errorf("goroutines file lacks the profile or this test's goroutine:\n%.500s", goroutines)
	}

	var sum struct {
		Mark       int       `json:"tune_last_words"`
		Time       time.Time `json:"time"`
		PID        int       `json:"pid"`
		Pressure   string    `json:"pressure"`
		Signal     string    `json:"signal"`
		GCCPU      float64   `json:"gc_cpu_fraction"`
		InUse      uint64    `json:"go_memory_in_use_bytes"`
		HeapLive   uint64    `json:"heap_live_bytes"`
		GOMEMLIMIT int64     `json:"gomemlimit_bytes"`
		Limit      int64     `json:"memory_limit_bytes"`
		Dir        string    `json:"dir"`
		Files      []string  `json:"files"`
	}
	line, _ := os.ReadFile(set + "." + lwSummary)
	if bytes.Count(line, []byte("\n")) != 1 || json.Unmarshal(line, &sum) != nil {
		t.Fatalf("summary is not one line of JSON: %q", line)
	}
	if sum.Mark != 1 || sum.PID != os.Getpid() || sum.Pressure != "critical" || sum.Signal != "runtime" || sum.GCCPU != 0.61 ||
		sum.InUse != 180<<20 || sum.HeapLive == 0 || sum.GOMEMLIMIT != 200<<20 || sum.Limit != 222<<20 || sum.Dir != dir ||
		sum.Time.Before(start.Add(-time.Millisecond)) || len(sum.Files) != 2 {
		t.Errorf("summary %s", line)
	}

	term2, _ := os.ReadFile(term)
	if bytes.Count(term2, []byte("\n")) != 1 || !bytes.HasPrefix(term2, []byte(`{"tune_last_words":1,`)) || bytes.Contains(term2, []byte(`"files"`)) {
		t.Errorf("termination message %q, want the summary line alone (without the files)", term2)
	}
	if !strings.Contains(log.String(), "last words written") {
		t.Errorf("no Info line about the last words:\n%s", log.String())
	}

	h := parseHeader(strings.SplitN(readText(t, file), "\n", 2)[0])
	if !h.critical {
		t.Errorf("the crash file's header does not say critical: %+v", h)
	}
	got := lastWordsOf(dir, "app.crash", os.Getpid(), start)
	if len(got) != 3 || !strings.HasSuffix(got[0], lwHeap) || !strings.HasSuffix(got[2], lwSummary) {
		t.Errorf("lastWordsOf = %v, want the set's 3 files, heap profile first", got)
	}
	if got := lastWordsOf(dir, "app.crash", os.Getpid(), time.Now().Add(time.Second)); got != nil {
		t.Errorf("last words written before the run's start were taken as its: %v", got)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLastWordsRateLimit: a second rise to Critical within the interval
// writes nothing; after it, a new set.
func TestLastWordsRateLimit(t *testing.T) {
	dir := t.TempDir()
	r, _ := wireCrash(t, dir)
	c := lastWordsConfig(nil, TerminationOff)
	r.Critical(criticalMoment(), c)
	r.Critical(criticalMoment(), c)
	if n := len(lwPattern{base: "app.crash"}.sets(dir)); n != 1 {
		t.Fatalf("%d sets after two rises within a minute, want 1", n)
	}
	r.Now = advance(r.Now, time.Minute)
	r.Critical(criticalMoment(), c)
	if n := len(lwPattern{base: "app.crash"}.sets(dir)); n != 2 {
		t.Fatalf("%d sets after a rise a minute later, want 2", n)
	}
}

// TestLastWordsRotation: past 3 sets the oldest go, and with them nothing
// tune did not write, even named as a set's file: a file without the
// mark, a symbolic link to a set's file, a marked file with a second link,
// another program's set (another base name).
func TestLastWordsRotation(t *testing.T) {
	dir := t.TempDir()
	r, _ := wireCrash(t, dir)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	foreign := map[string]string{
		lastWordsName("app.crash", old, 10) + ".json":           `{"not":"tune's"}`,
		lastWordsName("app.crash", old, 11) + ".heap.pb.gz":     "\x1f\x8b\x08\x00 a plain gzip header",
		lastWordsName("app.crash", old, 12) + ".goroutines.txt": "goroutine profile: total 1\n",
		lastWordsName("app.crash", old, 13) + ".trace":          "not a trace",
		lastWordsName("other.crash", old, 14) + ".json":         `{"tune_last_words":1}`,
	}
	for name, content := range foreign {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A marked file elsewhere, reached by a symbolic link and a hard link
	// named as old sets' files.
	elsewhere := filepath.Join(t.TempDir(), "marked.json")
	os.WriteFile(elsewhere, []byte(`{"tune_last_words":1}`+"\n"), 0o600)
	symlink := filepath.Join(dir, lastWordsName("app.crash", old, 15)+".json")
	hardlink := filepath.Join(dir, lastWordsName("app.crash", old, 16)+".json")
	if err := os.Symlink(elsewhere, symlink); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(elsewhere, hardlink); err != nil {
		t.Fatal(err)
	}

	c := lastWordsConfig(nil, TerminationOff)
	for range 5 {
		r.Critical(criticalMoment(), c)
		r.Now = advance(r.Now, time.Minute) // due again, and a new name
	}
	var ours []string
	for _, set := range (lwPattern{base: "app.crash"}).sets(dir) {
		if set[0].pid == os.Getpid() {
			ours = append(ours, set[0].set)
			if len(set) != 3 {
				t.Errorf("set %s has %d files, want 3", set[0].set, len(set))
			}
		}
	}
	if len(ours) != keepLastWords {
		t.Errorf("%d of this process's sets kept, want %d: %v", len(ours), keepLastWords, filesIn(t, dir))
	}
	for name, content := range foreign {
		if got := readText(t, filepath.Join(dir, name)); got != content {
			t.Errorf("%s was changed or removed: %q", name, got)
		}
	}
	for _, p := range []string{symlink, hardlink, elsewhere} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v, want it left as it was", p, err)
		}
	}
}

// TestLastWordsSiblings: at the default crash file path the sets of other
// executables of the same name share the bound (go run makes a new one
// each time); other names are left alone.
func TestLastWordsSiblings(t *testing.T) {
	p := lwPattern{base: "server-1f2e3d4c.crash", siblings: true}
	now := time.Date(2026, 2, 3, 4, 5, 6, 789e6, time.UTC)
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{lastWordsName("server-1f2e3d4c.crash", now, 7) + ".json", true},
		{lastWordsName("server-0a0b0c0d.crash", now, 7) + ".heap.pb.gz", true},
		{lastWordsName("server-0a0b0c0d.crash.1", now, 7) + ".json", false},
		{lastWordsName("servers-0a0b0c0d.crash", now, 7) + ".json", false},
		{lastWordsName("server-0a0b0c0.crash", now, 7) + ".json", false},
		{lastWordsName("api-0a0b0c0d.crash", now, 7) + ".json", false},
	} {
		if _, ok := p.parse(tt.name); ok != tt.ok {
			t.Errorf("parse(%q): %v, want %v", tt.name, ok, tt.ok)
		}
	}
	if _, ok := (lwPattern{base: p.base}).parse(lastWordsName("server-0a0b0c0d.crash", now, 7) + ".json"); ok {
		t.Error("a sibling's set counted at a path set by the user")
	}
}

// lastWordsNames are file names parse must read, or refuse.
var lastWordsNames = []struct {
	name string
	want lwFile
	ok   bool
}{
	{"app.crash.lastwords-20260203T040506.789Z-42.json", lwFile{set: "app.crash.lastwords-20260203T040506.789Z-42", time: "20260203T040506.789Z", pid: 42, kind: lwSummary}, true},
	{"app.crash.lastwords-20260203T040506.789Z-42.heap.pb.gz", lwFile{set: "app.crash.lastwords-20260203T040506.789Z-42", time: "20260203T040506.789Z", pid: 42, kind: lwHeap}, true},
	{"app.crash.lastwords-20260203T040506.789Z-1.trace", lwFile{set: "app.crash.lastwords-20260203T040506.789Z-1", time: "20260203T040506.789Z", pid: 1, kind: lwTrace}, true},
	{"app.crash.lastwords-20260203T040506.789Z-42.txt", lwFile{}, false},
	{"app.crash.lastwords-20260203T040506.789Z-042.json", lwFile{}, false},
	{"app.crash.lastwords-20260203T040506.789Z--1.json", lwFile{}, false},
	{"app.crash.lastwords-20260203T040506Z-42.json", lwFile{}, false},
	{"app.crash.lastwords-20261303T040506.789Z-42.json", lwFile{}, false},
	{"app.crash.lastwords-20260203T040506.789Z-42", lwFile{}, false},
	{"app.crash.1.lastwords-20260203T040506.789Z-42.json", lwFile{}, false},
	{"app.crash", lwFile{}, false},
	{"", lwFile{}, false},
}

func TestLastWordsNames(t *testing.T) {
	p := lwPattern{base: "app.crash"}
	for _, tt := range lastWordsNames {
		got, ok := p.parse(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzLastWordsName: any name is read or refused without panicking, and a
// name tune makes is read back.
func FuzzLastWordsName(f *testing.F) {
	for _, tt := range lastWordsNames {
		f.Add(tt.name, int64(1770000000123), 42)
	}
	f.Fuzz(func(t *testing.T, name string, ms int64, pid int) {
		p := lwPattern{base: "app.crash", siblings: true}
		p.parse(name)
		if pid <= 0 || ms < 0 || ms > 253402300799999 { // years 1970 to 9999
			return
		}
		tm := time.UnixMilli(ms)
		got, ok := p.parse(lastWordsName("app.crash", tm, pid) + "." + lwSummary)
		if !ok || got.pid != pid || got.time != tm.UTC().Format(lwTimeFormat) {
			t.Fatalf("parse(lastWordsName(%v, %d)) = %+v, %v", tm, pid, got, ok)
		}
	})
}

// TestHasMark: each kind's mark, and what is not one.
func TestHasMark(t *testing.T) {
	for _, tt := range []struct {
		kind, start string
		want        bool
	}{
		{lwSummary, `{"tune_last_words":1,"time":"x"}`, true},
		{lwSummary, `{"time":"x","tune_last_words":1}`, false},
		{lwGoroutines, "tune last words: pid 1 at x (goroutine profile, debug=1)\n", true},
		{lwGoroutines, "goroutine profile: total 4\n", false},
		{lwHeap, string(gzipMark(lwMark + ": pid 1 at x")), true},
		{lwHeap, string(gzipMark("another comment")), false},
		{lwHeap, "\x1f\x8b\x08\x18\x00\x00\x00\x00\x00\xffname\x00" + lwMark + ":", false},
		{lwTrace, "go 1.25 trace\x00\x00\x00\x01", true},
		{lwTrace, "go 1.25 trace", false},
		{lwTrace, "go 2.0 trace\x00\x00\x00", false},
		{"other", `{"tune_last_words":1}`, false},
	} {
		if got := hasMark(tt.kind, []byte(tt.start)); got != tt.want {
			t.Errorf("hasMark(%s, %q) = %v, want %v", tt.kind, tt.start, got, tt.want)
		}
	}
}

// TestGzipMark: the mark is an empty gzip member: a reader of the stream
// sees only what follows it.
func TestGzipMark(t *testing.T) {
	var b bytes.Buffer
	b.Write(gzipMark(lwMark + ": test"))
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("the profile"))
	zw.Close()
	zr, err := gzip.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || string(got) != "the profile" {
		t.Errorf("read %q, %v, want the second member's content alone", got, err)
	}
	zr, _ = gzip.NewReader(bytes.NewReader(gzipMark("c")))
	if zr.Header.Comment != "c" {
		t.Errorf("comment %q, want c", zr.Header.Comment)
	}
}

// TestLastWordsMissingDirectory: when the crash file's directory has gone
// (or cannot be written), a rise to Critical costs one Warn line that
// names the directory, and nothing else: no file anywhere, and no second
// line at the next rise.
func TestLastWordsMissingDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "gone")
	os.Mkdir(dir, 0o700)
	r, _ := wireCrash(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	c := lastWordsConfig(textLog(&log), TerminationOff)
	for range 3 {
		r.Now = advance(r.Now, time.Minute)
		r.Critical(criticalMoment(), c)
	}
	out := log.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "directory "+dir+" does not exist") {
		t.Errorf("want one Warn line naming %s, got:\n%s", dir, out)
	}
	if strings.Contains(out, "level=INFO") {
		t.Errorf("a line besides the Warn:\n%s", out)
	}
	if names := filesIn(t, parent); len(names) != 0 {
		t.Errorf("files made in %s: %v", parent, names)
	}
}

// TestLastWordsOff: with last words off, or without a crash file, no set
// is written (the header still records the pressure).
func TestLastWordsOff(t *testing.T) {
	dir := t.TempDir()
	r, file := wireCrash(t, dir)
	term := filepath.Join(dir, "termination-log")
	os.WriteFile(term, nil, 0o600)
	c := lastWordsConfig(nil, term)
	c.Interval = -1
	r.Critical(criticalMoment(), c)
	if names := filesIn(t, dir); !slices.Equal(names, []string{"app.crash", "termination-log"}) {
		t.Errorf("files %v, want only the crash file and the empty termination log", names)
	}
	if readText(t, term) != "" {
		t.Error("the termination message was written with last words off")
	}
	if h := parseHeader(readText(t, file)); !h.critical {
		t.Errorf("header %+v: critical not recorded", h)
	}

	r.End()
	c.Interval = time.Minute
	r.Critical(criticalMoment(), c)
	if names := filesIn(t, dir); !slices.Equal(names, []string{"termination-log"}) {
		t.Errorf("files %v without a crash file, want only the termination log", names)
	}
	if !strings.HasPrefix(readText(t, term), `{"tune_last_words":1,`) {
		t.Error("without a crash file the termination message must still be written")
	}
}

// TestTerminationLog: the termination message goes only into a regular
// file that exists: a missing one is not created (and costs no line), a
// symbolic link is not followed (and costs one Warn line).
func TestTerminationLog(t *testing.T) {
	dir := t.TempDir()
	line := []byte(`{"tune_last_words":1}` + "\n")

	missing := filepath.Join(dir, "missing")
	if err := writeTermination(missing, line, nil); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
	noFile(t, missing)

	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	if err := writeTermination(link, line, nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symbolic link: %v", err)
	}
	if readText(t, target) != "keep" {
		t.Error("the link's target was written")
	}

	// As the recorder's default path, at Critical.
	regular := filepath.Join(dir, "termination-log")
	os.WriteFile(regular, bytes.Repeat([]byte("x"), 10000), 0o644)
	for _, p := range []string{regular, missing, link} {
		r := newRecorder(t)
		r.TerminationDefault = p
		var log logBuffer
		r.Critical(criticalMoment(), lastWordsConfig(textLog(&log), ""))
		out := log.String()
		switch p {
		case regular:
			got := readText(t, regular)
			if !strings.HasPrefix(got, `{"tune_last_words":1,`) || strings.Count(got, "\n") != 1 || strings.Contains(got, "x") {
				t.Errorf("termination log holds %q, want the summary line alone", got)
			}
		case missing:
			noFile(t, missing)
			if out != "" {
				t.Errorf("a missing termination log costs a line:\n%s", out)
			}
		case link:
			if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "termination message") {
				t.Errorf("a symbolic link: want one Warn line, got:\n%s", out)
			}
		}
	}
}

// TestMarkPressure: the header is rewritten in place, keeping its length,
// with critical set on the way up and cleared on the way down; a crash
// file whose run vanished with it set is, at the next start, a run
// probably killed by the OOM killer, and one with it cleared is
// unreported.
func TestMarkPressure(t *testing.T) {
	for _, critical := range []bool{true, false} {
		t.Run(map[bool]string{true: "vanished at critical", false: "vanished after critical"}[critical], func(t *testing.T) {
			dir := t.TempDir()
			r, file := wireCrash(t, dir)
			before := readText(t, file)
			c := lastWordsConfig(nil, TerminationOff)
			r.Critical(criticalMoment(), c)
			if !critical {
				r.LeftCritical()
			}
			after := readText(t, file)
			if len(after) != len(before) || parseHeader(after).critical != critical {
				t.Fatalf("header %q after the pressure changed, was %q", after, before)
			}
			// The run vanishes: the file stays as it is (endCrash would
			// remove it, as Shutdown does).
			r.End()
			if err := os.WriteFile(file, []byte(after), 0o600); err != nil {
				t.Fatal(err)
			}
			lines, err := r.SetCrashFile(CrashConfig{Path: file})
			if err != nil {
				t.Fatal(err)
			}
			_, e := r.Previous()
			if e == nil || e.PID != os.Getpid() {
				t.Fatalf("Previous() = %+v", e)
			}
			if !critical {
				if e.Kind != ExitUnreported || len(lines) != 0 {
					t.Errorf("Kind %s, lines %+v; want unreported, no line", e.Kind, lines)
				}
				return
			}
			if e.Kind != ExitOOMKilled || !strings.Contains(e.Reason, "critical when it ended, and it left last words") || len(e.LastWords) != 3 {
				t.Errorf("Previous() = %+v, want oom-killed with its last words", e)
			}
			if len(lines) != 1 || lines[0].Level != slog.LevelError || !strings.Contains(lines[0].Msg, "probably killed by the OOM killer") {
				t.Errorf("lines %+v, want one Error line", lines)
			}
		})
	}
}

// TestPreviousExitRules: how a crash file's header and the OOM kill
// counts decide the previous run's end.
func TestPreviousExitRules(t *testing.T) {
	start := time.Now().Add(-time.Hour)
	counts := []GroupCount{{Ino: 7, Count: 2, Dir: "/sys/fs/cgroup/memory/app"}}
	crashReport := &Crash{Message: "panic: boom"}
	for _, tt := range []struct {
		name    string
		old     headerInfo
		crashed *Crash
		now     []GroupCount
		want    ExitKind
		reason  string
	}{
		{"crashed", headerInfo{pid: 5, start: start, critical: true}, crashReport, nil, ExitCrashed, "it crashed: panic: boom"},
		{"header only", headerInfo{pid: 5, start: start, oom: []GroupCount{{Ino: 7, Count: 2}}}, nil, counts, ExitUnreported, "cannot tell which"},
		{"oom_kill rose", headerInfo{pid: 5, start: start, oom: []GroupCount{{Ino: 7, Count: 1}}}, nil, counts, ExitOOMKilled,
			"the OOM kill count of /sys/fs/cgroup/memory/app rose from 1 to 2"},
		{"another group's count", headerInfo{pid: 5, start: start, oom: []GroupCount{{Ino: 8, Count: 1}}}, nil, counts, ExitUnreported, "cannot tell which"},
		{"critical", headerInfo{pid: 5, start: start, critical: true}, nil, nil, ExitOOMKilled, "critical when it ended"},
		{"no header fields", headerInfo{}, nil, counts, ExitUnreported, "cannot tell which"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := previousExit(tt.old, tt.crashed, filepath.Join(t.TempDir(), "app.crash"), tt.now)
			if e.Kind != tt.want || !strings.Contains(e.Reason, tt.reason) || e.PID != tt.old.pid || !e.Start.Equal(tt.old.start) {
				t.Errorf("previousExit = %+v, want %s because %q", e, tt.want, tt.reason)
			}
			if (e.Crash != nil) != (tt.crashed != nil) {
				t.Errorf("Crash = %v", e.Crash)
			}
		})
	}
}

// TestFlightRecorder: with the option, the recorder runs while there can
// be last words and its trace joins the set; StopFlight stops it; Start, Stop
// and WriteTo racing one another are safe (run with -race).
func TestFlightRecorder(t *testing.T) {
	dir := t.TempDir()
	r, _ := wireCrash(t, dir)
	c := lastWordsConfig(nil, TerminationOff)
	t.Cleanup(r.StopFlight)
	if lines := r.SetFlight(time.Second, true); len(lines) != 0 || !r.FlightRunning() {
		t.Fatalf("SetFlight: %+v, running %v", lines, r.FlightRunning())
	}
	r.Critical(criticalMoment(), c)
	sets := lwPattern{base: "app.crash"}.sets(dir)
	if len(sets) != 1 || len(sets[0]) != 4 {
		t.Fatalf("sets %+v, want one of 4 files", sets)
	}
	tr := filepath.Join(dir, sets[0][0].set+"."+lwTrace)
	if fi, err := os.Stat(tr); err != nil || fi.Size() < 100 || !isLastWordsFile(tr, lwTrace) {
		t.Errorf("trace %s: %v, %v", tr, fi, err)
	}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 20 {
				switch i {
				case 0:
					r.StopFlight()
				case 1:
					r.SetFlight(time.Second, true)
				default:
					r.writeFlight(io.Discard)
				}
			}
		})
	}
	wg.Wait()
	r.SetFlight(time.Second, true)
	r.StopFlight()
	if r.FlightRunning() {
		t.Error("the flight recorder still runs after StopFlight")
	}
	if r.SetFlight(0, true); r.FlightRunning() {
		t.Error("the flight recorder runs with the option off")
	}
	if r.SetFlight(time.Second, false); r.FlightRunning() {
		t.Error("the flight recorder runs without a loop or without last words")
	}
	r.End()
	if r.SetFlight(time.Second, true); r.FlightRunning() {
		t.Error("the flight recorder runs without a crash file")
	}
}

// TestTerminationLogOwnFiles: a termination log pointed at the crash
// file, at a file named as one of its family, at a hard link to it or at
// another crash file of tune's is refused with one Warn line, and the
// file keeps what it held (issue 21, item 8).
func TestTerminationLogOwnFiles(t *testing.T) {
	other := filepath.Join(t.TempDir(), "other.crash")
	os.WriteFile(other, []byte(headerPrefix+" pid=1 exe=\"/bin/x\"\npanic: kept\n"), 0o600)
	for _, tt := range []struct {
		name string
		term func(file string) string
	}{
		{"the crash file", func(file string) string { return file }},
		{"its rotated report", func(file string) string {
			os.WriteFile(file+".1", []byte("a report\n"), 0o600)
			return file + ".1"
		}},
		{"a last words file", func(file string) string {
			p := file + ".lastwords-20260101T000000.000Z-1.json"
			os.WriteFile(p, []byte(`{"tune_last_words":1}`+"\n"), 0o600)
			return p
		}},
		{"a hard link to the crash file", func(file string) string {
			p := filepath.Join(t.TempDir(), "termination-log")
			if err := os.Link(file, p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"another crash file", func(string) string { return other }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, file := wireCrash(t, t.TempDir())
			term := tt.term(file)
			before := readText(t, term)
			var log logBuffer
			r.Critical(criticalMoment(), lastWordsConfig(textLog(&log), term))
			after := readText(t, term)
			if a, b := readText(t, file), readText(t, term); a == b {
				before = strings.Replace(before, " critical=0 ", " critical=1 ", 1) // the header's own mark
			}
			if after != before {
				t.Errorf("%s was overwritten: %q, was %q", term, after, before)
			}
			out := log.String()
			if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "not overwriting it") {
				t.Errorf("want one Warn line refusing %s, got:\n%s", term, out)
			}
		})
	}
}
