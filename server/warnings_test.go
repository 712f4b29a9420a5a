package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godwit-dns/godwit/zones"
)

// Each case is one zone file (origin example.test.) and the warnings
// nsWarnings must give for it, as "line: text" with text a substring.
func TestNSWarnings(t *testing.T) {
	const head = "$TTL 3600\n@ IN SOA ns1 host 1 2 3 4 5\n" // lines 1-2
	cases := []struct {
		name, zone string
		services   []string // service names (they have addresses)
		want       []string
	}{
		{"two servers with addresses", head +
			"@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN AAAA 2001:db8::2\n", nil, nil},
		{"servers outside every loaded zone", head +
			"@ IN NS a.ns.example.net.\n@ IN NS b.ns.example.net.\n", nil, nil},
		{"single server", head +
			"@ IN NS ns1\nns1 IN A 192.0.2.1\n",
			nil, []string{"3: zone example.test. has a single name server (ns1.example.test.)"}},
		{"in-zone server without address", head +
			"@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\n",
			nil, []string{"4: name server ns2.example.test. of example.test. has no A or AAAA record in any loaded zone"}},
		{"server named by a service", head +
			"@ IN NS ns1\n@ IN NS ns2.gslb\nns1 IN A 192.0.2.1\n",
			[]string{"ns2.gslb.example.test."}, nil},
		{"server case-insensitive", head +
			"@ IN NS NS1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nNs2 IN A 192.0.2.2\n", nil, nil},
		{"delegation without glue, single server", head +
			"@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\nsub IN NS ns.sub\n",
			nil, []string{
				"7: name server ns.sub.example.test. of the delegation sub.example.test. has no glue",
				"7: the delegation sub.example.test. has a single name server (ns.sub.example.test.)",
			}},
		{"delegation with glue", head +
			"@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n" +
			"sub IN NS ns1.sub\nsub IN NS ns2.sub\nns1.sub IN A 192.0.2.5\nns2.sub IN A 192.0.2.6\n", nil, nil},
		{"delegation to the parent's own servers", head +
			"@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\nsub IN NS ns1\nsub IN NS ns2\n", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z, err := zones.ParseZone(strings.NewReader(c.zone), "example.test.", "example.test.zone")
			if err != nil {
				t.Fatal(err)
			}
			var svcs []*zones.Service
			for _, n := range c.services {
				svcs = append(svcs, &zones.Service{Name: n})
			}
			got := nsWarnings([]*zones.Zone{z}, svcs)
			if len(got) != len(c.want) {
				t.Fatalf("got %d warnings, want %d:\n%v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				if s := got[i].String(); !strings.Contains(s, "example.test.zone:"+strings.Replace(w, ": ", ": warning: ", 1)) {
					t.Errorf("warning %d: %q\ndoes not contain %q", i, s, w)
				}
			}
		})
	}
}

// A name server inside another loaded zone counts as resolvable when that
// zone holds its address.
func TestNSWarningsAcrossZones(t *testing.T) {
	parent, err := zones.ParseZone(strings.NewReader("$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n"), "example.test.", "p.zone")
	if err != nil {
		t.Fatal(err)
	}
	child, err := zones.ParseZone(strings.NewReader("$TTL 60\n@ SOA ns1.example.test. h 1 2 3 4 5\n@ NS ns1.example.test.\n@ NS ns2.example.test.\n@ NS ns3.example.test.\n"), "gslb.example.test.", "c.zone")
	if err != nil {
		t.Fatal(err)
	}
	got := nsWarnings([]*zones.Zone{parent, child}, nil)
	if len(got) != 1 || !strings.Contains(got[0].String(), "c.zone:5: warning: name server ns3.example.test. of gslb.example.test. has no A or AAAA record") {
		t.Errorf("got %v, want one warning for ns3 at c.zone:5", got)
	}
}

// TestConfigWarnings: a Country database under a geo service and a file
// check whose file is missing are accepted, with a warning at the line of
// the key at fault.
func TestConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\n"
	if err := os.WriteFile(filepath.Join(dir, "zones", "gslb.example.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	country, err := filepath.Abs("../testdata/geoip/GeoIP2-Country-Test.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	cfg := `[geo]
city_db = "` + country + `"

[[datacenter]]
name = "ams"
location = [52.37, 4.90]

[[check]]
name = "flag"
type = "file"
path = "status/flags.txt"

[[service]]
name = "www.gslb.example.test."
policy = "geo"
fallback = "failover"
check = "flag"
  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.1"]
`
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(c)
	defer g.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := Warnings(g)
	want := []string{
		path + ":15: warning: service www.gslb.example.test. ranks clients by distance, but geo.city_db is a GeoIP2-Country database without coordinates: clients that no map entry matches all get the fallback (failover); use a City database, or map their countries",
		path + `:11: warning: check "flag": ` + filepath.Join(dir, "status/flags.txt") + " does not exist: every address the check judges is down until it does",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestZoneWarningsShown: a zone's own warnings (an RRset with two TTLs)
// are among the warnings check prints and serve logs.
func TestZoneWarningsShown(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\nwww 300 A 192.0.2.1\nwww 60 A 192.0.2.2\n"
	zf := filepath.Join(dir, "zones", "example.test.zone")
	if err := os.WriteFile(zf, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(c)
	defer g.Close()
	if err != nil {
		t.Fatal(err)
	}
	w := Warnings(g)
	if len(w) != 1 || !strings.HasPrefix(w[0], zf+":8: warning: ") {
		t.Errorf("warnings %q, want one at %s:8", w, zf)
	}
}
