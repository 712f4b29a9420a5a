package routes

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var (
	testASNs = map[uint32]string{1234: "fra", 7: "ams", 65001: "ams", 65002: "fra"}
	testDCs  = map[string]bool{"ams": true, "fra": true, "iad": true}
)

// dcs returns the datacenters of a match in order, "-" for no match.
func dcs(m Match, ok bool) string {
	if !ok {
		return "-"
	}
	var s []string
	for _, r := range m.Reach {
		s = append(s, r.Datacenter)
	}
	return m.Prefix.String() + " " + strings.Join(s, ",")
}

func TestLoadFile(t *testing.T) {
	tbl, err := LoadFile("../testdata/routes/good.txt", testASNs, testDCs)
	if err != nil {
		t.Fatal(err)
	}
	if v4, v6 := tbl.Len(); v4 != 4 || v6 != 2 {
		t.Errorf("Len = %d, %d; want 4, 2", v4, v6)
	}
	for _, tc := range []struct{ addr, want string }{
		{"212.124.87.1", "212.124.87.1/32 ams"},         // most specific wins
		{"212.124.87.2", "212.124.87.0/24 fra"},         // the /24
		{"212.124.88.1", "-"},                           // nothing
		{"198.51.100.9", "198.51.100.0/24 ams,iad,fra"}, // ranked by path, then name
		{"2001:db8::1", "2001:db8::/32 ams"},
		{"2001:db8:1::1", "2001:db8:1::/48 iad"},
		{"2001:db9::1", "-"},
		{"192.0.2.10", "192.0.2.10/32 iad"},
		{"192.0.2.11", "-"},
		{"::ffff:212.124.87.1", "212.124.87.1/32 ams"}, // mapped looks up as IPv4
	} {
		if got := dcs(tbl.Lookup(netip.MustParseAddr(tc.addr))); got != tc.want {
			t.Errorf("Lookup(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	m, _ := tbl.Lookup(netip.MustParseAddr("198.51.100.1"))
	want := []Reach{
		{"ams", 1, "../testdata/routes/good.txt:8"},
		{"iad", 1, "../testdata/routes/good.txt:9"},
		{"fra", 3, "../testdata/routes/good.txt:7"},
	}
	if !reflect.DeepEqual(m.Reach, want) {
		t.Errorf("reach = %+v, want %+v", m.Reach, want)
	}
	if _, ok := tbl.Lookup(netip.Addr{}); ok {
		t.Error("Lookup(invalid) matched")
	}
	var nilTable *Table
	if _, ok := nilTable.Lookup(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("nil table matched")
	}
}

func TestLoadFileErrors(t *testing.T) {
	_, err := LoadFile("../testdata/routes/bad.txt", testASNs, testDCs)
	if err == nil {
		t.Fatal("no error")
	}
	const f = "../testdata/routes/bad.txt"
	want := []string{
		f + ":2: want \"<prefix> <ASN or datacenter> [pathlen]\", got 1 fields",
		f + ":3: bad prefix \"192.0.2.0/33\"",
		f + ":4: prefix 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)",
		f + ":5: bad prefix \"nonsense\"",
		f + ":6: AS99 is not listed under any datacenter's asn",
		f + ":7: unknown datacenter \"nowhere\"",
		f + ":8: path length \"-1\": want an integer from 0 to 1000",
		f + ":9: want \"<prefix> <ASN or datacenter> [pathlen]\", got 4 fields",
		f + ":10: prefix ::ffff:192.0.2.0/120 is IPv4-mapped IPv6: write the IPv4 form",
		f + ":11: path length \"x\": want an integer from 0 to 1000",
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadFileLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	many := strings.Repeat("bad line here\n", 100)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.txt"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"binary", write("bin.txt", []byte("192.0.2.0/24 ams\n\x00\x01\x02 x\n")), "bin.txt:2: not a text file"},
		{"utf8", write("latin1.txt", []byte("192.0.2.0/24 \xe9t\xe9\n")), "latin1.txt:1: not a text file"},
		{"long line", write("long.txt", []byte("# "+strings.Repeat("x", 70<<10)+"\n")), "long.txt:1: line too long"},
		{"too many", write("many.txt", []byte(many)), "many.txt: too many errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFile(tc.path, testASNs, testDCs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.name == "too many" {
				if n := strings.Count(err.Error(), "\n") + 1; n != maxFileErrors+1 {
					t.Errorf("%d errors reported, want %d", n, maxFileErrors+1)
				}
			}
		})
	}
	// Comments and blank lines only: an empty, valid table.
	tbl, err := LoadFile(write("empty.txt", []byte("# nothing\n\n   \t\n# more\n")), testASNs, testDCs)
	if err != nil {
		t.Fatal(err)
	}
	if v4, v6 := tbl.Len(); v4+v6 != 0 {
		t.Errorf("Len = %d, %d; want empty", v4, v6)
	}
}

func TestCombine(t *testing.T) {
	p := netip.MustParsePrefix
	static := NewTable(map[netip.Prefix][]Reach{
		p("10.0.0.0/8"):      {{Datacenter: "ams", Source: "f:1"}},
		p("10.1.0.0/16"):     {{Datacenter: "fra", PathLen: 4, Source: "f:2"}},
		p("2001:db8::/32"):   {{Datacenter: "iad", Source: "f:3"}},
		p("192.0.2.0/24"):    {{Datacenter: "ams", PathLen: 9, Source: "f:4"}},
		p("10.9.9.0/24"):     {{Datacenter: "iad", Source: "f:5"}},
		p("10.9.9.128/25"):   {{Datacenter: "iad", Source: "f:6"}},
		p("198.18.0.0/15"):   {{Datacenter: "fra", Source: "f:7"}},
		p("2001:db8:5::/48"): {{Datacenter: "fra", Source: "f:8"}},
	})
	bgpT := NewTable(map[netip.Prefix][]Reach{
		p("10.1.0.0/16"):     {{Datacenter: "ams", PathLen: 2, Source: "bgp a"}},
		p("10.1.2.0/24"):     {{Datacenter: "iad", PathLen: 5, Source: "bgp c"}},
		p("192.0.2.0/24"):    {{Datacenter: "ams", PathLen: 2, Source: "bgp a"}, {Datacenter: "fra", PathLen: 3, Source: "bgp b"}},
		p("2001:db8:5::/48"): {{Datacenter: "ams", PathLen: 1, Source: "bgp a"}},
		p("10.9.0.0/16"):     {{Datacenter: "fra", PathLen: 1, Source: "bgp b"}},
	})
	c := Combine(static, bgpT)
	if v4, v6 := c.Len(); v4 != 8 || v6 != 2 {
		t.Errorf("Len = %d, %d; want 8, 2", v4, v6)
	}
	for _, tc := range []struct{ addr, want string }{
		{"10.200.0.1", "10.0.0.0/8 ams"},      // static only
		{"10.1.9.9", "10.1.0.0/16 ams,fra"},   // same prefix in both: merged, by path
		{"10.1.2.3", "10.1.2.0/24 iad"},       // bgp more specific than static
		{"192.0.2.1", "192.0.2.0/24 ams,fra"}, // ams: shortest path of both sources
		{"10.9.9.1", "10.9.9.0/24 iad"},       // static more specific than bgp
		{"10.9.9.200", "10.9.9.128/25 iad"},
		{"10.9.1.1", "10.9.0.0/16 fra"},
		{"2001:db8:5::1", "2001:db8:5::/48 fra,ams"}, // static path 0 ranks first
		{"2001:db8:6::1", "2001:db8::/32 iad"},
		{"203.0.113.1", "-"},
	} {
		if got := dcs(c.Lookup(netip.MustParseAddr(tc.addr))); got != tc.want {
			t.Errorf("Lookup(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	m, _ := c.Lookup(netip.MustParseAddr("192.0.2.1"))
	if want := []Reach{{"ams", 2, "bgp a"}, {"fra", 3, "bgp b"}}; !reflect.DeepEqual(m.Reach, want) {
		t.Errorf("merged reach = %+v, want %+v", m.Reach, want)
	}
	n := 0
	seen := map[netip.Prefix]bool{}
	for m := range c.All() {
		n++
		seen[m.Prefix] = true
	}
	if n != 10 || len(seen) != 10 {
		t.Errorf("All yielded %d (%d distinct), want 10", n, len(seen))
	}
	// Combine with nothing returns the layer itself; Routes follows the same rules.
	if Combine(static, nil) != static || Combine(nil, bgpT) != bgpT {
		t.Error("Combine with nil did not return the other table")
	}
	r := New()
	if _, ok := r.Snapshot().Lookup(netip.MustParseAddr("10.1.0.1")); ok {
		t.Error("empty Routes matched")
	}
	r.SetStatic(static)
	r.SetBGP(bgpT)
	if got := dcs(r.Snapshot().Lookup(netip.MustParseAddr("10.1.2.3"))); got != "10.1.2.0/24 iad" {
		t.Errorf("Routes lookup = %q", got)
	}
	r.SetBGP(nil)
	if got := dcs(r.Snapshot().Lookup(netip.MustParseAddr("10.1.2.3"))); got != "10.1.0.0/16 fra" {
		t.Errorf("Routes lookup after SetBGP(nil) = %q", got)
	}
}

func TestLookupAllocs(t *testing.T) {
	p := netip.MustParsePrefix
	a := NewTable(map[netip.Prefix][]Reach{p("10.0.0.0/8"): {{Datacenter: "ams"}}, p("2001:db8::/32"): {{Datacenter: "ams"}}})
	b := NewTable(map[netip.Prefix][]Reach{p("10.0.0.0/8"): {{Datacenter: "fra"}}, p("10.1.0.0/16"): {{Datacenter: "fra"}}})
	c := Combine(a, b)
	addrs := []netip.Addr{
		netip.MustParseAddr("10.2.3.4"), netip.MustParseAddr("10.1.3.4"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.1.1.1"),
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("192.0.2.1"),
	}
	for _, tbl := range []*Table{a, c} {
		var sink int
		if n := testing.AllocsPerRun(100, func() {
			for _, addr := range addrs {
				m, _ := tbl.Lookup(addr)
				sink += len(m.Reach)
			}
		}); n != 0 {
			t.Errorf("Lookup allocates %v times per run", n)
		}
		if sink == 0 {
			t.Error("no lookups matched")
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Listen: "127.0.0.1:10179", Peers: []PeerConfig{
		{Address: "127.0.0.2", ASN: 65001, Port: 11179, Datacenter: "ams"},
		{Address: "::1", ASN: 65002, Datacenter: "fra", Passive: true},
	}}
	if err := (Config{File: "routes.txt", BGP: &good}).Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("empty config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *BGPConfig)
		want string
	}{
		{"asn", func(c *BGPConfig) { c.ASN = 0 }, "asn must be set"},
		{"router id", func(c *BGPConfig) { c.RouterID = "::1" }, "router_id \"::1\" must be an IPv4 address"},
		{"listen", func(c *BGPConfig) { c.Listen = "localhost:179" }, "listen \"localhost:179\""},
		{"listen port", func(c *BGPConfig) { c.Listen = "127.0.0.1:0" }, "port must be non-zero"},
		{"peer address", func(c *BGPConfig) { c.Peers[0].Address = "router1" }, "peer 1 (router1): address \"router1\" is not an IP address"},
		{"peer asn", func(c *BGPConfig) { c.Peers[0].ASN = 0 }, "peer 1 (127.0.0.2): asn must be set"},
		{"peer dc", func(c *BGPConfig) { c.Peers[1].Datacenter = "" }, "peer 2 (::1): datacenter must be set"},
		{"duplicate", func(c *BGPConfig) { c.Peers[1] = c.Peers[0] }, "peer 2 (127.0.0.2): duplicate address"},
		{"passive", func(c *BGPConfig) { c.Listen = "" }, "passive peer needs routes.bgp.listen"},
		{"local family", func(c *BGPConfig) { c.Peers[0].LocalAddress = "::1" }, "not of the peer's address family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Peers = append([]PeerConfig(nil), good.Peers...)
			tc.mod(&c)
			err := Config{BGP: &c}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "routes.bgp: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	err := Config{BGP: &good}.CheckDatacenters(map[string]bool{"ams": true})
	if err == nil || !strings.Contains(err.Error(), `routes.bgp.peer ::1: unknown datacenter "fra"`) {
		t.Errorf("CheckDatacenters = %v", err)
	}
}
