//go:build linux

package status

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPageProbeRows: probes of file and exec checks, which share one
// target per check, show their address and the command as run; fallbacks
// show only for the policies that use them; datacenters count distinct
// addresses.
func TestPageProbeRows(t *testing.T) {
	fake := newFake(t)
	for _, a := range []string{"192.0.2.10", "192.0.2.11"} {
		fake.snap.Probes = append(fake.snap.Probes,
			ProbeStatus{Check: "disk", Type: "file", Address: netip.MustParseAddr(a), Datacenter: "ams", Target: "/run/godwit/health.txt", State: StateUp},
			ProbeStatus{Check: "script", Type: "exec", Address: netip.MustParseAddr(a), Datacenter: "ams,fra", Target: "/usr/local/bin/check --dc {datacenter} {address}", State: StateUp})
	}
	fake.snap.Services[1].Fallback = "weighted" // failover: never used
	s := New(Config{}, fake, nil, nil)
	d := parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes())
	rows := map[string]bool{}
	for _, n := range d.all(with("class", "probe")) {
		if strings.Contains(text(n), "{datacenter}") || strings.Contains(text(n), "{address}") {
			t.Errorf("probe row shows a raw template: %q", text(n))
		}
		rows[strings.Join(strings.Fields(text(n)), " ")] = true
	}
	for _, want := range []string{
		"script exec 192.0.2.10 ams,fra /usr/local/bin/check --dc ams,fra 192.0.2.10 up",
		"script exec 192.0.2.11 ams,fra /usr/local/bin/check --dc ams,fra 192.0.2.11 up",
		"disk file 192.0.2.10 ams /run/godwit/health.txt up",
		"disk file 192.0.2.11 ams /run/godwit/health.txt up",
	} {
		found := false
		for r := range rows {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("no probe row starts with %q; rows:\n%s", want, strings.Join(slices.Sorted(maps.Keys(rows)), "\n"))
		}
	}
	if len(rows) != len(fake.snap.Probes) {
		t.Errorf("%d distinct probe rows for %d probes", len(rows), len(fake.snap.Probes))
	}
	for name, want := range map[string]string{
		"www.gslb.example.test.": "geo → weighted",
		"api.gslb.example.test.": "failover",
		"img.gslb.example.test.": "weighted",
	} {
		n := d.all(with("data-service", name))
		if len(n) != 1 {
			t.Fatalf("service %s: %d rows", name, len(n))
		}
		var cells []string
		for c := range n[0].ChildNodes() {
			if c.Data == "td" {
				cells = append(cells, strings.TrimSpace(text(c)))
			}
		}
		if got := cells[1]; got != want {
			t.Errorf("service %s: policy cell %q, want %q", name, got, want)
		}
	}
	// ams lists 192.0.2.10 in www twice over (v4 and v6 differ) and
	// 192.0.2.20 in img: 4 distinct; fra's drained address is not healthy.
	for dc, want := range map[string]string{"ams": "4/4", "fra": "2/3", "iad": "0/3"} {
		n := d.byID("dc-" + dc)
		if n == nil || !strings.Contains(text(n), want) {
			t.Errorf("datacenter %s: want healthy %s in %q", dc, want, text(n))
		}
	}
}

func TestCountAddresses(t *testing.T) {
	a := func(s, st string) AddressStatus { return AddressStatus{Address: netip.MustParseAddr(s), State: st} }
	snap := Snapshot{
		Datacenters: []DatacenterStatus{{Name: "ams", Addresses: 9, Healthy: 9}, {Name: "lonely", Addresses: 1, Healthy: 1}},
		Services: []ServiceStatus{
			{Targets: []TargetStatus{{Datacenter: "ams", Addresses: []AddressStatus{a("192.0.2.1", StateUp), a("192.0.2.2", StateUp), a("192.0.2.3", StateUnknown)}}}},
			{Targets: []TargetStatus{{Datacenter: "ams", Addresses: []AddressStatus{a("192.0.2.1", StateUp), a("192.0.2.2", StateDown)}}}},
			{Targets: []TargetStatus{{Datacenter: "ams", Addresses: []AddressStatus{a("192.0.2.1", StateUp), a("192.0.2.4", StateDrain)}}}},
		},
	}
	orig := slices.Clone(snap.Datacenters)
	backend := snap.Datacenters
	snap.normalize(time.Now())
	if got := snap.Datacenters[0]; got.Addresses != 4 || got.Healthy != 2 {
		t.Errorf("ams: %d/%d, want healthy 2 of 4 distinct", got.Healthy, got.Addresses)
	}
	if got := snap.Datacenters[1]; got.Addresses != 1 || got.Healthy != 1 {
		t.Errorf("a datacenter no service lists keeps the backend's counts, got %d/%d", got.Healthy, got.Addresses)
	}
	if !reflect.DeepEqual(backend, orig) {
		t.Error("normalize changed the Backend's datacenter slice")
	}
}

