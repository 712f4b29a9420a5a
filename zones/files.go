package zones

import (
	"os"
	"path/filepath"
	"strings"
)

// ZoneFiles lists the zone files of dir as LoadDir reads them: every
// "*.zone" entry that is not hidden and not a directory, in name order.
// The runtime uses it to reload a directory file by file by the same rule.
func ZoneFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !IsZoneFile(e.Name()) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out, nil
}

// IsZoneFile reports whether a directory entry named name is a zone file:
// "*.zone", not hidden.
func IsZoneFile(name string) bool {
	return strings.HasSuffix(name, ".zone") && !strings.HasPrefix(name, ".")
}
