package geo

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// MaxFileBytes bounds a database file, which is held in memory: GeoIP2
// City is about 130 MB and Enterprise several times that.
const MaxFileBytes = 2 << 30

// ErrDatabaseType is wrapped by Open's error when a file is a valid MaxMind
// DB of the wrong kind (an ASN database given as city_db, or vice versa).
var ErrDatabaseType = errors.New("wrong database type")

// DB is an immutable snapshot of the loaded databases. It is safe for
// concurrent use; a reload opens a new DB and swaps it in.
//
// Open reads each file into memory (no mmap), verifies it and decodes every
// distinct data record once into a compact, interned form. Lookup is then a
// walk of the search tree plus one map lookup, and allocates nothing. Because
// nothing is mapped, a DB that is replaced while queries still use it stays
// valid until the garbage collector reclaims it; Close need not wait.
type DB struct {
	city *source // nil when no city/country database is loaded
	asn  *source // nil when no ASN database is loaded

	// cache remembers the tree walks of recent IPv4 addresses: clients
	// repeat (a resolver's own address, the /24 an ECS option carries),
	// and on a full-size database each walk is some 30 dependent loads
	// spread over tens of megabytes. nil when records outnumber what an
	// entry can index.
	cache *lookupCache
}

// Info describes the loaded databases, for the status page. A zero DBInfo
// (empty Path) means that database is not loaded.
type Info struct {
	City DBInfo `json:"city"`
	ASN  DBInfo `json:"asn"`
}

// DBInfo describes one loaded database.
type DBInfo struct {
	Path       string        `json:"path"`
	Type       string        `json:"type"`        // metadata database_type, e.g. "GeoIP2-City"
	BuildEpoch int64         `json:"build_epoch"` // Unix seconds, from the metadata
	IPVersion  int           `json:"ip_version"`  // 4 or 6
	NodeCount  int           `json:"node_count"`  // search tree nodes
	Size       int64         `json:"size"`        // file size in bytes (held in memory)
	Networks   int           `json:"networks"`    // networks with data
	Records    int           `json:"records"`     // distinct decoded records after deduplication
	Located    int           `json:"located"`     // of those, records with coordinates (0: distance ranking cannot work)
	LoadTime   time.Duration `json:"load_time"`   // read + verify + decode
}

// BuildTime is BuildEpoch as a time.
func (i DBInfo) BuildTime() time.Time { return time.Unix(i.BuildEpoch, 0).UTC() }

// source is one opened database.
type source struct {
	reader *maxminddb.Reader
	v4only bool
	index  map[uintptr]uint32 // data section offset -> recs index
	recs   []record
	info   DBInfo
}

// record holds the fields Lookup returns, decoded once at Open.
type record struct {
	continent, country, subdivision string
	lat, lon                        float64
	vec                             [3]float64 // unit vector of lat, lon
	hasCoords                       bool
	asn                             uint32
}

// rawRecord is what Open decodes from each data record: only the fields
// Lookup uses, from the GeoIP2/GeoLite2 City, Country and ASN schemas.
type rawRecord struct {
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

// kind is the role a database plays; it decides which types are accepted.
type kind struct {
	key   string   // config key, for errors
	want  string   // description, for errors
	types []string // accepted words in the metadata database_type
}

var (
	cityKind = kind{"city_db", "a City or Country database", []string{"city", "country", "enterprise"}}
	asnKind  = kind{"asn_db", "an ASN database", []string{"asn", "isp"}}
)

// accepts reports whether a metadata database_type such as "GeoIP2-City",
// "GeoLite2-ASN" or "DBIP-City-Lite" names a database of this kind.
func (k kind) accepts(dbType string) bool {
	for _, w := range strings.FieldsFunc(dbType, func(r rune) bool { return r == '-' || r == '_' || r == ' ' }) {
		for _, t := range k.types {
			if strings.EqualFold(w, t) {
				return true
			}
		}
	}
	return false
}

// Open loads a city (or country) database and an ASN database; either path
// may be "" to load none. Files that are missing, unreadable, corrupt or of
// the wrong type are an error naming the path.
func Open(cityPath, asnPath string) (*DB, error) {
	db := &DB{}
	var err error
	if cityPath != "" {
		if db.city, err = openSource(cityPath, cityKind); err != nil {
			return nil, err
		}
	}
	if asnPath != "" {
		if db.asn, err = openSource(asnPath, asnKind); err != nil {
			return nil, err
		}
	}
	if db.city.cacheable() && db.asn.cacheable() {
		db.cache = new(lookupCache)
	}
	return db, nil
}

func openSource(path string, k kind) (*source, error) {
	start := time.Now()
	// Not os.ReadFile: a named pipe given as a database must not hang the
	// reload that opens it.
	buf, err := inputfile.ReadFile(path, inputfile.Options{MaxBytes: MaxFileBytes})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.key, err)
	}
	// Read into memory rather than mmap: see DB. No string cache: every
	// record is decoded once and its strings interned below.
	r, err := maxminddb.OpenBytes(buf, maxminddb.DisableStringCache())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", k.key, path, err)
	}
	md := r.Metadata
	if !k.accepts(md.DatabaseType) {
		return nil, fmt.Errorf("%s %s: %w: %q is not %s", k.key, path, ErrDatabaseType, md.DatabaseType, k.want)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", k.key, path, err)
	}
	s := &source{
		reader: r,
		v4only: md.IPVersion == 4,
		index:  make(map[uintptr]uint32),
	}
	networks, err := s.decodeAll()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", k.key, path, err)
	}
	s.info = DBInfo{
		Path:       path,
		Type:       md.DatabaseType,
		BuildEpoch: int64(md.BuildEpoch),
		IPVersion:  int(md.IPVersion),
		NodeCount:  int(md.NodeCount),
		Size:       int64(len(buf)),
		Networks:   networks,
		Records:    len(s.recs),
		Located:    s.located(),
		LoadTime:   time.Since(start),
	}
	return s, nil
}

