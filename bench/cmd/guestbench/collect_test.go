package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/vm"
)

// goodResults are one well-formed line's JSON for each result file.
func goodResults(t *testing.T) map[string]string {
	t.Helper()
	wl := func(mode string) *result.Workload {
		return &result.Workload{Tune: mode, Ops: 100, Seconds: 1, OpsPerSec: 100, OpsPerCPUSec: 50, GCCycles: 3}
	}
	surv := result.Survival{LimitBytes: 256 << 20, Live: "150MiB", Ops: 100, Rounds: 1, Modes: map[string]*result.SurvivalMode{}}
	for _, m := range result.SurvivalModes {
		r := result.SurvivalRun{Survived: true, Result: wl(map[string]string{"ceiling": "none"}[m] + m)}
		if m == "none" {
			r = result.SurvivalRun{Outcome: result.Outcome{Signal: "killed", ExitCode: -1, OOMKills: 1}}
		}
		surv.Modes[m] = &result.SurvivalMode{Runs: []result.SurvivalRun{r}}
		surv.Modes[m].Summarize()
	}
	high := result.MemoryHigh{HighBytes: 200 << 20, MaxBytes: 400 << 20, Live: "120MiB", Ops: 100, Rounds: 1, Modes: map[string]*result.MemoryHighMode{}}
	for _, m := range result.MemoryHighModes {
		high.Modes[m] = &result.MemoryHighMode{Runs: []result.MemoryHighRun{{Outcome: result.Outcome{PeakBytes: 1 << 20}, Result: *wl(m)}}}
		high.Modes[m].Summarize()
	}
	quota := result.Quota{CPUs: 4, QuotaCPUs: 2, Duration: "3s", Rounds: 1, Modes: map[string]*result.QuotaMode{}}
	for _, m := range result.QuotaModes {
		b := result.Burn{Tune: map[string]string{"runtime": "none", "tune": "tune"}[m], GOMAXPROCS: 2, Ops: 10, OpsPerSec: 5, SchedP99: 0.01, SchedSamples: 9}
		quota.Modes[m] = &result.QuotaMode{Runs: []result.QuotaRun{{Result: b, NrPeriods: 30}}}
		quota.Modes[m].Summarize()
	}
	react := result.Reaction{Interval: "1s", Trials: 1}
	for _, f := range []string{"memory.max", "memory.high"} {
		for _, k := range result.ReactionKinds {
			react.Add(f, k, []float64{0.9})
		}
	}
	out := map[string]string{}
	for name, v := range map[string]any{result.SurvivalFile: surv, result.MemoryHighFile: high, result.QuotaFile: quota, result.ReactionFile: react} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	return out
}

// console is a guest's console with the given output in each step.
func console(reaction, quota, survival string) string {
	var b strings.Builder
	b.WriteString("GOTUNE-VM-BOOTED 3.0\n")
	for _, s := range []struct{ name, out string }{{"reaction", reaction}, {"quota", quota}, {"survival", survival}} {
		b.WriteString("GOTUNE-VM-BEGIN " + s.name + " 4.0\n" + s.out)
		b.WriteString("GOTUNE-VM-RESULT " + s.name + " pass 0 5.0\n")
	}
	b.WriteString("GOTUNE-VM-DONE 3 6.0\n")
	return b.String()
}

func line(name, body string) string { return result.LinePrefix + " " + name + " " + body + "\n" }

