package tune

// Last words: the evidence tune leaves when the memory pressure reaches
// Critical, before the OOM killer may strike. (Being built: see issue 11.)

import "github.com/runtimehooks/tune/internal/cgroup"

// lastWordsInput is what the loop knows at the moment the level rose to
// Critical.
type lastWordsInput struct {
	Event  PressureEvent
	Report *Report       // the published report (limits, GOMEMLIMIT, GOMAXPROCS)
	Stats  *cgroup.Stats // the kernel's view of the group; nil when not read
}

// lastWords is called by the refresh loop, on its goroutine, each time the
// pressure level rises to Critical. It must not block for long and must
// not allocate in the steady state (it runs only at Critical).
func (o *owner) lastWords(in lastWordsInput) {}