// TestPageCluster: with a cluster, the page shows the link (and, when it
// is down, that this instance decides alone), each vantage point's verdict
// with its age, the effective state with its reason, and an override's
// origin.
func TestPageCluster(t *testing.T) {
	fake := newFake(t)
	now := fake.snap.Now
	fake.snap.Cluster = &ClusterStatus{Engine: "nats", Name: "prod", Instance: "ns1", Site: "ams", Rule: "quorum", Quorum: 2,
		VerdictTTL: 30 * time.Second, Link: "down", LinkSince: now.Add(-time.Minute), LinkError: "connection lost", VantagePoints: 3}
	fake.snap.Probes = append(fake.snap.Probes, ProbeStatus{Check: "web", Type: "http", Address: netip.MustParseAddr("192.0.2.10"),
		Datacenter: "ams", State: StateDown, Effective: StateUp, Rule: "quorum", Reason: "quorum 2 of 3: 1 sees it down",
		Votes: []VoteStatus{{Instance: "ns1", Site: "ams", State: StateDown, At: now.Add(-3 * time.Second)}, {Instance: "ns2", Site: "iad", State: StateUp, At: now.Add(-5 * time.Second)}}})
	fake.snap.Datacenters[0].Override, fake.snap.Datacenters[0].OverrideOrigin = "drain", "ns2"
	s := New(Config{}, fake, nil, nil)
	d := parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes())
	link := d.all(with("class", "cluster"))
	if len(link) != 1 || !strings.Contains(text(link[0]), "deciding on this instance's verdicts") || !strings.Contains(text(link[0]), "connection lost") {
		t.Fatalf("cluster link rows: %d, %v", len(link), link)
	}
	votes := d.all(with("class", "votes"))
	if len(votes) != 1 {
		t.Fatalf("%d vote cells, want 1", len(votes))
	}
	got := strings.Join(strings.Fields(text(votes[0])), " ")
	for _, want := range []string{"effective up quorum 2 of 3: 1 sees it down", "ns1@ams down 3s ago", "ns2@iad up 5s ago"} {
		if !strings.Contains(got, want) {
			t.Errorf("votes cell %q lacks %q", got, want)
		}
	}
	dc := d.all(with("id", "dc-"+fake.snap.Datacenters[0].Name))
	if len(dc) != 1 || !strings.Contains(text(dc[0]), "override: drain from ns2") {
		t.Errorf("datacenter row without the override's origin")
	}
}

// TestPageKeys: the DNSSEC keys card lists each key, and is absent when
// nothing is signed.
func TestPageKeys(t *testing.T) {
	fake := newFake(t)
	s := New(Config{}, fake, nil, nil)
	if d := parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes()); d.byID("keys") != nil {
		t.Error("a keys card without keys")
	}
	fake.snap.Keys = []KeyStatus{
		{Zone: "gslb.example.test.", Tag: 12345, Algorithm: 13, Role: "KSK", State: "active", File: "keys/K.key"},
		{Zone: "gslb.example.test.", Tag: 54321, Algorithm: 13, Role: "ZSK", State: "published", Inactive: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	s = New(Config{}, fake, nil, nil) // a new server: snapshots are cached
	d := parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes())
	rows := d.all(with("class", "key"))
	if len(rows) != 2 {
		t.Fatalf("%d key rows, want 2", len(rows))
	}
	for i, want := range []string{"gslb.example.test. 12345 13 KSK active never", "gslb.example.test. 54321 13 ZSK published 2027-01-01"} {
		if got := strings.Join(strings.Fields(text(rows[i])), " "); !strings.HasPrefix(got, want) {
			t.Errorf("key row %q, want it to start with %q", got, want)
		}
	}
}

// TestPageBGPStale: while the BGP table still holds routes from the cache,
// the peers card says so, with how many and until when, and each peer row
// its own count; without stale routes neither shows.
func TestPageBGPStale(t *testing.T) {
	fake := newFake(t)
	now := fake.snap.Now
	fake.snap.BGP = &BGPStatus{Stale: true, StalePrefixes: 950, StaleUntil: now.Add(90 * time.Second),
		CacheFile: "/var/lib/godwit/bgp.cache", CacheLoaded: 2153, CacheWritten: now.Add(-2 * time.Minute)}
	fake.snap.Peers[1].Accepted, fake.snap.Peers[1].Stale = 950, 950
	s := New(Config{}, fake, nil, nil)
	d := parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes())
	line := d.all(with("id", "bgp-stale"))
	if len(line) != 1 {
		t.Fatalf("%d stale lines, want 1", len(line))
	}
	got := strings.Join(strings.Fields(text(line[0])), " ")
	for _, want := range []string{"stale", "cached 2m00s ago", "950 routes", "End-of-RIB", "in 1m30s"} {
		if !strings.Contains(got, want) {
			t.Errorf("stale line %q lacks %q", got, want)
		}
	}
	if n := d.all(with("data-stale", "950")); len(n) != 1 {
		t.Errorf("%d peer cells with 950 stale, want 1", len(n))
	}

	fake.snap.BGP = &BGPStatus{CacheFile: "/var/lib/godwit/bgp.cache", CacheError: "/var/lib/godwit/bgp.cache: corrupt: CRC-32C mismatch"}
	fake.snap.Peers[1].Stale = 0
	s = New(Config{}, fake, nil, nil) // a new server: pages are cached for a moment
	d = parseDOM(t, serve(t, s, request{target: "/"}).Body.Bytes())
	if n := d.all(with("id", "bgp-stale")); len(n) != 0 {
		t.Error("stale line shown without stale routes")
	}
	if n := d.all(with("id", "bgp-cache-error")); len(n) != 1 || !strings.Contains(text(n[0]), "CRC-32C mismatch") {
		t.Error("the cache's error is not shown")
	}
}
