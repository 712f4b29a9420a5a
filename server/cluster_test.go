package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "godwit.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterConfigInstance: one config file for every instance; each is
// named by -nsid when [cluster] names no instance, and relative credential
// paths resolve against the config's directory.
func TestClusterConfigInstance(t *testing.T) {
	path := writeConfig(t, "[cluster]\nengine = \"nats\"\nurls = [\"nats://127.0.0.1:4222\"]\nname = \"c\"\nuser_file = \"u\"\npassword_file = \"p\"\n")
	cfg, err := LoadConfig(path, Flags{NSID: "ns2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Instance != "ns2" {
		t.Errorf("instance %q, want ns2 from -nsid", cfg.Cluster.Instance)
	}
	if want := filepath.Join(filepath.Dir(path), "u"); cfg.Cluster.UserFile != want {
		t.Errorf("user_file %q, want %q", cfg.Cluster.UserFile, want)
	}
	_, err = LoadConfig(path, Flags{})
	if err == nil || !strings.Contains(err.Error(), "godwit.toml:1: cluster: instance") {
		t.Errorf("no instance and no nsid: err %v", err)
	}
	// Without [cluster]: no cluster.
	cfg, err = LoadConfig(writeConfig(t, "[server]\nnsid = \"a\"\n"), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Enabled() {
		t.Error("no [cluster] section, but the cluster is enabled")
	}
}
