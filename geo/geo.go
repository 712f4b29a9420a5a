// Package geo owns MaxMind database lookups: it maps a client address to a
// Location (continent, country, subdivision, coordinates, ASN) together with
// the database networks that matched, and computes great-circle distances.
// It does not rank datacenters; that is zones.Select's job.
package geo

import "net/netip"

// Location is what the GeoIP databases say about one address. Strings are
// interned at load time, so a Location is built without allocating.
type Location struct {
	Continent   string // two-letter continent code ("EU"), "" when unknown
	Country     string // ISO 3166-1 alpha-2 ("GB"), "" when unknown
	Subdivision string // ISO 3166-2 code of the first subdivision incl. country ("US-WA"), "" when unknown
	Lat, Lon    float64
	HasCoords   bool // Lat/Lon are meaningful
	// Vec is UnitVector(Lat, Lon), precomputed at load so that ranking
	// datacenters by distance needs no trigonometry per query. Zero
	// without HasCoords.
	Vec [3]float64
	ASN uint32 // 0 when unknown

	// Network is the city/country database network that contains the
	// address, valid even when that network carries no data (so that an
	// ECS scope can be derived for "unknown" answers too). For an IPv4
	// address it is an IPv4 prefix. Invalid when no city DB is loaded.
	Network netip.Prefix
	// ASNNetwork is the same for the ASN database.
	ASNNetwork netip.Prefix
}
