package tune_test

// Crash file safety on Linux: what tune finds at the crash file's path and
// must not touch, unwritable and read-only directories, slots of the
// rotation that hold something else, and crash files of other programs.
// The cases whose outcome depends on who runs them run twice: as the
// test's user (root here and in CI) and, when that is root, as the
// unprivileged user nobody (a syscall.Credential child). The portable
// ones (a missing directory, Shutdown, the log lines) are in crash_test.go.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimehooks/tune"
)

const nobody = 65534

// runner is a user the crasher runs as.
type runner struct {
	name string
	uid  int
	cred *syscall.Credential // nil: the test's own user
}

// runners are the test's own user and, when that is root, nobody.
func runners() []runner {
	self := runner{name: "as uid " + fmt.Sprint(os.Geteuid()), uid: os.Geteuid()}
	if self.uid != 0 {
		return []runner{self}
	}
	self.name = "as root"
	return []runner{self, {name: "as nobody", uid: nobody, cred: &syscall.Credential{Uid: nobody, Gid: nobody}}}
}

// sharedDir is a directory every user can write, removed at the end (a
// t.TempDir lies under a directory only its owner may enter).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tune-crash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyCrasher puts the crasher at path, for another user to run or to
// have another executable path. It is a hard link: a copy written here
// could meet "text file busy" when a parallel test forks while it is open.
func copyCrasher(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(build(t, "./internal/testprog/crasher"), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAs runs the crasher at bin as r, in mode, with the crash file given.
func runAs(t *testing.T, r runner, bin string, env []string, mode, file string) crasherRun {
	t.Helper()
	cmd := crasherCmd(t, env, mode, file)
	cmd.Path = bin
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return runCmd(t, cmd, mode)
}

// fileState is everything of a file the crash file code must leave as it
// found it.
type fileState struct {
	Exists   bool
	Mode     os.FileMode
	UID, GID uint32
	ModTime  time.Time
	Links    uint64
	Content  string // a directory: its entries
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileState{}
	}
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := fileState{Exists: true, Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, ModTime: fi.ModTime(), Links: uint64(st.Nlink)}
	switch {
	case fi.Mode().IsRegular():
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s.Content = string(b)
	case fi.IsDir():
		es, _ := os.ReadDir(path)
		for _, e := range es {
			s.Content += e.Name() + "\n"
		}
	case fi.Mode()&os.ModeSymlink != 0:
		s.Content, _ = os.Readlink(path)
	}
	return s
}

// writeAs writes a file owned by uid with the mode given, an hour old.
func writeAs(t *testing.T, path, content string, mode os.FileMode, uid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	chownOld(t, path, mode, uid)
}

// chownOld gives path to uid, sets its mode and makes it an hour old, so
// that a change of its times would show.
func chownOld(t *testing.T, path string, mode os.FileMode, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// TestCrashForeignFilesUntouched: whatever sits at the crash file's path
// that is not tune's own crash file (no header line, more than one link,
// another user's, not a regular file) is refused with a Warn naming the
// path and left byte for byte as it was: content, mode, owner, mtime.
// Nothing of its content is logged, and the process runs on without a
// crash file.
func TestCrashForeignFilesUntouched(t *testing.T) {
	tests := []struct {
		name string
		// setup makes the path (and what it points to) in dir, for a
		// process of uid self; other is a uid that is not self.
		setup func(t *testing.T, dir string, self, other int) (path string, watch []string)
		want  string
	}{
		{"a configuration file", func(t *testing.T, dir string, self, other int) (string, []string) {
			p := filepath.Join(dir, "app.conf")
			writeAs(t, p, "password=hunter2\n", 0o644, self)
			return p, nil
		}, "does not start with tune's header line, so tune did not write it: left as it is"},
		{"an empty file", func(t *testing.T, dir string, self, other int) (string, []string) {
			p := filepath.Join(dir, "empty.crash")
			writeAs(t, p, "", 0o644, self)
			return p, nil
		}, "does not start with tune's header line"},
		{"a hard link to a crash file", func(t *testing.T, dir string, self, other int) (string, []string) {
			target := filepath.Join(dir, "target")
			writeAs(t, target, aCrash, 0o640, self)
			p := filepath.Join(dir, "link.crash")
			if err := os.Link(target, p); err != nil {
				t.Fatal(err)
			}
			return p, []string{target}
		}, "has 2 hard links (a crash file tune wrote has one): left as it is"},
		{"a hard link to another user's file", func(t *testing.T, dir string, self, other int) (string, []string) {
			target := filepath.Join(dir, "secret")
			writeAs(t, target, "root:x:0:0\n", 0o640, other)
			p := filepath.Join(dir, "link.crash")
			if err := os.Link(target, p); err != nil {
				t.Fatal(err)
			}
			return p, []string{target}
		}, "has 2 hard links"},
		{"another user's crash file", func(t *testing.T, dir string, self, other int) (string, []string) {
			p := filepath.Join(dir, "theirs.crash")
			writeAs(t, p, aCrash, 0o600, other)
			return p, nil
		}, "belongs to uid"}, // the uids are filled in below
		{"a symbolic link to a crash file", func(t *testing.T, dir string, self, other int) (string, []string) {
			target := filepath.Join(dir, "target")
			writeAs(t, target, aCrash, 0o600, self)
			p := filepath.Join(dir, "sym.crash")
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			chownOld(t, p, 0, self)
			return p, []string{target}
		}, "is a symbolic link: not following it"},
		{"a directory", func(t *testing.T, dir string, self, other int) (string, []string) {
			p := filepath.Join(dir, "d.crash")
			os.Mkdir(p, 0o755)
			writeAs(t, filepath.Join(p, "inside"), "x", 0o644, self)
			chownOld(t, p, 0o755, self)
			return p, nil
		}, "is not a regular file (directory): left as it is"},
		{"a named pipe", func(t *testing.T, dir string, self, other int) (string, []string) {
			p := filepath.Join(dir, "fifo.crash")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			chownOld(t, p, 0o644, self)
			return p, nil
		}, "is not a regular file (named pipe)"},
	}
	for _, r := range runners() {
		t.Run(r.name, func(t *testing.T) {
			shared := sharedDir(t)
			bin := copyCrasher(t, filepath.Join(shared, "bin", "crasher"))
			other := 0
			if r.uid == 0 {
				other = nobody
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					dir := filepath.Join(shared, fmt.Sprint(i))
					if err := os.Mkdir(dir, 0o777); err != nil {
						t.Fatal(err)
					}
					os.Chmod(dir, 0o777)
					path, watch := tt.setup(t, dir, r.uid, other)
					watch = append(watch, path)
					before := map[string]fileState{}
					for _, p := range watch {
						before[p] = stateOf(t, p)
					}

					run := runAs(t, r, bin, nil, "exit", path)
					want := tt.want
					if want == "belongs to uid" {
						want = fmt.Sprintf("belongs to uid %d, not to this process (uid %d): left as it is", other, r.uid)
					}
					if run.code != 0 || run.prev.Found {
						t.Errorf("exit status %d, previous crash %+v; want 0 and none", run.code, run.prev)
					}
					var warns []string
					for _, l := range strings.Split(run.stderr, "\n") {
						if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "crash file: "+path+" ") {
							warns = append(warns, l)
						}
					}
					if len(warns) != 1 || !strings.Contains(warns[0], want) {
						t.Errorf("want one Warn line naming %s and saying %q, stderr:\n%s", path, want, run.stderr)
					}
					if strings.Contains(run.stderr, "hunter2") || strings.Contains(run.stderr, "root:x") {
						t.Errorf("the file's content was logged:\n%s", run.stderr)
					}
					for _, p := range watch {
						if after := stateOf(t, p); after != before[p] {
							t.Errorf("%s was changed:\nbefore %+v\nafter  %+v", p, before[p], after)
						}
					}
					for _, p := range []string{path + ".1", fmt.Sprintf("%s.pid%d", path, run.pid)} {
						noFile(t, p)
					}
				})
			}
		})
	}
}

