package postmortem

// Reading what a previous run left in its crash file: the report, and
// the line of it that says the most.

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// readCrash reads f and returns the crash it holds, or nil when it holds
// nothing beyond a header line.
func readCrash(f *os.File) (*Crash, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxCrashText+1))
	if err != nil {
		return nil, err // "read <path>: …"
	}
	first, body, _ := bytes.Cut(b, []byte("\n"))
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	text := string(b)
	if len(b) > maxCrashText {
		text = string(b[:maxCrashText]) + "\n[cut at 1 MiB: the whole report is in the file]\n"
	}
	return &Crash{Message: crashMessage(body), Text: text, Time: fi.ModTime(), Executable: parseHeader(string(first)).exe}, nil
}

// maxMessage bounds Crash.Message (and so Exit.Reason and the Error line
// at start): a report of one huge line must not make a log line of a
// megabyte. The report file and Crash.Text keep the text.
const maxMessage = 1 << 10

// crashMessage picks the report's most telling line: a panic, a fatal
// error, a signal, else the goroutine that threw with its top frame (a
// fatal error's own line is not copied to the file: golang/go#76859). It
// is cut at maxMessage bytes.
func crashMessage(body []byte) string {
	return cutText(pickMessage(body), maxMessage)
}

// cutText cuts s to at most max bytes at a character's start, saying so.
func cutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = " [cut: the whole report is in the crash file]"
	i := max - len(more)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + more
}

func pickMessage(body []byte) string {
	var first, sig, gor string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "panic: "), strings.HasPrefix(line, "fatal error: "):
			return line
		case sig == "" && isSignalLine(line):
			sig = line
		case gor == "" && strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			gor = line
			if sc.Scan() {
				fn, _, _ := strings.Cut(strings.TrimSpace(sc.Text()), "(")
				gor = "fatal error (its message is on stderr only, golang/go#76859): " + line + " " + fn
			}
		}
		if first == "" {
			first = line
		}
	}
	switch {
	case sig != "":
		return sig
	case gor != "":
		return gor
	}
	return first
}

// isSignalLine reports whether line is the runtime's "SIGQUIT: quit" kind.
func isSignalLine(line string) bool {
	name, _, ok := strings.Cut(line, ": ")
	if !ok || len(name) < 4 || !strings.HasPrefix(name, "SIG") {
		return false
	}
	for _, r := range name[3:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
