package result

import (
	"errors"
	"fmt"
	"slices"
)

// ReactionFile is the reaction measurement's result file.
const ReactionFile = "reaction.json"

// Reaction is how fast GOMEMLIMIT followed each kind of change of a limit
// file under tune's default refresh interval.
type Reaction struct {
	Interval string           `json:"interval"`
	Trials   int              `json:"trials"`
	Changes  []ReactionChange `json:"changes"`
}

// ReactionChange is one kind of change of one file ("memory.max",
// "lowered"), timed Trials times.
type ReactionChange struct {
	File    string    `json:"file"`
	Change  string    `json:"change"` // lowered, raised or removed
	Seconds []float64 `json:"seconds"`
	Max     float64   `json:"max_seconds"`
	Median  float64   `json:"median_seconds"`
}

// ReactionKinds are the changes each file goes through, in order.
var ReactionKinds = []string{"lowered", "raised", "removed"}

// Add records the trials of one change, with their maximum and median.
func (r *Reaction) Add(file, change string, seconds []float64) {
	c := ReactionChange{File: file, Change: change, Seconds: seconds, Median: Median(seconds)}
	if len(seconds) > 0 {
		c.Max = slices.Max(seconds)
	}
	r.Changes = append(r.Changes, c)
}

// Check reports what makes r malformed: for every file, each kind of
// change must be there once, with Trials non-negative times. files are
// the files that must be there.
func (r *Reaction) Check(files ...string) error {
	if r.Trials <= 0 {
		return fmt.Errorf("%s: %d trials", ReactionFile, r.Trials)
	}
	var errs []error
	seen := map[[2]string]bool{}
	for _, c := range r.Changes {
		k := [2]string{c.File, c.Change}
		switch {
		case !slices.Contains(files, c.File) || !slices.Contains(ReactionKinds, c.Change):
			errs = append(errs, fmt.Errorf("%s: unexpected change %s %s", ReactionFile, c.File, c.Change))
		case seen[k]:
			errs = append(errs, fmt.Errorf("%s: %s %s twice", ReactionFile, c.File, c.Change))
		case len(c.Seconds) != r.Trials || slices.Min(c.Seconds) < 0 || c.Max != slices.Max(c.Seconds):
			errs = append(errs, fmt.Errorf("%s: %s %s: %d times %v (max %v), want %d, none negative", ReactionFile, c.File, c.Change, len(c.Seconds), c.Seconds, c.Max, r.Trials))
		}
		seen[k] = true
	}
	for _, f := range files {
		for _, k := range ReactionKinds {
			if !seen[[2]string{f, k}] {
				errs = append(errs, fmt.Errorf("%s: no %s %s", ReactionFile, f, k))
			}
		}
	}
	return errors.Join(errs...)
}

// FollowerLine is one line of cmd/follower's output: when (Unix
// nanoseconds, wall clock) it saw GOMEMLIMIT at this value. The first line
// also says what GOMEMLIMIT was before tune.Init (Before), which is what
// tune restores when the limit goes away.
type FollowerLine struct {
	T          int64 `json:"t"`
	GOMEMLIMIT int64 `json:"gomemlimit"`
	Before     int64 `json:"before,omitempty"`
}
