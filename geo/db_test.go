package geo

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

const testdata = "../testdata/geoip/"

var (
	maxmindCity    = testdata + "GeoIP2-City-Test.mmdb"
	maxmindCountry = testdata + "GeoIP2-Country-Test.mmdb"
	maxmindASN     = testdata + "GeoLite2-ASN-Test.mmdb"
	brokenDouble   = testdata + "GeoIP2-City-Test-Broken-Double-Format.mmdb"
	brokenTree     = testdata + "MaxMind-DB-test-broken-search-tree-24.mmdb"
	godwitCity     = testdata + "godwit-city.mmdb"
	godwitASN      = testdata + "godwit-asn.mmdb"
)

func mustOpen(t testing.TB, city, asn string) *DB {
	t.Helper()
	db, err := Open(city, asn)
	if err != nil {
		t.Fatalf("Open(%q, %q): %v", city, asn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// lookupCase is one address and everything Lookup should say about it.
type lookupCase struct {
	addr       string
	want       Location
	network    string // "" = invalid prefix
	asnNetwork string
}

func runLookups(t *testing.T, db *DB, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			want := tc.want
			want.Network = parsePrefix(t, tc.network)
			want.ASNNetwork = parsePrefix(t, tc.asnNetwork)
			if want.HasCoords {
				want.Vec = UnitVector(want.Lat, want.Lon)
			}
			// The second lookup of an IPv4 address comes from the cache.
			for i, what := range []string{"walk", "cached"} {
				if got := db.Lookup(netip.MustParseAddr(tc.addr)); got != want {
					t.Errorf("Lookup(%s) #%d (%s)\n got %+v\nwant %+v", tc.addr, i+1, what, got, want)
				}
			}
		})
	}
}

func parsePrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	if s == "" {
		return netip.Prefix{}
	}
	return netip.MustParsePrefix(s)
}

func coords(continent, country, sub string, lat, lon float64) Location {
	return Location{Continent: continent, Country: country, Subdivision: sub, Lat: lat, Lon: lon, HasCoords: true}
}

func TestLookupMaxMindCity(t *testing.T) {
	db := mustOpen(t, maxmindCity, "")
	runLookups(t, db, []lookupCase{
		{"81.2.69.142", coords("EU", "GB", "GB-ENG", 51.5142, -0.0931), "81.2.69.142/31", ""},
		{"89.160.20.112", coords("EU", "SE", "SE-E", 58.4167, 15.6167), "89.160.20.112/28", ""},
		{"216.160.83.56", coords("NA", "US", "US-WA", 47.2513, -122.3149), "216.160.83.56/29", ""},
		{"214.78.120.1", coords("NA", "US", "US-CA", 32.7405, -117.0935), "214.78.120.0/22", ""},
		{"175.16.199.1", coords("AS", "CN", "CN-22", 43.88, 125.3228), "175.16.199.0/24", ""},
		{"202.196.224.1", coords("AS", "PH", "", 13, 122), "202.196.224.0/20", ""},
		{"2001:218::1", coords("AS", "JP", "", 35.68536, 139.75309), "2001:218::/32", ""},
		{"2a02:d180::1", coords("EU", "DE", "", 51.5, 10.5), "2a02:d180::/29", ""},
		// No data: the network is still known, so that an ECS scope can be given.
		{"8.8.8.8", Location{}, "8.0.0.0/7", ""},
		{"::1", Location{}, "::/104", ""},
		// IPv4-mapped input is looked up (and answered) as IPv4.
		{"::ffff:81.2.69.142", coords("EU", "GB", "GB-ENG", 51.5142, -0.0931), "81.2.69.142/31", ""},
		// 6to4 is an alias of the IPv4 subtree; the network stays IPv6.
		{"2002:5102:458e::1", coords("EU", "GB", "GB-ENG", 51.5142, -0.0931), "2002:5102:458e::/47", ""},
		// A zone is ignored.
		{"2001:218::1%eth0", coords("AS", "JP", "", 35.68536, 139.75309), "2001:218::/32", ""},
	})
}

func TestLookupMaxMindCountry(t *testing.T) {
	db := mustOpen(t, maxmindCountry, "")
	runLookups(t, db, []lookupCase{
		{"81.2.69.142", Location{Continent: "EU", Country: "GB"}, "81.2.69.142/31", ""},
		{"216.160.83.56", Location{Continent: "NA", Country: "US"}, "216.160.83.56/29", ""},
		{"2001:218::1", Location{Continent: "AS", Country: "JP"}, "2001:218::/32", ""},
		{"8.8.8.8", Location{}, "8.0.0.0/7", ""},
	})
}

