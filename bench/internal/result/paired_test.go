package result

import "testing"

// TestPairedRatio: a neighbour's load that halves every mode's throughput
// in some rounds moves the ratio of the medians, not the per-round ratio.
func TestPairedRatio(t *testing.T) {
	s := Survival{Modes: map[string]*SurvivalMode{}}
	run := func(perCPU float64) SurvivalRun {
		return SurvivalRun{Survived: true, Result: &Workload{OpsPerCPUSec: perCPU}}
	}
	// Rounds 0 and 1 quiet, 2 and 3 loaded; tune was unlucky in its
	// median but matches automemlimit round by round.
	s.Modes["tune"] = &SurvivalMode{Runs: []SurvivalRun{run(100), run(50), run(50), run(51)}}
	s.Modes["automemlimit"] = &SurvivalMode{Runs: []SurvivalRun{run(100), run(100), run(50), run(50)}}
	s.Modes["tune"].Runs[1].Result.OpsPerCPUSec = 100 // round 1 quiet for both
	s.Modes["tune"].Runs[3].Result.OpsPerCPUSec = 40  // round 3: tune 0.8× of automemlimit
	for _, m := range s.Modes {
		m.Summarize()
	}
	if got := s.PairedRatio("tune", "automemlimit"); got != 1 {
		t.Errorf("PairedRatio = %v, want the median of 1, 1, 1, 0.8 = 1", got)
	}
	s.Modes["tune"].Runs[0] = SurvivalRun{} // killed: that round is left out
	if got := s.PairedRatio("tune", "automemlimit"); got != 1 {
		t.Errorf("PairedRatio without round 0 = %v, want 1", got)
	}
	if got := s.PairedRatio("tune", "nothing"); got != 0 {
		t.Errorf("PairedRatio against a missing mode = %v, want 0", got)
	}
}