// TestCrashUnwritableDirectory: a directory the process may not write in
// is a Warn that says how to go without the crash file; root may write
// there, and gets its crash file.
func TestCrashUnwritableDirectory(t *testing.T) {
	for _, r := range runners() {
		t.Run(r.name, func(t *testing.T) {
			shared := sharedDir(t)
			bin := copyCrasher(t, filepath.Join(shared, "bin", "crasher"))
			dir := filepath.Join(shared, "closed")
			if err := os.Mkdir(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "app.crash")
			run := runAs(t, r, bin, nil, "exit", file)
			if r.uid == 0 {
				if run.code != 0 || strings.Contains(run.stderr, "WARN") {
					t.Errorf("root: status %d, stderr:\n%s", run.code, run.stderr)
				}
				checkHeader(t, readFile(t, file), run.pid)
				return
			}
			want := fmt.Sprintf("crash file: cannot create %s: ", file)
			if !strings.Contains(run.stderr, `"level":"WARN"`) || !strings.Contains(run.stderr, want) ||
				!strings.Contains(run.stderr, "permission denied") || !strings.Contains(run.stderr, "GOTUNE_CRASH_FILE=off") {
				t.Errorf("want a Warn %q… permission denied … GOTUNE_CRASH_FILE=off, stderr:\n%s", want, run.stderr)
			}
			noFile(t, file)
		})
	}
}