func TestLookupMaxMindASN(t *testing.T) {
	db := mustOpen(t, "", maxmindASN)
	runLookups(t, db, []lookupCase{
		{"1.0.0.1", Location{ASN: 15169}, "", "1.0.0.0/24"},
		{"1.128.0.1", Location{ASN: 1221}, "", "1.128.0.0/11"},
		{"12.81.92.1", Location{ASN: 7018}, "", "12.81.92.0/22"},
		{"89.160.20.112", Location{ASN: 29518}, "", "89.160.0.0/17"},
		{"81.2.69.142", Location{}, "", "81.0.0.0/9"},
	})
}

func TestLookupMaxMindCityAndASN(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	want := coords("EU", "SE", "SE-E", 58.4167, 15.6167)
	want.ASN = 29518
	runLookups(t, db, []lookupCase{
		{"89.160.20.112", want, "89.160.20.112/28", "89.160.0.0/17"},
		{"1.0.0.1", Location{ASN: 15169}, "1.0.0.0/8", "1.0.0.0/24"},
	})
}

func TestLookupGodwit(t *testing.T) {
	db := mustOpen(t, godwitCity, godwitASN)
	ams := coords("EU", "NL", "NL-NH", 52.3676, 4.9041)
	lon := coords("EU", "GB", "GB-ENG", 51.5074, -0.1278)
	fra := coords("EU", "DE", "DE-HE", 50.1109, 8.6821)
	iad := coords("NA", "US", "US-VA", 39.0438, -77.4874)
	sea := coords("NA", "US", "US-WA", 47.6062, -122.3321)
	sin := coords("AS", "SG", "", 1.3521, 103.8198)
	syd := coords("OC", "AU", "AU-NSW", -33.8688, 151.2093)
	asn := func(l Location, n uint32) Location { l.ASN = n; return l }
	runLookups(t, db, []lookupCase{
		{"127.0.0.1", asn(ams, 64496), "127.0.0.0/8", "127.0.0.0/8"},
		{"::1", asn(ams, 64496), "::1/128", "::1/128"},
		{"81.2.69.142", asn(lon, 64497), "81.2.69.0/24", "81.2.69.0/24"},
		// Nested networks: the tree splits the /24 around the /25.
		{"192.0.2.1", asn(ams, 64498), "192.0.2.0/25", "192.0.2.0/25"},
		{"192.0.2.130", asn(fra, 64499), "192.0.2.128/26", "192.0.2.128/25"},
		{"192.0.2.241", Location{Continent: "EU", Country: "DE", ASN: 64499}, "192.0.2.240/28", "192.0.2.128/25"},
		{"198.51.100.1", asn(iad, 64500), "198.51.100.0/25", "198.51.100.0/24"},
		{"198.51.100.200", asn(sea, 64500), "198.51.100.128/25", "198.51.100.0/24"},
		{"203.0.113.1", asn(sin, 65536), "203.0.113.0/25", "203.0.113.0/24"},
		{"203.0.113.200", asn(syd, 65536), "203.0.113.128/25", "203.0.113.0/24"},
		{"10.1.2.3", Location{}, "10.0.0.0/8", "8.0.0.0/5"}, // empty record
		{"8.8.8.8", Location{}, "8.0.0.0/7", "8.0.0.0/5"},
		{"2001:db8::1", asn(ams, 64501), "2001:db8::/48", "2001:db8::/48"},
		{"2001:db8:1::1", asn(iad, 65537), "2001:db8:1::/48", "2001:db8:1::/48"},
		{"2001:db8:2::1", asn(sin, 64501), "2001:db8:2::/48", "2001:db8:2::/47"},
		{"2001:db8:3::1", asn(syd, 64501), "2001:db8:3::/48", "2001:db8:2::/47"},
		{"2001:db8:4::1", asn(fra, 64501), "2001:db8:4::/48", "2001:db8:4::/46"},
		{"2001:db8:ff::1", Location{Continent: "EU", Country: "GB", ASN: 64501}, "2001:db8:ff::/48", "2001:db8:80::/41"},
		{"2001:db9::1", Location{}, "2001:db9::/32", "2001:db9::/32"},
		{"::ffff:192.0.2.1", asn(ams, 64498), "192.0.2.0/25", "192.0.2.0/25"},
	})
}

