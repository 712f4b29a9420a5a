package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfig feeds arbitrary TOML to parseConfig: it must never panic, and
// every error it returns names the file.
func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob("../testdata/config/*.toml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[server]\n[server.rrl]\nresponses_per_second = 20\nexempt = [\"10.0.0.0/8\", \"::1\"]\n"))
	f.Add([]byte("[[service]]\nname = \"x.\"\nmap = { \"net:10.0.0.0/8\" = [\"ams\"], \"asn:1\" = [] }\n"))
	f.Add([]byte("a = [[[[1]]]]\n[x.y.z]\n'q' = 1e400\n"))
	const path = "/nonexistent/fuzz/godwit.toml" // paths resolve against its directory; nothing is read
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		cfg, err := parseConfig(path, data)
		if err != nil {
			for _, e := range unjoin(err) {
				var ce *ConfigError
				if !errors.As(e, &ce) && !strings.Contains(e.Error(), path) {
					t.Fatalf("error without the file: %v", e)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		_ = cfg.Describe()
	})
}
