// Command mmdb writes Godwit's small synthetic GeoIP test databases:
// testdata/geoip/godwit-city.mmdb (GeoIP2-City schema) and
// testdata/geoip/godwit-asn.mmdb (GeoLite2-ASN schema). See
// testdata/geoip/README.md for what they hold. Run from the module root:
//
//	go run ./testdata/gen/mmdb
//
// The output is deterministic (fixed build epoch), so regenerating without
// changing the tables below gives identical files.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// buildEpoch is fixed so that the files only change when the data does
// (2026-01-01T00:00:00Z).
const buildEpoch = 1767225600

// place is a city-level location in the GeoIP2-City schema.
type place struct {
	city, continent, country, countryName, sub, subName string
	lat, lon                                            float64
	tz                                                  string
}

var (
	amsterdam = place{"Amsterdam", "EU", "NL", "Netherlands", "NH", "North Holland", 52.3676, 4.9041, "Europe/Amsterdam"}
	london    = place{"London", "EU", "GB", "United Kingdom", "ENG", "England", 51.5074, -0.1278, "Europe/London"}
	frankfurt = place{"Frankfurt am Main", "EU", "DE", "Germany", "HE", "Hesse", 50.1109, 8.6821, "Europe/Berlin"}
	ashburn   = place{"Ashburn", "NA", "US", "United States", "VA", "Virginia", 39.0438, -77.4874, "America/New_York"}
	seattle   = place{"Seattle", "NA", "US", "United States", "WA", "Washington", 47.6062, -122.3321, "America/Los_Angeles"}
	singapore = place{"Singapore", "AS", "SG", "Singapore", "", "", 1.3521, 103.8198, "Asia/Singapore"}
	sydney    = place{"Sydney", "OC", "AU", "Australia", "NSW", "New South Wales", -33.8688, 151.2093, "Australia/Sydney"}
)

var continentNames = map[string]string{
	"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
	"NA": "North America", "OC": "Oceania", "SA": "South America",
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en)}
}

func country(p place) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(p.country), "names": names(p.countryName)}
}

// cityRecord is a full GeoIP2-City record for p.
func cityRecord(p place) mmdbtype.Map {
	m := countryOnly(p)
	m["city"] = mmdbtype.Map{"names": names(p.city)}
	m["location"] = mmdbtype.Map{
		"accuracy_radius": mmdbtype.Uint16(20),
		"latitude":        mmdbtype.Float64(p.lat),
		"longitude":       mmdbtype.Float64(p.lon),
		"time_zone":       mmdbtype.String(p.tz),
	}
	if p.sub != "" {
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(p.sub), "names": names(p.subName)}}
	}
	return m
}

// countryOnly is a record that knows the country but not where in it:
// no city, subdivision or location.
func countryOnly(p place) mmdbtype.Map {
	return mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String(p.continent), "names": names(continentNames[p.continent])},
		"country":            country(p),
		"registered_country": country(p),
	}
}

// network is one database entry.
type network struct {
	cidr string
	data mmdbtype.Map
}

// cityNetworks are inserted in order; a later, more specific network
// replaces that part of an earlier one (nesting).
var cityNetworks = []network{
	// Loopback, so that `dig @127.0.0.1` without ECS has a location in the demo.
	{"127.0.0.0/8", cityRecord(amsterdam)},
	// And for `dig @::1`. In an IPv6 tree IPv4 lives at ::/96, so this is
	// also where 0.0.0.1 is looked up; nobody asks from there.
	{"::1/128", cityRecord(amsterdam)},
	// Like MaxMind's GeoIP2-City-Test.mmdb, where 81.2.69.142 is in London.
	{"81.2.69.0/24", cityRecord(london)},
	// TEST-NET-1: Amsterdam, with nested Frankfurt and a country-only /28.
	{"192.0.2.0/24", cityRecord(amsterdam)},
	{"192.0.2.128/25", cityRecord(frankfurt)},
	{"192.0.2.240/28", countryOnly(frankfurt)},
	// TEST-NET-2: Ashburn, with nested Seattle.
	{"198.51.100.0/24", cityRecord(ashburn)},
	{"198.51.100.128/25", cityRecord(seattle)},
	// TEST-NET-3: Singapore, with nested Sydney.
	{"203.0.113.0/24", cityRecord(singapore)},
	{"203.0.113.128/25", cityRecord(sydney)},
	// A network whose record is an empty map: data, but nothing in it.
	{"10.0.0.0/8", mmdbtype.Map{}},
	// IPv6 documentation prefix: Amsterdam, with nested sites.
	{"2001:db8::/32", cityRecord(amsterdam)},
	{"2001:db8:1::/48", cityRecord(ashburn)},
	{"2001:db8:2::/48", cityRecord(singapore)},
	{"2001:db8:3::/48", cityRecord(sydney)},
	{"2001:db8:4::/48", cityRecord(frankfurt)},
	{"2001:db8:ff::/48", countryOnly(london)},
}

func asnRecord(asn uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(asn),
		"autonomous_system_organization": mmdbtype.String(org),
	}
}

// asnNetworks use documentation ASNs (RFC 5398): 64496-64511 and the
// 32-bit 65536-65551.
var asnNetworks = []network{
	{"127.0.0.0/8", asnRecord(64496, "Godwit Loopback")},
	{"::1/128", asnRecord(64496, "Godwit Loopback")},
	{"81.2.69.0/24", asnRecord(64497, "Example London Net")},
	{"192.0.2.0/24", asnRecord(64498, "Example Amsterdam Net")},
	{"192.0.2.128/25", asnRecord(64499, "Example Frankfurt Net")},
	{"198.51.100.0/24", asnRecord(64500, "Example Ashburn Net")},
	{"203.0.113.0/24", asnRecord(65536, "Example Asia-Pacific Net")},
	{"2001:db8::/32", asnRecord(64501, "Example IPv6 Net")},
	{"2001:db8:1::/48", asnRecord(65537, "Example IPv6 Ashburn Net")},
}

func main() {
	log.SetFlags(0)
	out := flag.String("out", "testdata/geoip", "output directory")
	flag.Parse()

	for _, f := range []struct {
		file, dbType, desc string
		nets               []network
	}{
		{"godwit-city.mmdb", "GeoIP2-City", "Godwit synthetic City test database", cityNetworks},
		{"godwit-asn.mmdb", "GeoLite2-ASN", "Godwit synthetic ASN test database", asnNetworks},
	} {
		path := filepath.Join(*out, f.file)
		if err := write(path, f.dbType, f.desc, f.nets); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		fmt.Println("wrote", path)
	}
}

func write(path, dbType, desc string, nets []network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:              buildEpoch,
		DatabaseType:            dbType,
		Description:             map[string]string{"en": desc},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true, // every network here is a reserved one
		IPVersion:               6,
		RecordSize:              24,
	})
	if err != nil {
		return err
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			return err
		}
		if err := tree.Insert(ipnet, n.data); err != nil {
			return fmt.Errorf("insert %s: %w", n.cidr, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Check the result with the reader Godwit uses before replacing the file.
	r, err := maxminddb.Open(tmp)
	if err != nil {
		return err
	}
	err = r.Verify()
	r.Close()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return os.Rename(tmp, path)
}
