package main

import (
	"encoding/json"
	"testing"

	"github.com/runtimehooks/tune/internal/cgrouptest"
)

// TestJSONOmitsUnknown: a one-shot `tune -json` reads the group's memory
// usage but runs no loop, so it cannot tell Go's share of it: the report
// leaves not_go_memory_bytes out instead of saying 0.
func TestJSONOmitsUnknown(t *testing.T) {
	stdout, stderr, code := runTuneBin(t, buildTune(t), "-json")
	var doc struct {
		Cgroup struct {
			Mode string `json:"mode"`
		} `json:"cgroup"`
		Kernel map[string]json.RawMessage `json:"kernel"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("tune -json (exit %d): %v\n%s\n%s", code, err, stdout, stderr)
	}
	if _, ok := doc.Kernel["memory_usage_bytes"]; !ok {
		cgrouptest.Unavailable(t, "tune -json read no memory usage (cgroup mode %q): %s", doc.Cgroup.Mode, stdout)
	}
	if v, ok := doc.Kernel["not_go_memory_bytes"]; ok {
		t.Errorf("tune -json reports not_go_memory_bytes %s without a measurement of Go's memory:\n%s", v, stdout)
	}
}