// TestCrashReadOnlyFileSystem: on a read-only file system the Warn names
// the way to silence it, GOTUNE_CRASH_FILE=off. The file system is a
// read-only tmpfs mounted in a mount namespace of the child's own.
func TestCrashReadOnlyFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a file system takes root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) is needed to mount a read-only file system for the child:", err)
	}
	shared := sharedDir(t)
	bin := copyCrasher(t, filepath.Join(shared, "bin", "crasher"))
	ro := filepath.Join(shared, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(ro, "app.crash")
	cmd := crasherCmd(t, nil, "exit", file)
	cmd.Path = unshare
	cmd.Args = []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o ro tmpfs "$1" && exec "$2" exit "$1/app.crash"`, "sh", ro, bin}
	run := runCmd(t, cmd, "exit")
	want := fmt.Sprintf("crash file: cannot create %s: %s is on a read-only file system; set GOTUNE_CRASH_FILE to a writable path, or GOTUNE_CRASH_FILE=off to go without a crash file", file, ro)
	if run.code != 0 || strings.Count(run.stderr, `"level":"WARN"`) != 1 || !strings.Contains(run.stderr, want) {
		t.Errorf("status %d; want one Warn %q, stderr:\n%s", run.code, want, run.stderr)
	}
}

// TestCrashRotationBlockedSlot: what sits in a slot of the rotation and is
// not a crash file of tune's (a non-empty directory) is left as it is;
// the report that would have moved there is dropped instead, with a Warn,
// and Init reports no error.
func TestCrashRotationBlockedSlot(t *testing.T) {
	t.Run("oldest slot", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "app.crash")
		blocker := file + ".3"
		os.MkdirAll(filepath.Join(blocker, "sub"), 0o755)
		os.WriteFile(filepath.Join(blocker, "keep"), []byte("x"), 0o644)
		before := stateOf(t, blocker)
		var logs string
		for i := 1; i <= 4; i++ {
			log, err := crashRound(t, file, i)
			if err != nil {
				t.Fatalf("round %d: Init error %v", i, err)
			}
			logs += log
		}
		for n, want := range map[string]string{".1": "crash 3", ".2": "crash 2", "": "crash 4"} {
			if got := readFile(t, file+n); !strings.Contains(got, "panic: "+want+"\n") {
				t.Errorf("%s%s: want the report of %s, got:\n%s", file, n, want, got)
			}
		}
		if after := stateOf(t, blocker); after != before {
			t.Errorf("%s was changed: %+v, was %+v", blocker, after, before)
		}
		if strings.Count(logs, `level=WARN msg="tune: crash report dropped: `+blocker) != 1 {
			t.Errorf("want one Warn for the report dropped (crash 1), got:\n%s", logs)
		}
	})
	t.Run("newest slot", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "app.crash")
		os.MkdirAll(filepath.Join(file+".1", "sub"), 0o755)
		if _, err := crashRound(t, file, 1); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if _, err := initCrash(t, file, &log); err != nil {
			t.Fatalf("Init error %v", err)
		}
		c, ok := tune.PreviousCrash()
		if !ok || c.Message != "panic: crash 1" || c.Path != "" {
			t.Errorf("PreviousCrash = %v %+v, want crash 1, kept nowhere (Path \"\")", ok, c)
		}
		if !strings.Contains(log.String(), `level=WARN msg="tune: crash report dropped: `+file+".1 is not a crash file of tune's") ||
			!strings.Contains(log.String(), `level=ERROR msg="tune: the previous run crashed" message="panic: crash 1"`) {
			t.Errorf("want the crash logged at Error and a Warn that it was dropped:\n%s", log.String())
		}
		if text := readFile(t, file); strings.Count(text, "\n") != 1 {
			t.Errorf("the crash file was not reused: %q", text)
		}
		if fi, err := os.Stat(filepath.Join(file+".1", "sub")); err != nil || !fi.IsDir() {
			t.Errorf("%s.1 was changed: %v", file, err)
		}
	})
}

