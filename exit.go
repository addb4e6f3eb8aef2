package tune

// How the previous run ended, as far as its crash file and the kernel
// can tell. What is knowable:
//
//   - A Go crash (an unrecovered panic, a fatal error, SIGQUIT) leaves its
//     report in the crash file.
//   - tune.Shutdown removes the crash file when it holds only its header:
//     the next start finds nothing, as on the very first start.
//   - A plain return from main or os.Exit runs no hook, so it leaves the
//     header alone in the file, exactly as a SIGKILL does: from the file,
//     tune cannot tell them apart.
//
// So a run is reported as probably killed by the OOM killer only on
// positive evidence: the OOM kill count of its memory group (or of an
// ancestor with a limit, the pod's) rose since that run last read it, or
// its memory pressure was Critical when it ended (the header says so: the
// loop marks it on the way up, with the last words, and clears it on the
// way down). Otherwise a header left alone is "unreported": a normal exit
// or an uncatchable signal, tune cannot tell which.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// ExitKind says how the previous run ended.
type ExitKind string

const (
	// ExitCrashed: it died of a Go crash (an unrecovered panic, a fatal
	// error, a signal such as SIGQUIT); Exit.Crash holds the report.
	ExitCrashed ExitKind = "crashed"
	// ExitOOMKilled: it vanished, probably killed by the OOM killer: it
	// left neither a crash report nor a tune.Shutdown, and either the OOM
	// kill count of its memory group (or of an ancestor with a limit) rose
	// since it last read it, or its memory pressure was Critical when it
	// ended. Exit.Reason says which; Exit.LastWords lists its last words.
	ExitOOMKilled ExitKind = "oom-killed"
	// ExitUnreported: it ended without a crash report and without
	// tune.Shutdown, and nothing says it was killed for memory: a normal
	// exit (a return from main, os.Exit) or a signal it could not catch
	// (SIGKILL). tune cannot tell which: call tune.Shutdown at the end of
	// main to leave nothing behind.
	ExitUnreported ExitKind = "unreported"
)

// Exit is how the previous run of the program (the one that used the
// crash file before) ended, as Init found it.
type Exit struct {
	Kind ExitKind
	// Reason says why tune concluded Kind, in a sentence.
	Reason string
	// PID, Executable and Start are that run's process id, program and the
	// time it called Init, as its crash file's header recorded them.
	PID        int
	Executable string
	Start      time.Time
	// Crash is its crash report, for ExitCrashed (PreviousCrash returns the
	// same); nil otherwise.
	Crash *Crash
	// LastWords lists the files of the newest set of last words that run
	// wrote (a heap profile, goroutines, a trace, a summary), if any: read
	// the heap profile with go tool pprof -top. A later run may rotate them
	// away (tune keeps the newest 3 sets).
	LastWords []string
}

// PreviousExit returns how the previous run of the program ended, as found
// by Init in the crash file, and whether Init found one: false means no
// earlier run left its crash file (this is the first run with it, the last
// one ended through tune.Shutdown, which removes it, or crash output is
// off). Init has already logged a crash, and a run probably killed by the
// OOM killer, once at Error level. See ExitKind for what can and cannot
// be told apart.
func PreviousExit() (Exit, bool) {
	crash.mu.Lock()
	defer crash.mu.Unlock()
	if crash.exit == nil {
		return Exit{}, false
	}
	e := *crash.exit
	if e.Crash != nil {
		c := *e.Crash
		e.Crash = &c
	}
	e.LastWords = append([]string(nil), e.LastWords...)
	return e, true
}

// previousExit says how the run whose crash file (at want, or beside it)
// had the header old ended: crashed holds its report, nil when the file
// held only the header; now are the OOM kill counts read at this start.
func previousExit(old headerInfo, crashed *Crash, want string, now []groupCount) *Exit {
	e := &Exit{PID: old.pid, Executable: old.exe, Start: old.start}
	e.LastWords = lastWordsOf(filepath.Dir(want), filepath.Base(want), old.pid, old.start)
	if crashed != nil {
		c := *crashed
		e.Kind, e.Crash, e.Reason = ExitCrashed, &c, "it crashed: "+c.Message
		return e
	}
	var why []string
	for _, r := range old.oom {
		for _, n := range now {
			if n.ino == r.ino && n.count > r.count {
				why = append(why, fmt.Sprintf("the OOM kill count of %s rose from %d to %d after it last read it", n.dir, r.count, n.count))
			}
		}
	}
	if old.critical {
		w := "its memory pressure was critical when it ended"
		if len(e.LastWords) > 0 {
			w += ", and it left last words"
		}
		why = append(why, w)
	}
	if len(why) == 0 {
		e.Kind = ExitUnreported
		e.Reason = "it ended without a crash report and without tune.Shutdown: a normal exit (a return from main, os.Exit) or a signal it could not catch (SIGKILL); tune cannot tell which"
		return e
	}
	e.Kind = ExitOOMKilled
	e.Reason = "it vanished without a crash report or tune.Shutdown, and " + strings.Join(why, "; and ")
	return e
}

