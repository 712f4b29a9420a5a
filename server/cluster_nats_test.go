package server

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/godwit-dns/godwit/internal/testsupport"
	"github.com/godwit-dns/godwit/status"
)

// startNATS runs nats-server with JetStream on a free loopback port and
// waits until JetStream answers; cleanup kills it by its PID.
func startNATS(t *testing.T) string {
	t.Helper()
	testsupport.NeedTool(t, "nats-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("nats-server", "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			_, err = nc.Request("$JS.API.INFO", nil, time.Second)
			nc.Close()
			if err == nil {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the readiness signal: the server has no other
	}
}

// TestClusterTwoRuntimes: two runtimes in one process (so -race sees the
// wiring) share verdicts and overrides through a real nats-server.
func TestClusterTwoRuntimes(t *testing.T) {
	url := startNATS(t)
	section := func(name string) string {
		return "\n[cluster]\nengine = \"nats\"\nurls = [\"" + url + "\"]\nname = \"two\"\ninstance = \"" + name + "\"\nsite = \"s-" + name + "\"\nverdict_ttl = \"2s\"\nrule = \"any\"\n"
	}
	healthy := map[string]bool{"ams": true, "fra": true, "iad": true}
	a := newFixtureWith(t, healthy, section("a"))
	b := newFixtureWith(t, healthy, section("b"))

	// Each sees both vantage points on every probe.
	b.waitFor(t, 5*time.Second, "two votes on every probe", func(s status.Snapshot) bool {
		for _, p := range s.Probes {
			if len(p.Votes) != 2 || p.Reason != "any: 0 of 2 vantage points see it down" {
				return false
			}
		}
		return s.Cluster != nil && s.Cluster.Link == "up" && len(s.Probes) > 0
	})
	// An override on a reaches b with its origin; a clear on b reaches a.
	if code := a.override(t, "datacenter", "fra", "drain"); code != 200 {
		t.Fatalf("override: %d", code)
	}
	b.waitFor(t, 2*time.Second, "fra drained from a", func(s status.Snapshot) bool {
		d := dcByName(s, "fra")
		return d.Override == "drain" && d.OverrideOrigin == "a"
	})
	if code := b.override(t, "datacenter", "fra", "clear"); code != 200 {
		t.Fatalf("clear: %d", code)
	}
	a.waitFor(t, 2*time.Second, "fra cleared from b", func(s status.Snapshot) bool { return dcByName(s, "fra").Override == "" })
	// iad's backend fails: with rule any, both drop it (a's probe sees it
	// too, but b would drop it on a's vote alone).
	a.healthy["iad"].Store(false)
	b.waitFor(t, 3*time.Second, "iad down by vote", func(s status.Snapshot) bool { return dcByName(s, "iad").State == status.StateDown })
}
