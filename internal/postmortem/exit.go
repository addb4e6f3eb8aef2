package postmortem

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
	"strings"
	"time"

	"github.com/runtimehooks/tune/internal/cgroup"
)

// ExitKind says how the previous run ended (package tune documents the
// kinds).
type ExitKind string

const (
	ExitCrashed    ExitKind = "crashed"
	ExitOOMKilled  ExitKind = "oom-killed"
	ExitUnreported ExitKind = "unreported"
)

// Exit is how the previous run ended (package tune's Exit documents the
// fields).
type Exit struct {
	Kind       ExitKind
	Reason     string
	PID        int
	Executable string
	Start      time.Time
	Crash      *Crash
	LastWords  []string
}

// previousExit says how the run whose crash file (at want, or beside it)
// had the header old ended: crashed holds its report, nil when the file
// held only the header; now are the OOM kill counts read at this start.
func previousExit(old headerInfo, crashed *Crash, want string, now []GroupCount) *Exit {
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
			if n.Ino == r.Ino && n.Count > r.Count {
				why = append(why, fmt.Sprintf("the OOM kill count of %s rose from %d to %d after it last read it", n.Dir, r.Count, n.Count))
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

// note is the Error line for a run probably OOM-killed.
func (e *Exit) note() Note {
	return Note{Level: slog.LevelError, Msg: "tune: the previous run was probably killed by the OOM killer",
		Attrs: []slog.Attr{slog.String("reason", e.Reason), slog.Int("pid", e.PID),
			slog.Time("started_at", e.Start), slog.String("executable", e.Executable),
			slog.Any("last_words", e.LastWords)}}
}

// readKernel reads the kernel's view of the process's memory group, and
// from it the OOM kill counts of the group and of its ancestors with a
// memory limit, through a discovery of its own (for a caller without a
// reader of its own). Anything that cannot be read is left out; s is nil
// where there are no cgroups.
func readKernel() (s *cgroup.Stats, gs []GroupCount) {
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
	return s, OOMCounts(r, s)
}

// OOMCounts returns the OOM kill counts s holds for the process's memory
// group and its ancestors with a memory limit, each group known by its
// directory's inode (a group made anew under the same name is another).
func OOMCounts(r *cgroup.StatsReader, s *cgroup.Stats) (gs []GroupCount) {
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
			gs = append(gs, GroupCount{Ino: ino, Count: g.OOMKill, Dir: dir})
		}
	}
	return gs
}