// located counts the decoded records that carry coordinates.
func (s *source) located() int {
	n := 0
	for _, r := range s.recs {
		if r.hasCoords {
			n++
		}
	}
	return n
}

// decodeAll walks every network with data and decodes each distinct data
// record once. It returns the number of networks seen.
func (s *source) decodeAll() (int, error) {
	intern := map[string]string{"": ""}
	str := func(v string) string {
		if w, ok := intern[v]; ok {
			return w
		}
		v = strings.Clone(v)
		intern[v] = v
		return v
	}
	dedup := make(map[record]uint32)
	networks := 0
	for res := range s.reader.Networks() {
		if err := res.Err(); err != nil {
			return 0, err
		}
		networks++
		off := res.Offset()
		if _, ok := s.index[off]; ok {
			continue
		}
		var raw rawRecord
		if err := res.Decode(&raw); err != nil {
			return 0, fmt.Errorf("network %s: %w", res.Prefix(), err)
		}
		rec := record{
			continent: str(raw.Continent.Code),
			country:   str(raw.Country.ISOCode),
			asn:       raw.ASN,
		}
		if len(raw.Subdivisions) > 0 && raw.Subdivisions[0].ISOCode != "" && rec.country != "" {
			rec.subdivision = str(rec.country + "-" + raw.Subdivisions[0].ISOCode)
		}
		if lat, lon := raw.Location.Latitude, raw.Location.Longitude; lat != nil && lon != nil && validCoords(*lat, *lon) {
			rec.lat, rec.lon, rec.hasCoords = *lat, *lon, true
			rec.vec = UnitVector(rec.lat, rec.lon)
		}
		i, ok := dedup[rec]
		if !ok {
			if len(s.recs) == math.MaxUint32 {
				return 0, errors.New("too many distinct records")
			}
			i = uint32(len(s.recs))
			s.recs = append(s.recs, rec)
			dedup[rec] = i
		}
		s.index[off] = i
	}
	s.recs = s.recs[:len(s.recs):len(s.recs)]
	return networks, nil
}

func validCoords(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 // false for NaN
}

// lookup returns the network containing addr (an unmapped address without
// zone) and its record index (noRecord when the network holds no data). The
// prefix is invalid when the address cannot be looked up in this database.
func (s *source) lookup(addr netip.Addr) (uint32, netip.Prefix) {
	if s.v4only && addr.Is6() {
		return noRecord, netip.Prefix{}
	}
	res := s.reader.Lookup(addr)
	if res.Err() != nil {
		return noRecord, netip.Prefix{}
	}
	pfx := res.Prefix()
	if addr.Is4() && !pfx.Addr().Is4() {
		// The whole IPv4 subtree lies inside one network shorter than
		// ::/96 in an IPv6 tree: from IPv4's point of view that is 0/0.
		pfx = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if !res.Found() {
		return noRecord, pfx
	}
	i, ok := s.index[res.Offset()]
	if !ok {
		return noRecord, pfx // not reached: Open decoded every record in the tree
	}
	return i, pfx
}

// noRecord is the record index of a network without data.
const noRecord = math.MaxUint32

// Lookup returns what the databases say about addr. IPv4-mapped IPv6
// addresses are looked up as IPv4, and any zone is ignored. It does not
// allocate.
func (db *DB) Lookup(addr netip.Addr) Location {
	var loc Location
	if db == nil || !addr.IsValid() {
		return loc
	}
	addr = addr.Unmap().WithZone("")
	var (
		city, asn       = uint32(noRecord), uint32(noRecord)
		cityPfx, asnPfx netip.Prefix
		hit             bool
	)
	if db.cache != nil && addr.Is4() {
		city, cityPfx, asn, asnPfx, hit = db.cache.get(addr)
	}
	if !hit {
		if db.city != nil {
			city, cityPfx = db.city.lookup(addr)
		}
		if db.asn != nil {
			asn, asnPfx = db.asn.lookup(addr)
		}
		if db.cache != nil && addr.Is4() {
			db.cache.put(addr, city, cityPfx, db.city != nil, asn, asnPfx, db.asn != nil)
		}
	}
	if db.city != nil {
		loc.Network = cityPfx
		if city != noRecord {
			rec := &db.city.recs[city]
			loc.Continent = rec.continent
			loc.Country = rec.country
			loc.Subdivision = rec.subdivision
			loc.Lat, loc.Lon, loc.HasCoords = rec.lat, rec.lon, rec.hasCoords
			loc.Vec = rec.vec
		}
	}
	if db.asn != nil {
		loc.ASNNetwork = asnPfx
		if asn != noRecord {
			loc.ASN = db.asn.recs[asn].asn
		}
	}
	return loc
}

// Info describes the loaded databases.
func (db *DB) Info() Info {
	var in Info
	if db == nil {
		return in
	}
	if db.city != nil {
		in.City = db.city.info
	}
	if db.asn != nil {
		in.ASN = db.asn.info
	}
	return in
}

// Close exists for symmetry with Open. The databases live in ordinary
// memory, not a file mapping, so there is nothing to unmap: closing a DB
// that in-flight lookups still use is safe, and the garbage collector frees
// it once it is unreachable.
func (db *DB) Close() error {
	return nil
}
