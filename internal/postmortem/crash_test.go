package postmortem

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// crashSamples are report bodies (after the header) as the runtime writes
// them, cut short.
var crashSamples = []struct {
	name, body, want string
}{
	{"panic", "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:9 +0x25\nexit status 2\n", "panic: boom"},
	{"runtime error panic", "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n", "panic: runtime error: index out of range [5] with length 3"},
	{"repanicked", "panic: first [recovered, repanicked]\n\tpanic: second\n\ngoroutine 1 [running]:\n", "panic: first [recovered, repanicked]"},
	{"fatal error line present", "fatal error: concurrent map writes\n\ngoroutine 7 [running]:\ninternal/runtime/maps.fatal({0x4c8e00?, 0x0?})\n", "fatal error: concurrent map writes"},
	{"fatal error line missing (go#76859)", "\ngoroutine 20 [running]:\ninternal/runtime/maps.fatal({0x4c8e00?, 0x0?})\n\t/usr/local/go/src/runtime/panic.go:1181 +0x18\n",
		"fatal error (its message is on stderr only, golang/go#76859): goroutine 20 [running]: internal/runtime/maps.fatal"},
	{"deadlock", "\ngoroutine 1 [chan receive]:\nmain.main()\n\t/app/main.go:17 +0x12c\n",
		"fatal error (its message is on stderr only, golang/go#76859): goroutine 1 [chan receive]: main.main"},
	{"SIGQUIT", "SIGQUIT: quit\nPC=0x40866e m=0 sigcode=0\n\ngoroutine 0 gp=0x5871e0 m=0 mp=0x587fa0 [idle]:\n", "SIGQUIT: quit"},
	{"SIGABRT", "SIGABRT: abort\nPC=0x481141 m=0 sigcode=0\n", "SIGABRT: abort"},
	{"unknown text", "\n\n  something else\nmore\n", "something else"},
	{"not a signal", "SIGNAL: x\nSIGquit: y\n", "SIGNAL: x"},
}