// TestCrashOtherExecutable: two programs with the same name in different
// directories get default crash files of their own (the name carries a
// hash of the executable's path). One's crash is neither reported nor
// touched by the other; it is reported by its own program, whose start
// also sweeps the other's header-only file. A file at a program's
// default path whose header names another executable is refused.
func TestCrashOtherExecutable(t *testing.T) {
	t.Parallel()
	shared := sharedDir(t)
	o1 := copyCrasher(t, filepath.Join(shared, "o1", "crasher"))
	o2 := copyCrasher(t, filepath.Join(shared, "o2", "crasher"))
	tmp := filepath.Join(shared, "tmp")
	os.Mkdir(tmp, 0o700)
	env := []string{"TMPDIR=" + tmp}
	me := runners()[0]
	crashFiles := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "crasher-*.crash"))
		return m
	}

	if run := runAs(t, me, o1, env, "panic", ""); run.code != 2 {
		t.Fatalf("o1: status %d, stderr:\n%s", run.code, run.stderr)
	}
	files := crashFiles()
	if len(files) != 1 {
		t.Fatalf("want one default crash file in %s, got %q", tmp, files)
	}
	f1 := files[0]
	s1 := stateOf(t, f1)
	if !strings.Contains(s1.Content, "panic: crasher: boom") || !strings.Contains(s1.Content, fmt.Sprintf("exe=%q", o1)) {
		t.Fatalf("%s is not o1's crash:\n%s", f1, s1.Content)
	}

	run := runAs(t, me, o2, env, "exit", "")
	if run.code != 0 || run.prev.Found || strings.Contains(run.stderr, "ERROR") || strings.Contains(run.stderr, "WARN") {
		t.Errorf("o2 took o1's crash for its own: status %d, %+v\n%s", run.code, run.prev, run.stderr)
	}
	if got := stateOf(t, f1); got != s1 {
		t.Errorf("o2 changed o1's crash file %s", f1)
	}
	var f2 string
	for _, f := range crashFiles() {
		if f != f1 {
			f2 = f
		}
	}
	if f2 == "" || !strings.Contains(readFile(t, f2), fmt.Sprintf("exe=%q", o2)) {
		t.Fatalf("o2 has no crash file of its own beside %s: %q", f1, crashFiles())
	}

	run = runAs(t, me, o1, env, "exit", "")
	c := run.prev.Crash
	if !run.prev.Found || c.Message != "panic: crasher: boom" || c.Executable != o1 || c.Path != f1+".1" {
		t.Errorf("o1 did not find its crash: %+v", run.prev)
	}
	noFile(t, f2) // header only, its process ended: swept

	// A file at o2's default path that names another executable.
	o3 := filepath.Join(shared, "o3", "crasher")
	writeAs(t, f2, strings.Replace(aCrash, "/usr/bin/app", o3, 1), 0o600, me.uid)
	before := stateOf(t, f2)
	run = runAs(t, me, o2, env, "exit", "")
	if want := fmt.Sprintf("crash file: %s is the crash file of another program (%s): left as it is", f2, o3); run.prev.Found || !strings.Contains(run.stderr, want) {
		t.Errorf("o2 did not refuse a file of another program at its path (want %q): %+v\n%s", want, run.prev, run.stderr)
	}
	if got := stateOf(t, f2); got != before {
		t.Errorf("%s was changed", f2)
	}
}
