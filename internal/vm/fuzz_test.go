package vm

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: whatever a guest prints, Parse ends without panicking, and
// when it finds no error the console holds every step's result, in order.
func FuzzParse(f *testing.F) {
	consoles, _ := filepath.Glob(filepath.Join("testdata", "console", "*.console"))
	for _, c := range consoles {
		b, err := os.ReadFile(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("GOTUNE-VM-BOOTED 1\nGOTUNE-VM-BEGIN tune 2\n--- PASS: TestA (0.01s)\nGOTUNE-VM-RESULT tune pass 0 3\nGOTUNE-VM-DONE 1 3\n"))
	f.Add([]byte("GOTUNE-VM-BOOTED 1\nGOTUNE-VM-BEGIN tune 2\nGOTUNE-VM-RESULT tune fail 2 3\nGOTUNE-VM-BEGIN tune 4\n"))
	f.Add([]byte("x GOTUNE-VM-DONE 0 1\n\x1bcGOTUNE-VM-ERROR no\n"))
	f.Fuzz(func(t *testing.T, console []byte) {
		r, err := Parse(console, laneSteps)
		if err != nil {
			return
		}
		if len(r.Results) != len(laneSteps) {
			t.Fatalf("no error with %d results of %d steps", len(r.Results), len(laneSteps))
		}
		for i, res := range r.Results {
			if res.Step != laneSteps[i] || !res.Ended || res.Pass != (res.Code == 0) {
				t.Fatalf("no error with result %d: %+v", i, res)
			}
		}
	})
}