func TestCrashMessage(t *testing.T) {
	for _, tt := range crashSamples {
		t.Run(tt.name, func(t *testing.T) {
			if got := crashMessage([]byte(tt.body)); got != tt.want {
				t.Errorf("crashMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzCrashMessage: any text gives one line, taken from the text.
func FuzzCrashMessage(f *testing.F) {
	for _, s := range crashSamples {
		f.Add(s.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := crashMessage([]byte(body))
		if strings.Contains(got, "\n") {
			t.Fatalf("message %q spans lines", got)
		}
		plain := strings.TrimPrefix(got, "fatal error (its message is on stderr only, golang/go#76859): ")
		if first, _, _ := strings.Cut(plain, " "); got != "" && !strings.Contains(body, first) {
			t.Fatalf("message %q is not from the text %q", got, body)
		}
	})
}

// TestCrashFileInUse: CrashFile, which the start line reports, names the file the
// crash output goes to, the default one by default (the executable's
// name and a hash of its path), and "" once it is off.
func TestCrashFileInUse(t *testing.T) {
	r := newRecorder(t)
	if _, err := r.SetCrashFile(CrashConfig{}); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	want := filepath.Join(os.TempDir(), defaultCrashName(exe))
	if got := r.CrashFile(); got != want {
		t.Errorf("r.CrashFile() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(filepath.Base(want), filepath.Base(exe)+"-") {
		t.Errorf("default name %q does not start with the executable's name", want)
	}
	r.End()
	if got := r.CrashFile(); got != "" {
		t.Errorf("after endCrash, r.CrashFile() = %q, want \"\"", got)
	}
	noFile(t, want)
}

// TestInitCrashLines: SetCrashFile logs nothing itself; it returns the Error
// line about the previous crash for its caller to write.
func TestInitCrashLines(t *testing.T) {
	r := newRecorder(t)
	file := filepath.Join(t.TempDir(), "app.crash")
	os.WriteFile(file, []byte(headerPrefix+" pid=1 exe=\"/bin/x\"\npanic: boom\n"), 0o600)
	lines, err := r.SetCrashFile(CrashConfig{Path: file})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Level != slog.LevelError || lines[0].Msg != "tune: the previous run crashed" {
		t.Fatalf("lines = %+v, want one Error line about the crash", lines)
	}
	attrs := map[string]string{}
	for _, a := range lines[0].Attrs {
		attrs[a.Key] = a.Value.String()
	}
	if attrs["message"] != "panic: boom" || attrs["file"] != file+".1" || attrs["executable"] != "/bin/x" {
		t.Errorf("attributes %v", attrs)
	}
}

func TestDefaultCrashName(t *testing.T) {
	a, b := defaultCrashName("/srv/o1/server"), defaultCrashName("/srv/o2/server")
	if a == b || !strings.HasPrefix(a, "server-") || !strings.HasSuffix(a, ".crash") || len(a) != len("server-01234567.crash") {
		t.Errorf("defaultCrashName gave %q and %q: want server-<8 hex>.crash, different", a, b)
	}
	if a != defaultCrashName("/srv/o1/server") {
		t.Error("defaultCrashName is not stable")
	}
}

func TestIsStaleName(t *testing.T) {
	const base, sibling = "server-0123abcd.crash", "server-"
	for _, tt := range []struct {
		name     string
		siblings bool
		want     bool
	}{
		{"server-0123abcd.crash.pid42", false, true},
		{"server-0123abcd.crash.pid", false, false},
		{"server-0123abcd.crash.pid4x", false, false},
		{"server-0123abcd.crash.new12345", false, true},
		{"server-0123abcd.crash.1", true, false},
		{"server-89abcdef.crash", true, true},
		{"server-89abcdef.crash", false, false},
		{"server-89abcdeg.crash", true, false},
		{"server-89abcdef0.crash", true, false},
		{"server-89abcdef.crash.1", true, false},
		{"other-89abcdef.crash", true, false},
	} {
		if got := isStaleName(tt.name, base, sibling, tt.siblings); got != tt.want {
			t.Errorf("isStaleName(%q, siblings %v) = %v, want %v", tt.name, tt.siblings, got, tt.want)
		}
	}
}

func TestFileType(t *testing.T) {
	fi, err := os.Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for m, want := range map[os.FileMode]string{
		fi.Mode():                          "directory",
		os.ModeDir | os.ModeSticky | 0o777: "directory",
		os.ModeNamedPipe:                   "named pipe",
		os.ModeSocket:                      "socket",
		os.ModeDevice | os.ModeCharDevice:  "character device",
		os.ModeDevice:                      "block device",
		os.ModeIrregular:                   "irregular file",
	} {
		if got := fileType(m); got != want {
			t.Errorf("fileType(%v) = %q, want %q", m, got, want)
		}
	}
}

var headerSamples = []struct {
	line string
	want headerInfo
}{
	{`tune crash file: pid=7 exe="/srv/app" start=2026-01-01T00:00:00Z version=v1 revision=abc go=go1.26`,
		headerInfo{exe: "/srv/app", pid: 7, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
	{`tune crash file: pid=7 exe="/srv/a b\"c" start=x`, headerInfo{exe: `/srv/a b"c`, pid: 7}},
	{`tune crash file: pid=7`, headerInfo{pid: 7}},
	{`tune crash file: pid=7 exe="/unterminated`, headerInfo{pid: 7}},
	{`tune crash file: pid=7 exe=/not/quoted`, headerInfo{pid: 7}},
	{`tune crash file: pid=x exe="/a start=2026-01-01T00:00:00Z"`, headerInfo{exe: "/a start=2026-01-01T00:00:00Z"}},
	{`tune crash file: pid=9 exe="/a" start=2026-01-01T00:00:00.5Z version=v1 revision=r go=go1.26 critical=1 oom_kill=0000000003@4026531835,0000000000@77`,
		headerInfo{exe: "/a", pid: 9, start: time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC), critical: true,
			oom: []GroupCount{{Ino: 4026531835, Count: 3}, {Ino: 77}}}},
	{`tune crash file: pid=9 exe="/a" go=go1.26 critical=0 oom_kill=none`, headerInfo{exe: "/a", pid: 9}},
	{`tune crash file: pid=9 exe="/a" critical=yes oom_kill=x@1,1@x,2@0,5@6`, headerInfo{exe: "/a", pid: 9, oom: []GroupCount{{Ino: 6, Count: 5}}}},
}

func TestParseHeader(t *testing.T) {
	for _, tt := range headerSamples {
		if got := parseHeader(tt.line); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseHeader(%q) =\n%+v, want\n%+v", tt.line, got, tt.want)
		}
	}
	start := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, exe := range []string{"/srv/app", "/tmp/go-build1/b001/exe/main", `C:\a "b"\x.exe`, "/\xff/odd", "/a critical=1 oom_kill=1@2"} {
		for _, oom := range [][]GroupCount{nil, {{Ino: 12, Count: 1}}, {{Ino: 1, Count: maxCount + 5}, {Ino: 2}}} {
			h := headerInfo{exe: exe, pid: 42, start: start, critical: len(oom) == 1, oom: oom}
			line, _, _ := strings.Cut(h.line(), "\n")
			got := parseHeader(line)
			want := h
			want.oom = nil
			for _, g := range oom {
				want.oom = append(want.oom, GroupCount{Ino: g.Ino, Count: min(g.Count, maxCount)})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parseHeader(%q) =\n%+v, want\n%+v", line, got, want)
			}
		}
	}
}

// TestHeaderFixedWidth: the header keeps its length whatever the pressure
// and the counts, so that it can be rewritten in place.
func TestHeaderFixedWidth(t *testing.T) {
	h := headerInfo{exe: "/srv/app", pid: 1, start: time.Now(), oom: []GroupCount{{Ino: 5}, {Ino: 123456789}}}
	n := len(h.line())
	h.critical = true
	h.oom = raiseCounts(h.oom, []GroupCount{{Ino: 5, Count: 7}, {Ino: 123456789, Count: 1 << 40}, {Ino: 9, Count: 3}})
	if got := len(h.line()); got != n {
		t.Errorf("header length %d after a change, %d before:\n%s", got, n, h.line())
	}
	if h.oom[0].Count != 7 || h.oom[1].Count != 1<<40 || len(h.oom) != 2 {
		t.Errorf("raiseCounts: %+v", h.oom)
	}
	if got := raiseCounts(h.oom, []GroupCount{{Ino: 5, Count: 1}}); got[0].Count != 7 {
		t.Errorf("a count fell: %+v", got)
	}
}

// FuzzParseHeader: any first line gives an answer without panicking, and
// the header tune writes gives back what it recorded.
func FuzzParseHeader(f *testing.F) {
	for _, s := range headerSamples {
		f.Add(s.line, uint64(3), uint64(99))
	}
	f.Fuzz(func(t *testing.T, s string, count, ino uint64) {
		parseHeader(s)
		h := headerInfo{exe: s, pid: 1, start: time.Unix(0, 0).UTC(), critical: true}
		if ino != 0 {
			h.oom = []GroupCount{{Ino: ino, Count: min(count, maxCount)}}
		}
		line, _, _ := strings.Cut(h.line(), "\n")
		if got := parseHeader(line); !reflect.DeepEqual(got, h) {
			t.Fatalf("parseHeader(%q) = %+v, want %+v", line, got, h)
		}
	})
}

func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (err %v), want no such file", path, err)
	}
}

// TestCrashHugeLine: a report of one line of megabytes gives a Message,
// an Exit.Reason and an Error line of at most a few KiB; the file keeps
// the whole text (issue 21, item 9).
func TestCrashHugeLine(t *testing.T) {
	for _, n := range []int{900 << 10, 3 << 20} {
		r := newRecorder(t)
		file := filepath.Join(t.TempDir(), "app.crash")
		huge := "panic: " + strings.Repeat("é", n/2)
		content := headerPrefix + " pid=1 exe=\"/bin/x\"\n" + huge + "\n"
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		notes, err := r.SetCrashFile(CrashConfig{Path: file})
		if err != nil {
			t.Fatal(err)
		}
		c, e := r.Previous()
		if c == nil || e == nil {
			t.Fatalf("%d bytes: no previous crash", n)
		}
		if len(c.Message) > maxMessage || !strings.HasPrefix(c.Message, "panic: éé") || !utf8.ValidString(c.Message) {
			t.Errorf("%d bytes: Message of %d bytes (valid UTF-8 %v), want at most %d, starting with the panic", n, len(c.Message), utf8.ValidString(c.Message), maxMessage)
		}
		if len(e.Reason) > 2*maxMessage {
			t.Errorf("%d bytes: Reason of %d bytes", n, len(e.Reason))
		}
		for _, l := range notes {
			size := len(l.Msg)
			for _, a := range l.Attrs {
				size += len(a.Value.String())
			}
			if size > 4*maxMessage {
				t.Errorf("%d bytes: a line of %d bytes: %.80s", n, size, l.Msg)
			}
		}
		if got, _ := os.ReadFile(file + ".1"); string(got) != content {
			t.Errorf("%d bytes: the report file holds %d bytes, want all %d", n, len(got), len(content))
		}
	}
}
