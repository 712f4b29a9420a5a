package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
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

// TestNoClusterAsToday: without [cluster] the runtime has no link, the
// status shows no cluster, /metrics has no cluster series, and overrides
// carry no origin.
func TestNoClusterAsToday(t *testing.T) {
	f := newFixture(t, map[string]bool{"ams": true, "fra": true, "iad": true})
	if f.rt.cluster != nil {
		t.Fatal("a cluster link without [cluster]")
	}
	if code := f.override(t, "datacenter", "ams", "drain"); code != 200 {
		t.Fatalf("override: %d", code)
	}
	s := f.snapshot()
	if s.Cluster != nil {
		t.Errorf("status shows a cluster: %+v", s.Cluster)
	}
	for _, p := range s.Probes {
		if p.Effective != "" || p.Reason != "" || len(p.Votes) > 0 {
			t.Errorf("probe %s %s has votes: %+v", p.Check, p.Address, p)
		}
	}
	if d := dcByName(s, "ams"); d.Override != "drain" || d.OverrideOrigin != "" {
		t.Errorf("ams: override %q origin %q", d.Override, d.OverrideOrigin)
	}
	if _, body := f.get(t, "/metrics"); strings.Contains(string(body), "godwit_cluster_") {
		t.Error("/metrics has cluster series without a cluster")
	}
}

// TestClusterEngineAway: an engine that cannot be reached never stops the
// instance: it starts, serves, applies an override set here (counted as
// not published, with a warning), and says so on the status page.
func TestClusterEngineAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	f := newFixtureWith(t, map[string]bool{"ams": true, "fra": true, "iad": true},
		"\n[cluster]\nengine = \"nats\"\nurls = [\"nats://"+addr+"\"]\nname = \"test\"\ninstance = \"ns1\"\nrule = \"quorum\"\nquorum = 2\n")
	if f.rt.cluster == nil {
		t.Fatal("no cluster link")
	}
	if r := f.query(t, svcName, mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("no answer while the engine is away: %v", r)
	}
	if code := f.override(t, "datacenter", "ams", "drain"); code != 200 {
		t.Fatalf("override: %d", code)
	}
	s := f.snapshot()
	if s.Cluster == nil || s.Cluster.Link == "up" || s.Cluster.Unpublished != 1 || s.Cluster.Instance != "ns1" {
		t.Fatalf("cluster status %+v", s.Cluster)
	}
	if d := dcByName(s, "ams"); d.Override != "drain" || d.OverrideOrigin != "ns1" {
		t.Errorf("ams: override %q origin %q, want drain from ns1", d.Override, d.OverrideOrigin)
	}
	var warned, notPublished bool
	for _, w := range s.Warnings {
		warned = warned || strings.Contains(w, "deciding on this instance's verdicts")
		notPublished = notPublished || strings.Contains(w, "not published")
	}
	if !warned || !notPublished {
		t.Errorf("warnings %q", s.Warnings)
	}
	for _, p := range s.Probes {
		if p.Effective != "up" || !strings.Contains(p.Reason, "no fresh remote verdicts, local verdict") {
			t.Errorf("probe %s: effective %q reason %q, want the local fallback", p.Check, p.Effective, p.Reason)
		}
	}
	_, body := f.get(t, "/metrics")
	for _, want := range []string{"godwit_cluster_link_up 0", "godwit_cluster_unpublished_overrides 1", "godwit_cluster_rejected_total 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
