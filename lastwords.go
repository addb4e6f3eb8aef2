package tune

// Last words: when the memory pressure rises to Critical, the refresh
// loop hands what it measured to the recorder (internal/postmortem, which
// documents the files), which marks the crash file's header and, at most
// once per Options.LastWordsInterval, writes a heap profile, the
// goroutines, the flight recorder's trace and a summary beside the crash
// file, and the summary to the termination message file.

import (
	"github.com/runtimehooks/tune/internal/cgroup"
	"github.com/runtimehooks/tune/internal/postmortem"
)

// lastWordsInput is what the loop knows at the moment the level rose to
// Critical.
type lastWordsInput struct {
	Event  PressureEvent
	Report *Report       // the published report (limits, GOMEMLIMIT, GOMAXPROCS)
	Stats  *cgroup.Stats // the kernel's view of the group; nil when not read
}

// lastWords is called by the refresh loop, on its goroutine, each time the
// pressure level rises to Critical.
func (o *owner) lastWords(in lastWordsInput) {
	ev := in.Event
	m := postmortem.Moment{Pressure: ev.Level.String(), Signal: string(ev.Signal), GCCPUFraction: ev.GCCPUFraction,
		MemoryInUse: ev.MemoryInUse, GOMEMLIMIT: ev.GOMEMLIMIT, Stats: in.Stats}
	if in.Stats != nil {
		m.Reader = o.sr
	}
	if in.Report != nil {
		m.Limit = in.Report.Memory.Limit
	}
	recorder.Critical(m, postmortem.LastWords{Interval: o.c.lastWords, TerminationLog: o.c.termLog, Log: logFunc(o.c.logger)})
}

// leftCritical is called by the refresh loop when the level falls from
// Critical: a run that ends from here on did not end at Critical.
func (o *owner) leftCritical() { recorder.LeftCritical() }