func TestCollect(t *testing.T) {
	good := goodResults(t)
	ok := func(name string) string { return line(name, good[name]) }
	survival := ok(result.SurvivalFile) + "--- PASS: TestSurvival (1.00s)\n" + ok(result.MemoryHighFile)
	var quotaBad result.Quota
	json.Unmarshal([]byte(good[result.QuotaFile]), &quotaBad)
	quotaBad.Modes["tune"].Runs[0].Result.SchedP99 = 0
	quotaBadJSON, _ := json.Marshal(quotaBad)

	tests := []struct {
		name      string
		console   string
		wantErr   []string
		wantFiles int
	}{
		{"all there", console(ok(result.ReactionFile), ok(result.QuotaFile), survival), nil, 4},
		{"one missing", console(ok(result.ReactionFile), "", survival),
			[]string{"step quota printed no ancestor-quota.json result line"}, 3},
		{"repeated", console(ok(result.ReactionFile)+ok(result.ReactionFile), ok(result.QuotaFile), survival),
			[]string{"step reaction: a second reaction.json result line"}, 3},
		{"in the wrong step", console(ok(result.ReactionFile)+ok(result.QuotaFile), ok(result.QuotaFile), survival),
			[]string{`step reaction: unexpected result "ancestor-quota.json"`}, 4},
		{"cut into", console("[ 9.1] x "+ok(result.ReactionFile), ok(result.QuotaFile), survival),
			[]string{"step reaction: a result line cut into", "step reaction printed no reaction.json"}, 3},
		{"not JSON", console(line(result.ReactionFile, "{nope"), ok(result.QuotaFile), survival),
			[]string{"step reaction: reaction.json: invalid character"}, 3},
		{"cut short", console(line(result.ReactionFile, good[result.ReactionFile][:40]), ok(result.QuotaFile), survival),
			[]string{"step reaction: reaction.json: unexpected EOF"}, 3},
		{"unknown field", console(line(result.ReactionFile, `{"interval":"1s","trials":1,"changes":[],"extra":1}`), ok(result.QuotaFile), survival),
			[]string{`reaction.json: json: unknown field "extra"`}, 3},
		{"trailing data", console(line(result.ReactionFile, good[result.ReactionFile]+" {}"), ok(result.QuotaFile), survival),
			[]string{"reaction.json: more after the JSON value"}, 3},
		{"fails its check", console(ok(result.ReactionFile), line(result.QuotaFile, string(quotaBadJSON)), survival),
			[]string{"step quota: ancestor-quota.json: tune run 0 is implausible"}, 3},
		{"v1 reaction only", console(line(result.ReactionFile, `{"interval":"1s","trials":1,"changes":[]}`), ok(result.QuotaFile), survival),
			[]string{"reaction.json: no memory.max lowered", "no memory.high removed"}, 3},
		{"no name", console(result.LinePrefix+" {}\n", ok(result.QuotaFile), survival),
			[]string{"malformed result line"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := vm.Parse([]byte(tt.console), []string{"reaction", "quota", "survival"})
			if err != nil {
				t.Fatal(err)
			}
			found, err := collect(r, suites)
			if len(found) != tt.wantFiles {
				t.Errorf("%d files, want %d", len(found), tt.wantFiles)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	// A guest that stopped after the first step: the others' results are
	// failures, not skipped rows.
	r, _ := vm.Parse([]byte("GOTUNE-VM-BOOTED 3.0\nGOTUNE-VM-BEGIN reaction 4.0\n"+ok(result.ReactionFile)), []string{"reaction", "quota", "survival"})
	found, err := collect(r, suites)
	if len(found) != 1 || err == nil || !strings.Contains(err.Error(), "step quota did not run") || !strings.Contains(err.Error(), "step survival did not run") {
		t.Errorf("a guest cut short: %d files, %v", len(found), err)
	}
}

// FuzzResultLine: a line is split into a file name and JSON, or refused;
// never both, never a name with a space.
func FuzzResultLine(f *testing.F) {
	for _, s := range []string{
		result.LinePrefix + ` reaction.json {"interval":"1s"}`,
		result.LinePrefix + " {}",
		result.LinePrefix + " x.json",
		"[ 1.0] " + result.LinePrefix + " survival.json {}",
		result.LinePrefix + "  survival.json {}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, body, err := resultLine(line)
		if err != nil {
			if name != "" || body != nil {
				t.Fatalf("%q: an error and a result (%q, %q)", line, name, body)
			}
			return
		}
		if !strings.HasSuffix(name, ".json") || strings.Contains(name, " ") || len(body) == 0 || body[0] != '{' {
			t.Fatalf("%q: name %q, body %q", line, name, body)
		}
		if err := decode(name, body); err == nil && name != result.SurvivalFile && name != result.MemoryHighFile &&
			name != result.QuotaFile && name != result.ReactionFile {
			t.Fatalf("%q: an unknown file decoded", line)
		}
	})
}
