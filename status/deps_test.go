package status

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBlankImportLinksNoPage: what every program links (the root package
// and the blank import tune/auto) pulls in neither this package nor
// html/template, whose reflection keeps methods alive across a whole
// binary; this package itself does (the control).
func TestBlankImportLinksNoPage(t *testing.T) {
	const self = "github.com/runtimehooks/tune/status"
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	if d := deps("."); !slices.Contains(d, "html/template") || !slices.Contains(d, self) {
		t.Fatalf("control: go list -deps %s lacks html/template or itself: %v", self, d)
	}
	for _, pkg := range []string{"github.com/runtimehooks/tune", "github.com/runtimehooks/tune/auto"} {
		for _, bad := range []string{"html/template", self} {
			if slices.Contains(deps(pkg), bad) {
				t.Errorf("go list -deps %s lists %s: every program with the blank import would link it", pkg, bad)
			}
		}
	}
}
