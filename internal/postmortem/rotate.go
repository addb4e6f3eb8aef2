package postmortem

// Keeping the crash files in bounds: a crash report moves to P.1 (P.2,
// P.3), and the header-only files of processes that ended cleanly enough
// are swept away, touching only crash files of tune's.

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rotate moves the crash report at path to path.1, shifting older ones up
// to path.3 (the one there is replaced). A slot holding anything but a
// crash file of tune's, one that cannot be replaced, is left as it is; the
// report that would have moved into it is dropped instead, so rotation
// never fails because of what sits in a slot. kept says whether the
// report at path is now at path.1; the notes say what was dropped.
func rotate(path string) (kept bool, notes []Note) {
	slot := func(i int) string {
		if i == 0 {
			return path
		}
		return path + "." + strconv.Itoa(i)
	}
	usable := func(p string) bool {
		_, err := os.Lstat(p)
		return errors.Is(err, os.ErrNotExist) || (err == nil && isCrashFile(p))
	}
	drop := func(p, why string) {
		notes = append(notes, Note{Level: slog.LevelWarn, Msg: "tune: crash report dropped: " + why,
			Attrs: []slog.Attr{slog.String("file", p)}})
	}
	for i := keepCrashes; i >= 1; i-- {
		src, dst := slot(i-1), slot(i)
		if i > 1 && !isCrashFile(src) {
			continue // nothing of tune's to move
		}
		if usable(dst) {
			if err := os.Rename(src, dst); err == nil {
				continue
			} else if i == 1 {
				drop(src, fmt.Sprintf("it could not be moved to %s: %v", dst, err))
				return false, notes
			}
		} else if i == 1 {
			drop(src, dst+" is not a crash file of tune's, and is left as it is; the report is logged and returned by PreviousCrash only")
			return false, notes
		}
		// src cannot move up: it is the oldest report left, and goes.
		if err := os.Remove(src); err == nil {
			drop(src, dst+" could not take it (not a crash file of tune's, left as it is)")
		}
	}
	return true, notes
}

// sweepStale removes the crash files of processes that have ended without
// crashing (nothing in them but the header), so that they do not pile up:
// want's want.pid<N> files and leftover temporary files, and with
// siblings (the default path) the default-named files of other
// executables with the same name (a program run by go run or go test has a
// new path every time). Files in use are locked and left alone, and so
// are crash reports and anything that is not a crash file of tune's.
func sweepStale(want string, siblings bool) {
	dir, base := filepath.Split(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	sibling := siblingPrefix(base)
	for _, e := range entries {
		name := e.Name()
		if name == base || !isStaleName(name, base, sibling, siblings) {
			continue
		}
		p := filepath.Join(dir, name)
		f, _, err := openExisting(p, "")
		if err != nil {
			continue
		}
		if c, err := readCrash(f); err == nil && c == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// isStaleName reports whether name may be a leftover of want's: base.pid<N>,
// base.new<random>, or with siblings <sibling><8 hex digits>.crash.
func isStaleName(name, base, sibling string, siblings bool) bool {
	if pid, ok := strings.CutPrefix(name, base+".pid"); ok {
		return pid != "" && strings.Trim(pid, "0123456789") == ""
	}
	if _, ok := strings.CutPrefix(name, base+".new"); ok {
		return true
	}
	return siblings && isDefaultName(name, sibling)
}

// siblingPrefix is what the default crash file names of the executables
// named as base's share: "server-" for server-1f2e3d4c.crash.
func siblingPrefix(base string) string {
	sibling := strings.TrimSuffix(base, filepath.Ext(base))
	if i := strings.LastIndexByte(sibling, '-'); i >= 0 {
		sibling = sibling[:i+1]
	}
	return sibling
}

// isDefaultName reports whether name is a default crash file name that
// starts with sibling: <sibling><8 hex digits>.crash.
func isDefaultName(name, sibling string) bool {
	h, ok := strings.CutPrefix(name, sibling)
	if !ok {
		return false
	}
	h, ok = strings.CutSuffix(h, ".crash")
	return ok && len(h) == 8 && strings.Trim(h, "0123456789abcdef") == ""
}
