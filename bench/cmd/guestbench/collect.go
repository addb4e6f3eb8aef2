package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runtimehooks/tune/bench/internal/result"
	"github.com/runtimehooks/tune/internal/vm"
)

// collect reads the result lines each step printed on the console: for
// every suite, each of its result files exactly once, at the start of a
// line, as well-formed JSON of the file's type that passes its Check. It
// returns the lines' JSON by file name, for those that are, and an error
// for everything else: a step that never ran, a line missing, repeated,
// unexpected, cut into or malformed.
func collect(r vm.Run, suites []suite) (map[string][]byte, error) {
	found := map[string][]byte{}
	var errs []error
	for i, s := range suites {
		if i >= len(r.Results) {
			errs = append(errs, fmt.Errorf("step %s did not run: no %s", s.step, strings.Join(s.results, ", ")))
			continue
		}
		seen := map[string]bool{}
		for _, line := range r.Results[i].Output {
			if !strings.Contains(line, result.LinePrefix) {
				continue
			}
			name, body, err := resultLine(line)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("step %s: %w", s.step, err))
				continue
			case !slices.Contains(s.results, name):
				errs = append(errs, fmt.Errorf("step %s: unexpected result %q (want %s)", s.step, name, strings.Join(s.results, ", ")))
				continue
			case seen[name]:
				errs = append(errs, fmt.Errorf("step %s: a second %s result line", s.step, name))
				delete(found, name)
				continue
			}
			seen[name] = true
			if err := decode(name, body); err != nil {
				errs = append(errs, fmt.Errorf("step %s: %w", s.step, err))
				continue
			}
			var indented bytes.Buffer
			json.Indent(&indented, body, "", "  ") // valid: decode read it
			found[name] = append(indented.Bytes(), '\n')
		}
		for _, name := range s.results {
			if !seen[name] {
				errs = append(errs, fmt.Errorf("step %s printed no %s result line", s.step, name))
			}
		}
	}
	return found, errors.Join(errs...)
}

// resultLine splits "GOTUNE-BENCH-RESULT <file> <JSON>".
func resultLine(line string) (name string, body []byte, err error) {
	rest, ok := strings.CutPrefix(line, result.LinePrefix+" ")
	if !ok {
		return "", nil, fmt.Errorf("a result line cut into (it does not start the line): %.80q", line)
	}
	name, js, ok := strings.Cut(rest, " ")
	if !ok || name == "" || !strings.HasSuffix(name, ".json") || !strings.HasPrefix(js, "{") {
		return "", nil, fmt.Errorf("malformed result line, want %s <file>.json {...}: %.80q", result.LinePrefix, line)
	}
	return name, []byte(js), nil
}

// decode reads body as the result file name strictly (no unknown field,
// nothing after the value) and checks it with the file type's Check.
func decode(name string, body []byte) error {
	var target any
	var check func() error
	switch name {
	case result.SurvivalFile:
		v := new(result.Survival)
		target, check = v, v.Check
	case result.MemoryHighFile:
		v := new(result.MemoryHigh)
		target, check = v, v.Check
	case result.QuotaFile:
		v := new(result.Quota)
		target, check = v, v.Check
	case result.ReactionFile:
		v := new(result.Reaction)
		target, check = v, func() error { return v.Check("memory.max", "memory.high") }
	default:
		return fmt.Errorf("no decoder for result %s", name)
	}
	if err := result.Decode(body, target); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return check()
}
