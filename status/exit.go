package status

import (
	"fmt"

	"github.com/runtimehooks/tune"
)

// exitView is how the previous run ended, for people.
type exitView struct {
	Kind, Summary, Reason, Crash string
	LastWords                    []string
}

// previousExit puts the previous run's end in words; nil when Init found
// none.
func previousExit(e *tune.Exit) *exitView {
	if e == nil {
		return nil
	}
	v := &exitView{Kind: string(e.Kind), Reason: e.Reason, LastWords: e.LastWords}
	v.Summary = fmt.Sprintf("pid %d (%s), started %s", e.PID, e.Executable, e.Start.UTC().Format("2006-01-02 15:04:05 UTC"))
	if c := e.Crash; c != nil && c.Path != "" {
		v.Crash = "its crash report is kept in " + c.Path
	}
	return v
}
