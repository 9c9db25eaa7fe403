package rules

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps this package free of dependencies: the
// root package's domain types and the API client import it, and must stay
// light.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasSuffix(dep, "/internal/firewall/rules") {
			t.Errorf("the rules package depends on %s: it must use the standard library only", dep)
		}
	}
}
