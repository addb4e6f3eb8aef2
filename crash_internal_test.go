package tune

import (
	"strings"
	"testing"
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