// logLine is the Error line Init writes for a run probably OOM-killed.
func (e *Exit) logLine() logLine {
	return logLine{level: slog.LevelError, msg: "tune: the previous run was probably killed by the OOM killer",
		attrs: []slog.Attr{slog.String("reason", e.Reason), slog.Int("pid", e.PID),
			slog.Time("started_at", e.Start), slog.String("executable", e.Executable),
			slog.Any("last_words", e.LastWords)}}
}

// groupCount is the OOM kill count of one memory group.
type groupCount struct {
	ino   uint64 // the group directory's inode number: which group it is
	count uint64 // oom_kill: memory.events (v2), memory.oom_control (v1)
	dir   string // the directory, for messages (not in the header)
}

// maxCount is the highest count the header's fixed-width field holds.
const maxCount = 9_999_999_999

// oomField is the header's oom_kill field: count@inode for each group,
// the count zero-padded to ten digits, or "none".
func oomField(gs []groupCount) string {
	if len(gs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, g := range gs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%010d@%d", min(g.count, maxCount), g.ino)
	}
	return b.String()
}

// parseOOMField reads what oomField writes; an entry it cannot read is
// passed over, and at most cgroup.MaxEventGroups are read.
func parseOOMField(v string) []groupCount {
	var gs []groupCount
	for _, e := range strings.Split(v, ",") {
		c, i, ok := strings.Cut(e, "@")
		if !ok {
			continue
		}
		count, err1 := strconv.ParseUint(c, 10, 64)
		ino, err2 := strconv.ParseUint(i, 10, 64)
		if err1 != nil || err2 != nil || ino == 0 {
			continue
		}
		gs = append(gs, groupCount{ino: ino, count: count})
		if len(gs) == cgroup.MaxEventGroups {
			break
		}
	}
	return gs
}

// raiseCounts returns have with each count raised to the one read for the
// same group, if higher; groups not in have are not added (the header's
// length is fixed at Init).
func raiseCounts(have, read []groupCount) []groupCount {
	if len(read) == 0 {
		return have
	}
	out := append([]groupCount(nil), have...)
	for i := range out {
		for _, r := range read {
			if r.ino == out[i].ino && r.count > out[i].count {
				out[i].count = r.count
			}
		}
	}
	return out
}

// readKernel reads the kernel's view of the process's memory group, and
// from it the OOM kill counts of the group and of its ancestors with a
// memory limit, through a discovery of its own (Init's reader is not
// ready yet when the crash file is made, and the loop's belongs to the
// loop). Anything that cannot be read is left out; s is nil where there
// are no cgroups.
func readKernel() (s *cgroup.Stats, gs []groupCount) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	layout, err := cgroup.Discover("/")
	if err != nil {
		return nil, nil
	}
	r := layout.OpenStats()
	defer r.Close()
	s = new(cgroup.Stats)
	r.Read(s) // a part that fails is marked so; the others are read
	return s, oomCounts(r, s)
}

// oomCounts returns the OOM kill counts s holds for the process's memory
// group and its ancestors with a memory limit, each group known by its
// directory's inode (a group made anew under the same name is another).
func oomCounts(r *cgroup.StatsReader, s *cgroup.Stats) (gs []groupCount) {
	for _, g := range s.Group[:min(max(s.NGroups, 0), cgroup.MaxEventGroups)] {
		dir := r.Dir(g.Level)
		if !g.OK || dir == "" {
			continue
		}
		fi, err := os.Stat(dir)
		if err != nil {
			continue
		}
		if ino := fileID(fi); ino != 0 {
			gs = append(gs, groupCount{ino: ino, count: g.OOMKill, dir: dir})
		}
	}
	return gs
}