// TestLookupNoDatabase: with nothing loaded every answer is empty and the
// networks are invalid.
func TestLookupNoDatabase(t *testing.T) {
	for name, db := range map[string]*DB{"empty": mustOpen(t, "", ""), "nil": nil} {
		for _, a := range []netip.Addr{netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2001:218::1"), {}} {
			if got := db.Lookup(a); got != (Location{}) {
				t.Errorf("%s: Lookup(%v) = %+v, want zero", name, a, got)
			}
		}
		if got := db.Info(); got != (Info{}) {
			t.Errorf("%s: Info() = %+v, want zero", name, got)
		}
	}
	db := mustOpen(t, maxmindCity, maxmindASN)
	if got := db.Lookup(netip.Addr{}); got != (Location{}) {
		t.Errorf("Lookup(invalid addr) = %+v, want zero", got)
	}
}

// TestLookupIPv4Prefix: over many addresses, an IPv4 address always gets an
// IPv4 network that contains it, and an IPv6 one an IPv6 network.
func TestLookupPrefixContainsAddr(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	gdb := mustOpen(t, godwitCity, godwitASN)
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var a netip.Addr
		if rnd.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		} else {
			var b [16]byte
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			if rnd.IntN(2) == 0 { // bias towards allocated space
				b[0], b[1] = 0x20, 0x01
			}
			a = netip.AddrFrom16(b)
		}
		for _, d := range []*DB{db, gdb} {
			checkPrefixes(t, d, a)
		}
	}
}

func checkPrefixes(t *testing.T, db *DB, a netip.Addr) {
	t.Helper()
	loc := db.Lookup(a)
	u := a.Unmap()
	for _, p := range []netip.Prefix{loc.Network, loc.ASNNetwork} {
		if !p.IsValid() || !p.Contains(u) || p.Addr().Is4() != u.Is4() || p != p.Masked() {
			t.Fatalf("Lookup(%s): network %v is not a masked prefix of the address's family containing it", a, p)
		}
	}
}

