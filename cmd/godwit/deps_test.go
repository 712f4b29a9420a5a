package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedDeps is DESIGN.md's one-way order of imports: for each package of
// this module, the packages of this module it may import. internal/ helpers
// that import nothing of ours may be imported by any package.
var allowedDeps = map[string][]string{
	"geo":     {},
	"routes":  {},
	"health":  {},
	"dnssec":  {},
	"cluster": {},
	"status":  {},
	"zones":   {"geo", "routes", "health"},
	"dns":     {"zones", "dnssec", "geo", "routes", "health"},
	"server":  {"dns", "zones", "dnssec", "cluster", "geo", "routes", "health", "status"},
}

// TestImportOrder fails when a package imports against the order in
// DESIGN.md (go list reads the imports of the non-test files).
func TestImportOrder(t *testing.T) {
	const mod = "github.com/godwit-dns/godwit/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := strings.CutPrefix(fields[0], mod)
		if !ok || strings.HasPrefix(pkg, "cmd/") || strings.HasPrefix(pkg, "testdata/") {
			continue
		}
		top, _, _ := strings.Cut(pkg, "/")
		allowed, known := allowedDeps[top]
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours || strings.HasPrefix(dep, "internal/") || strings.HasPrefix(dep, top+"/") || dep == top {
				continue
			}
			if !known {
				t.Errorf("%s imports %s: add %s to allowedDeps (and to DESIGN.md's package map)", pkg, dep, top)
				continue
			}
			depTop, _, _ := strings.Cut(dep, "/")
			if !slices.Contains(allowed, depTop) {
				t.Errorf("%s imports %s, against the order in DESIGN.md", pkg, dep)
			}
		}
	}
}
