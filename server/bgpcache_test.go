package server

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/status"
)

// TestBGPStaleCache: started with a BGP table cache and a peer that does
// not come up, the server answers route proximity from the cached table at
// once, and the status API, page, metrics and explain all say it is stale.
func TestBGPStaleCache(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "bgp.cache")
	port := testsupport.FreePort(t, "127.0.0.1") // nothing listens: the session never comes up
	bgp := routes.BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Peers: []routes.PeerConfig{
		{Address: "127.0.0.1", ASN: 65003, Port: uint16(port), Datacenter: "iad"},
	}}
	tbl := routes.NewTable(map[netip.Prefix][]routes.Reach{
		netip.MustParsePrefix("198.51.100.0/24"): {{Datacenter: "iad", PathLen: 2, Source: "bgp 127.0.0.1"}},
	})
	if err := routes.WriteCache(cache, bgp, tbl); err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, map[string]bool{"ams": true, "fra": true, "iad": true}, fmt.Sprintf(`
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
cache_file = %q
stale_timeout = "1h"
  [[routes.bgp.peer]]
  address = "127.0.0.1"
  port = %d
  asn = 65003
  datacenter = "iad"
`, cache, port))

	// Through the status API, whose snapshot the page shares (it is
	// reused for a moment, so the first may predate the cache's load).
	var s status.Snapshot
	for deadline := time.Now().Add(5 * time.Second); s.BGP == nil || !s.BGP.Stale; {
		if time.Now().After(deadline) {
			t.Fatalf("status API never showed the cached table as stale: %+v", s.BGP)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
		s = status.Snapshot{}
		code, body := f.get(t, "/api/v1/status")
		if err := json.Unmarshal(body, &s); code != 200 || err != nil {
			t.Fatalf("/api/v1/status: %d %v", code, err)
		}
	}
	if b := s.BGP; b.StalePrefixes != 1 || b.CacheLoaded != 1 || b.CacheFile != cache || b.CacheError != "" ||
		time.Until(b.StaleUntil) < 59*time.Minute || time.Since(b.CacheWritten) > time.Minute {
		t.Errorf("bgp status %+v", b)
	}
	if len(s.Peers) != 1 || s.Peers[0].Stale != 1 || s.Peers[0].State == "established" {
		t.Errorf("peers %+v", s.Peers)
	}

	code, body := f.get(t, "/api/v1/explain?"+url.Values{"name": {"near.gslb.example.test"}, "client": {"198.51.100.7"}}.Encode())
	var ex struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &ex); code != 200 || err != nil ||
		!strings.Contains(ex.Text, "iad (path 2, bgp 127.0.0.1, stale from cache)") || !strings.Contains(ex.Text, "192.0.2.31") {
		t.Errorf("explain: %d %v\n%s", code, err, ex.Text)
	}

	code, body = f.get(t, "/")
	if code != 200 || !strings.Contains(string(body), `id="bgp-stale"`) {
		t.Errorf("status page: %d, no stale line", code)
	}
	code, body = f.get(t, "/metrics")
	for _, want := range []string{"godwit_bgp_table_stale 1", "godwit_bgp_stale_prefixes 1"} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestBGPCacheDamaged: a damaged cache is not used, start-up goes on, and
// the status says why, with a warning.
func TestBGPCacheDamaged(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "bgp.cache")
	writeFile(t, cache, "GWBC and then nothing that makes sense")
	port := testsupport.FreePort(t, "127.0.0.1")
	f := newFixtureWith(t, nil, fmt.Sprintf(`
[routes.bgp]
asn = 65000
router_id = "127.0.0.1"
cache_file = %q
  [[routes.bgp.peer]]
  address = "127.0.0.1"
  port = %d
  asn = 65003
  datacenter = "iad"
`, cache, port))
	s := f.waitFor(t, 5*time.Second, "the cache's error", func(s status.Snapshot) bool {
		return s.BGP != nil && s.BGP.CacheError != ""
	})
	if s.BGP.Stale || s.BGP.CacheLoaded != 0 || !strings.Contains(s.BGP.CacheError, cache+": ") || !hasWarning(s, "BGP table cache not used") {
		t.Errorf("bgp status %+v, warnings %q", s.BGP, s.Warnings)
	}
}

// TestRestartWarningCacheFile: a new cache_file needs a restart (the running
// speaker keeps writing the old one); a new stale_timeout needs none (it
// matters at the next start only).
func TestRestartWarningCacheFile(t *testing.T) {
	bgp := func(file string, timeout time.Duration) *Config {
		return &Config{path: "godwit.toml", Routes: routes.Config{BGP: &routes.BGPConfig{ASN: 65000, RouterID: "127.0.0.1",
			CacheFile: file, StaleTimeout: routes.Duration(timeout)}}}
	}
	w := restartWarnings(bgp("/var/lib/godwit/a.cache", time.Minute), bgp("/var/lib/godwit/b.cache", time.Hour))
	if len(w) != 1 || !strings.Contains(w["routes.bgp.cache_file"], "changed from /var/lib/godwit/a.cache to /var/lib/godwit/b.cache: restart") {
		t.Errorf("warnings %q", w)
	}
}
