package postmortem

// The last words' files on disk: their names, the sets they form, which
// are tune's (a regular file with one link, owned by the process's user,
// named as a set's file and starting with tune's mark: the summary's
// "tune_last_words" key, the goroutines' header line, the heap profile's
// gzip comment "tune last words", the trace's "go 1.xx trace" header),
// rotation, and finding a run's set at the next start. At the default
// crash file path the sets of other executables of the same name (go
// run, go test) count too.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	lwInfix      = ".lastwords-"
	lwTimeFormat = "20060102T150405.000Z"
	lwMark       = "tune last words"
)

// The kinds of file of a set, named by the suffix after the set's name, in
// the order they are written.
const (
	lwHeap       = "heap.pb.gz"
	lwGoroutines = "goroutines.txt"
	lwTrace      = "trace"
	lwSummary    = "json"
)

var lwKinds = [...]string{lwHeap, lwGoroutines, lwTrace, lwSummary}

// lastWordsName is the name of the set written at t by pid, beside the
// crash file named base.
func lastWordsName(base string, t time.Time, pid int) string {
	return base + lwInfix + t.UTC().Format(lwTimeFormat) + "-" + strconv.Itoa(pid)
}

// lwFile is a file name of a set, as parseName read it.
type lwFile struct {
	set  string // the set's name (the file's name without .kind)
	time string // its time, as written (sortable)
	pid  int
	kind string
}

// lwPattern says which file names are of the sets that share a bound:
// those beside the crash file named base, and with siblings those beside
// the default crash files of other executables of the same name.
type lwPattern struct {
	base     string
	siblings bool
}

// parse reads name as a file of a set of p's.
func (p lwPattern) parse(name string) (lwFile, bool) {
	head, tail, ok := strings.Cut(name, lwInfix)
	if !ok || !(head == p.base || p.siblings && isDefaultName(head, siblingPrefix(p.base))) {
		return lwFile{}, false
	}
	ts, rest, ok := strings.Cut(tail, "-")
	if !ok || len(ts) != len(lwTimeFormat) {
		return lwFile{}, false
	}
	if _, err := time.Parse(lwTimeFormat, ts); err != nil {
		return lwFile{}, false
	}
	pidText, kind, ok := strings.Cut(rest, ".")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 || strconv.Itoa(pid) != pidText || !slices.Contains(lwKinds[:], kind) {
		return lwFile{}, false
	}
	return lwFile{set: strings.TrimSuffix(name, "."+kind), time: ts, pid: pid, kind: kind}, true
}

// sets lists the sets of p's in dir, oldest first, each with its files.
func (p lwPattern) sets(dir string) [][]lwFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	bySet := map[string][]lwFile{}
	for _, e := range entries {
		if f, ok := p.parse(e.Name()); ok {
			bySet[f.set] = append(bySet[f.set], f)
		}
	}
	var out [][]lwFile
	for _, fs := range bySet {
		out = append(out, fs)
	}
	slices.SortFunc(out, func(a, b []lwFile) int {
		if c := strings.Compare(a[0].time, b[0].time); c != 0 {
			return c
		}
		return strings.Compare(a[0].set, b[0].set)
	})
	return out
}

// removeOldSets removes the files of p's sets in dir but the newest keep,
// each only if tune wrote it.
func removeOldSets(dir string, p lwPattern, keep int) {
	sets := p.sets(dir)
	for _, set := range sets[:max(len(sets)-keep, 0)] {
		for _, f := range set {
			path := filepath.Join(dir, f.set+"."+f.kind)
			if isLastWordsFile(path, f.kind) {
				os.Remove(path)
			}
		}
	}
}

// lastWordsOf returns the paths of the newest set of last words that the
// run pid, started at start, wrote beside the crash file named base in
// dir: files tune wrote, of a set begun after start.
func lastWordsOf(dir, base string, pid int, start time.Time) []string {
	if pid <= 0 || start.IsZero() {
		return nil
	}
	from := start.UTC().Truncate(time.Millisecond).Format(lwTimeFormat)
	sets := lwPattern{base: base}.sets(dir)
	for i := len(sets) - 1; i >= 0; i-- {
		set := sets[i]
		if set[0].pid != pid || set[0].time < from {
			continue
		}
		var paths []string
		for _, kind := range lwKinds {
			for _, f := range set {
				if p := filepath.Join(dir, f.set+"."+f.kind); f.kind == kind && isLastWordsFile(p, kind) {
					paths = append(paths, p)
				}
			}
		}
		if len(paths) > 0 {
			return paths
		}
	}
	return nil
}

// isLastWordsFile reports whether path is a file of kind that tune wrote:
// a regular file with one link, the process user's, with tune's mark.
func isLastWordsFile(path, kind string) bool {
	f, _, err := openChecked(path, os.O_RDONLY, checkExisting)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [64]byte
	n, _ := f.ReadAt(buf[:], 0)
	return hasMark(kind, buf[:n])
}

// hasMark reports whether b, the start of a file of kind, carries tune's
// mark.
func hasMark(kind string, b []byte) bool {
	s := string(b)
	switch kind {
	case lwSummary:
		return strings.HasPrefix(s, `{"tune_last_words":`)
	case lwGoroutines:
		return strings.HasPrefix(s, lwMark+":")
	case lwHeap:
		// gzipMark's member: deflate, only FCOMMENT set, the comment first.
		return len(s) > 10 && s[:3] == "\x1f\x8b\x08" && s[3] == 0x10 && strings.HasPrefix(s[10:], lwMark+":")
	case lwTrace:
		// The runtime's execution trace: "go 1.23 trace\x00\x00\x00".
		v, rest, ok := strings.Cut(s, " trace\x00")
		return ok && strings.HasPrefix(v, "go 1.") && len(v) <= 8 && rest != ""
	}
	return false
}