// TestEveryRecordDecoded: every data record the tree can reach, including
// through the IPv4 aliases, was decoded at Open, so Lookup never misses.
func TestEveryRecordDecoded(t *testing.T) {
	for _, tc := range []struct {
		path string
		k    kind
	}{{maxmindCity, cityKind}, {maxmindCountry, cityKind}, {maxmindASN, asnKind}, {godwitCity, cityKind}, {godwitASN, asnKind}} {
		s, err := openSource(tc.path, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for res := range s.reader.Networks(maxminddb.IncludeAliasedNetworks()) {
			if err := res.Err(); err != nil {
				t.Fatalf("%s: %v", tc.path, err)
			}
			if _, ok := s.index[res.Offset()]; !ok {
				t.Errorf("%s: network %s: record at %d not decoded", tc.path, res.Prefix(), res.Offset())
			}
			n++
		}
		if n <= s.info.Networks || s.info.Records == 0 || s.info.Records > s.info.Networks {
			t.Errorf("%s: %d networks with aliases, info %+v", tc.path, n, s.info)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.mmdb")
	notMMDB := filepath.Join(t.TempDir(), "text.mmdb")
	if err := os.WriteFile(notMMDB, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, city, asn string
		want            []string // substrings of the error
		is              error
	}{
		{"asn as city", maxmindASN, "", []string{"city_db", maxmindASN, `"GeoLite2-ASN"`, "City or Country"}, ErrDatabaseType},
		{"city as asn", "", maxmindCity, []string{"asn_db", maxmindCity, `"GeoIP2-City"`, "ASN"}, ErrDatabaseType},
		{"country as asn", "", maxmindCountry, []string{"asn_db", `"GeoIP2-Country"`}, ErrDatabaseType},
		{"good city, asn missing", maxmindCity, missing, []string{"asn_db", missing}, fs.ErrNotExist},
		{"missing", missing, "", []string{"city_db", missing}, fs.ErrNotExist},
		{"directory", t.TempDir(), "", []string{"city_db"}, nil},
		{"not an mmdb", notMMDB, "", []string{"city_db", notMMDB, "invalid MaxMind DB"}, nil},
		{"broken double", brokenDouble, "", []string{"city_db", brokenDouble, "float 64 size of 5"}, nil},
		{"broken tree", brokenTree, "", []string{"city_db", brokenTree}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(tc.city, tc.asn)
			if err == nil {
				t.Fatalf("Open(%q, %q) = %v, want error", tc.city, tc.asn, db)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

// TestBrokenSearchTree: the broken-tree test database has type "Test", so
// Open refuses it for its type first; opened as a kind that accepts it, the
// corrupt tree is what rejects it.
func TestBrokenSearchTree(t *testing.T) {
	_, err := openSource(brokenTree, kind{"test_db", "a test database", []string{"test"}})
	if err == nil || !strings.Contains(err.Error(), "search tree") {
		t.Fatalf("openSource(%s) error = %v, want a search tree error", brokenTree, err)
	}
	var invalid maxminddb.InvalidDatabaseError
	if !errors.As(err, &invalid) {
		t.Errorf("error %q does not wrap InvalidDatabaseError", err)
	}
}

// TestLookupUnverifiedBroken: Lookup survives a corrupt database even if it
// were not verified at Open (defence in depth).
func TestLookupUnverifiedBroken(t *testing.T) {
	for _, path := range []string{brokenDouble, brokenTree} {
		buf, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := maxminddb.OpenBytes(buf)
		if err != nil {
			t.Fatal(err)
		}
		s := &source{reader: r, v4only: r.Metadata.IPVersion == 4, index: map[uintptr]uint32{}}
		if _, err := s.decodeAll(); err == nil {
			t.Errorf("%s: decodeAll succeeded on a corrupt database", path)
		}
		db := &DB{city: s, asn: s}
		rnd := rand.New(rand.NewPCG(3, 4))
		for range 5000 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			db.Lookup(netip.AddrFrom16(b))
			db.Lookup(netip.AddrFrom16(b).Unmap()) // ::ffff:x → IPv4
			db.Lookup(netip.AddrFrom4([4]byte(b[:4])))
		}
		db.Lookup(netip.MustParseAddr("128.128.128.128")) // the cycle
	}
}

func TestInfo(t *testing.T) {
	db := mustOpen(t, maxmindCity, godwitASN)
	in := db.Info()
	city, asn := in.City, in.ASN
	if city.Path != maxmindCity || city.Type != "GeoIP2-City" || city.IPVersion != 6 || city.NodeCount != 1547 ||
		city.BuildEpoch == 0 || city.Size != 22569 || city.Networks == 0 || city.Records == 0 || city.LoadTime <= 0 {
		t.Errorf("city info %+v", city)
	}
	if asn.Path != godwitASN || asn.Type != "GeoLite2-ASN" || asn.BuildEpoch != 1767225600 ||
		asn.BuildTime().Format("2006-01-02") != "2026-01-01" || asn.NodeCount == 0 {
		t.Errorf("asn info %+v", asn)
	}
}

func TestKindAccepts(t *testing.T) {
	for _, tc := range []struct {
		typ       string
		city, asn bool
	}{
		{"GeoIP2-City", true, false},
		{"GeoLite2-City", true, false},
		{"GeoIP2-Country", true, false},
		{"GeoLite2-Country", true, false},
		{"GeoIP2-Enterprise", true, false},
		{"DBIP-City-Lite", true, false},
		{"GeoLite2-ASN", false, true},
		{"DBIP-ASN-Lite", false, true},
		{"GeoIP2-ISP", false, true},
		{"GeoIP2-Anonymous-IP", false, false},
		{"GeoIP2-Domain", false, false},
		{"Test", false, false},
		{"", false, false},
		{"Velocity", false, false}, // no substring matches
	} {
		if got := cityKind.accepts(tc.typ); got != tc.city {
			t.Errorf("city accepts %q = %v", tc.typ, got)
		}
		if got := asnKind.accepts(tc.typ); got != tc.asn {
			t.Errorf("asn accepts %q = %v", tc.typ, got)
		}
	}
}

// TestLookupConcurrent: lookups race with an old snapshot being closed and
// replaced (run with -race).
func TestLookupConcurrent(t *testing.T) {
	db := mustOpen(t, godwitCity, godwitASN)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8:1::1")}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 2000 {
				if db.Lookup(addrs[i%2]).ASN == 0 {
					t.Error("lookup lost its data")
					return
				}
			}
		})
	}
	db.Close()
	wg.Wait()
}

func TestLookupAllocs(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	gdb := mustOpen(t, godwitCity, godwitASN)
	for _, a := range []string{"81.2.69.142", "2001:218::1", "8.8.8.8", "::ffff:81.2.69.142", "fe80::1%eth0", "2002:5102:458e::1"} {
		addr := netip.MustParseAddr(a)
		for _, d := range []*DB{db, gdb} {
			if n := testing.AllocsPerRun(100, func() { d.Lookup(addr) }); n != 0 {
				t.Errorf("Lookup(%s): %v allocations, want 0", a, n)
			}
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	db := mustOpen(b, maxmindCity, maxmindASN)
	cityOnly := mustOpen(b, maxmindCity, "")
	for _, bc := range []struct {
		name string
		db   *DB
		addr string
	}{
		{"city+asn/ipv4", db, "81.2.69.142"},
		{"city+asn/ipv6", db, "2001:218::1"},
		{"city+asn/nodata", db, "8.8.8.8"},
		{"city/ipv4", cityOnly, "81.2.69.142"},
		{"city/ipv6", cityOnly, "2001:218::1"},
	} {
		addr := netip.MustParseAddr(bc.addr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.db.Lookup(addr)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, bc := range []struct{ name, city, asn string }{
		{"maxmind-city+asn", maxmindCity, maxmindASN},
		{"godwit-city+asn", godwitCity, godwitASN},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(bc.city, bc.asn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	buf, err := os.ReadFile(maxmindCity)
	if err != nil {
		b.Fatal(err)
	}
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzLookup(f *testing.F) {
	db, err := Open(maxmindCity, maxmindASN)
	if err != nil {
		f.Fatal(err)
	}
	gdb, err := Open(godwitCity, godwitASN)
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range []string{"81.2.69.142", "2001:218::1", "::ffff:1.2.3.4", "::1", "192.0.2.130"} {
		f.Add(netip.MustParseAddr(a).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		checkPrefixes(t, db, a)
		checkPrefixes(t, gdb, a)
	})
}

// writeDB writes a small City-type database made with mmdbwriter.
func writeDB(t *testing.T, ipVersion int, nets map[string]string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-Country",
		Description:             map[string]string{"en": "tree shape test"},
		IPVersion:               ipVersion,
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "test.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLookupTreeShapes: the IPv4 network is an IPv4 prefix whatever the
// shape of the tree: an IPv4-only tree, an IPv6 tree with no IPv4 data, and
// an IPv6 tree where one network covers all of ::/96.
func TestLookupTreeShapes(t *testing.T) {
	v4only := mustOpen(t, writeDB(t, 4, map[string]string{"1.2.3.0/24": "NL"}), "")
	noV4 := mustOpen(t, writeDB(t, 6, map[string]string{"2001:db8::/32": "NL"}), "")
	wide := mustOpen(t, writeDB(t, 6, map[string]string{"::/1": "NL"}), "")
	nl := Location{Country: "NL"}
	for _, tc := range []struct {
		name string
		db   *DB
		addr string
		want Location
		net  string
	}{
		{"v4only", v4only, "1.2.3.4", nl, "1.2.3.0/24"},
		{"v4only", v4only, "::ffff:1.2.3.4", nl, "1.2.3.0/24"},
		{"v4only", v4only, "1.2.4.1", Location{}, "1.2.4.0/22"},
		{"v4only", v4only, "2001:db8::1", Location{}, ""},
		{"noV4", noV4, "1.2.3.4", Location{}, "0.0.0.0/0"},
		{"noV4", noV4, "2001:db8::1", nl, "2001:db8::/32"},
		{"wide", wide, "1.2.3.4", nl, "0.0.0.0/0"},
		{"wide", wide, "::1", nl, "::/1"},
		{"wide", wide, "8000::1", Location{}, "8000::/1"},
	} {
		want := tc.want
		want.Network = parsePrefix(t, tc.net)
		if want.HasCoords {
			want.Vec = UnitVector(want.Lat, want.Lon)
		}
		tc.db.Lookup(netip.MustParseAddr(tc.addr)) // fills the cache for an IPv4 address
		if got := tc.db.Lookup(netip.MustParseAddr(tc.addr)); got != want {
			t.Errorf("%s: Lookup(%s)\n got %+v\nwant %+v", tc.name, tc.addr, got, want)
		}
	}
}

// TestOpenRefusesNonFilesPromptly: a named pipe or a device given as a
// database is refused at once (issue 19: a FIFO hung the reloader in open).
func TestOpenRefusesNonFilesPromptly(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.mmdb")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{fifo, ""}, {"", fifo}, {"/dev/zero", ""}, {t.TempDir(), ""}} {
		done := make(chan error, 1)
		go func() { _, err := Open(p[0], p[1]); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), p[0]+p[1]) {
				t.Errorf("Open(%q, %q): %v", p[0], p[1], err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%q, %q) still blocked after 10s", p[0], p[1])
		}
	}
}
