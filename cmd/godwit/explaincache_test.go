package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godwit-dns/godwit/routes"
)

// TestExplainBGPCache: offline, `godwit explain` answers route proximity
// from [routes.bgp] cache_file, says that those routes are stale, and says
// so too when there is no cache to read.
func TestExplainBGPCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "$ORIGIN gslb.example.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n"
	if err := os.WriteFile(filepath.Join(dir, "zones", "gslb.example.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(conf, []byte(`
[zones]
dir = "zones"

[[datacenter]]
name = "ams"
[[datacenter]]
name = "iad"

[[service]]
name = "near.gslb.example.test."
policy = "routes"
fallback = "failover"
  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.11"]
  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.31"]

[routes.bgp]
asn = 65000
router_id = "127.0.0.1"
cache_file = "state/bgp.cache"
  [[routes.bgp.peer]]
  address = "127.0.0.1"
  asn = 65003
  datacenter = "iad"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	explain := func() string {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"explain", "-config", conf, "-client", "198.51.100.7", "near.gslb.example.test"}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		return stdout.String()
	}
	if out := explain(); !strings.Contains(out, "bgp routes: none (") || !strings.Contains(out, "answer      192.0.2.11") {
		t.Errorf("without a cache:\n%s", out)
	}

	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	bgp := routes.BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Peers: []routes.PeerConfig{{Address: "127.0.0.1", ASN: 65003, Datacenter: "iad"}}}
	if err := routes.WriteCache(filepath.Join(dir, "state", "bgp.cache"), bgp, routes.NewTable(map[netip.Prefix][]routes.Reach{
		netip.MustParsePrefix("198.51.100.0/24"): {{Datacenter: "iad", PathLen: 2, Source: "bgp 127.0.0.1"}},
	})); err != nil {
		t.Fatal(err)
	}
	out := explain()
	for _, want := range []string{
		"route       198.51.100.0/24 via iad (path 2, bgp 127.0.0.1, stale from cache)",
		"answer      192.0.2.31",
		"bgp routes: 1 prefixes from state/bgp.cache, written ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}
