package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/runtimehooks/tune"
)

// watchLine is one line of `tune -watch`: the limits, what is in effect and
// tune's last action on it. Its keys follow the report's: null means none.
type watchLine struct {
	Time   time.Time `json:"time"`
	Memory struct {
		Limit      *int64      `json:"limit_bytes"`
		GOMEMLIMIT *int64      `json:"gomemlimit_bytes"`
		Action     tune.Action `json:"action"` // as in the report: set, restored, unchanged
	} `json:"memory"`
	CPU struct {
		Quota      *float64    `json:"quota_cores"`
		GOMAXPROCS int         `json:"gomaxprocs"`
		Action     tune.Action `json:"action"` // as in the report: set, runtime (handed back), unchanged
	} `json:"cpu"`
	Pressure struct {
		Level          tune.PressureLevel `json:"level"`
		GCCPUFraction  float64            `json:"gc_cpu_fraction"`
		MemoryInUse    uint64             `json:"memory_in_use_bytes"`
		LimiterEngaged bool               `json:"limiter_engaged"`
	} `json:"pressure"`
}

// watchState is what a change is: a new line is printed when it differs.
type watchState struct {
	limit, gomemlimit    int64
	quota                float64
	gomaxprocs           int
	memAction, cpuAction tune.Action
	level                tune.PressureLevel
}

func snapshot() (watchState, watchLine) {
	rep, p := tune.Current(), tune.Pressure()
	s := watchState{
		limit: rep.Memory.Limit, gomemlimit: debug.SetMemoryLimit(-1),
		quota: rep.CPU.Quota, gomaxprocs: runtime.GOMAXPROCS(0), level: p.Level,
		memAction: rep.Memory.Action, cpuAction: rep.CPU.Action,
	}
	var l watchLine
	l.Time = time.Now().UTC()
	if s.limit > 0 {
		l.Memory.Limit = &s.limit
	}
	if s.gomemlimit != math.MaxInt64 {
		l.Memory.GOMEMLIMIT = &s.gomemlimit
	}
	if s.quota > 0 {
		l.CPU.Quota = &s.quota
	}
	l.CPU.GOMAXPROCS = s.gomaxprocs
	l.Memory.Action, l.CPU.Action = s.memAction, s.cpuAction
	l.Pressure.Level, l.Pressure.GCCPUFraction = p.Level, p.GCCPUFraction
	l.Pressure.MemoryInUse, l.Pressure.LimiterEngaged = p.MemoryInUse, p.LimiterEngaged
	return s, l
}

// notifyHandler passes records on to a handler and pokes a channel: every
// change the library makes is logged, so each record is a cue to look.
type notifyHandler struct {
	slog.Handler
	notify chan<- struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	poke(h.notify)
	return h.Handler.Handle(ctx, r)
}

func (h notifyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return notifyHandler{h.Handler.WithAttrs(as), h.notify}
}

func (h notifyHandler) WithGroup(name string) slog.Handler {
	return notifyHandler{h.Handler.WithGroup(name), h.notify}
}

func poke(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// watchPoll is how often watch looks even without a cue.
const watchPoll = time.Second

// watch runs tune.Init with the refresh loop (GOTUNE_REFRESH sets its
// interval) and prints one JSON line per change of the limits, GOMEMLIMIT,
// GOMAXPROCS or the pressure level until ctx ends; the first line is the
// state right after Init, preceded with asJSON by the full report on one
// line. The library's log lines go to stderr. It returns the exit status.
func watch(ctx context.Context, stdout, stderr io.Writer, asJSON bool) int {
	cue := make(chan struct{}, 1)
	opts := tune.Options{
		Logger:     slog.New(notifyHandler{slog.NewTextHandler(stderr, nil), cue}),
		CrashFile:  "off",
		OnPressure: func(tune.PressureEvent) { poke(cue) },
	}
	rep, initErr := tune.Init(opts)
	defer tune.Stop()
	enc := json.NewEncoder(stdout)
	if asJSON {
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "tune:", err)
			return 1
		}
	}
	last, line := snapshot()
	if err := enc.Encode(line); err != nil {
		fmt.Fprintln(stderr, "tune:", err)
		return 1
	}
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if initErr != nil {
				return 1
			}
			return 0
		case <-cue:
		case <-t.C:
		}
		s, line := snapshot()
		if s == last {
			continue
		}
		last = s
		if err := enc.Encode(line); err != nil {
			fmt.Fprintln(stderr, "tune:", err)
			return 1
		}
	}
}
