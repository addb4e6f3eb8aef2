package tune_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// markerLine returns file:line of the line in file (a path in this
// module) that holds marker.
func markerLine(t *testing.T, file, marker string) string {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "// marker: "+marker) {
			return fmt.Sprintf("%s:%d", abs, i+1)
		}
	}
	t.Fatalf("no marker %q in %s", marker, file)
	return ""
}

// TestLeakReportNamesCreator: a real program leaks a tracked object and
// the Warn line names both the Track call (tracked_at, in the
// constructor) and the code that asked the constructor for the object
// (created_by): past the library's own helper, and, for a constructor in
// package main called from a handler that net/http runs, the handler.
func TestLeakReportNamesCreator(t *testing.T) {
	t.Parallel()
	bin := build(t, "./internal/testprog/leaker")
	const dir = "internal/testprog/leaker"
	for _, tt := range []struct {
		mode, tracked, created string
	}{
		{"library", markerLine(t, dir+"/db/db.go", "tracked in db"), markerLine(t, dir+"/main.go", "created in main (library)")},
		{"main", markerLine(t, dir+"/main.go", "tracked in main"), markerLine(t, dir+"/main.go", "created in main (main)")},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			cmd := exec.Command(bin, tt.mode)
			cmd.Env = cleanEnv()
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("leaker %s: %v\n%s", tt.mode, err, out)
			}
			var line struct {
				Level, Msg, Kind string
				TrackedAt        string `json:"tracked_at"`
				CreatedBy        string `json:"created_by"`
				LeakedHere       int    `json:"leaked_here"`
			}
			if err := json.Unmarshal(out, &line); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if line.Level != "WARN" || line.TrackedAt != tt.tracked || line.CreatedBy != tt.created || line.LeakedHere != 1 {
				t.Errorf("leak report %s\nwant tracked_at %s, created_by %s", out, tt.tracked, tt.created)
			}
		})
	}
}
