package zones

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
)

// Limits enforced by CompileServices so that Select can work in fixed-size
// scratch space on the stack.
const (
	MaxServiceDatacenters = 64  // targets per service
	MaxServiceAddresses   = 256 // addresses per service, both families together
)

// Policy is how a service ranks its datacenters.
type Policy uint8

// The policies. The zero Policy is invalid.
const (
	RoundRobin Policy = iota + 1
	Weighted
	Failover
	Geo
	Routes
)

var policyNames = [...]string{"", "round-robin", "weighted", "failover", "geo", "routes"}

func (p Policy) String() string {
	if int(p) < len(policyNames) && p != 0 {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// MarshalText makes a Policy print as its name in JSON.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// proximity reports whether p ranks by where the client is.
func (p Policy) proximity() bool { return p == Geo || p == Routes }

// ParsePolicy returns the Policy named s.
func ParsePolicy(s string) (Policy, bool) {
	for i, n := range policyNames {
		if i > 0 && n == s {
			return Policy(i), true
		}
	}
	return 0, false
}

// Service is a compiled GSLB service name: a name inside one of our zones
// whose A and AAAA answers are chosen per query by Select. It is immutable
// once compiled; everything Select needs is precomputed here.
type Service struct {
	Name      string // lower-case, fully qualified
	Policy    Policy
	Fallback  Policy  // used when Policy cannot rank (see docs/policies.md)
	Answers   int     // at most this many addresses per reply and family
	TTL       uint32  // TTL while everything is healthy and stable
	MinTTL    uint32  // floor while anything is down or changing
	Check     string  // default check of the targets ("" = none)
	Tolerance float64 // relative distance within which geo treats datacenters as equal
	Targets   []Target
	MapKeys   []string // normalised geo map keys, in the order Select tries them (net: longest first, then asn:, subdivision:, country:, continent:)

	chain  [3]Policy // Policy, then fallbacks; the last one always ranks
	nchain int
	final  Policy // the non-proximity policy at the end of chain: orders tails

	entries   []mapEntry
	nets      []int // indexes into entries, longest prefix first
	byASN     map[uint32]int
	bySubdiv  map[string]int
	byCountry map[string]int
	byCont    map[string]int

	dcIndex  map[string]int // target index by datacenter name
	asnIndex map[uint32]int // target index by datacenter ASN
	count    [2]int         // addresses per family (0: IPv4, 1: IPv6)
	naddrs   int
	probes   []Probe

	// stable remembers healthPass's result for the last health view in
	// which every address of the service was stable (nothing in doubt, so
	// nothing depends on the time): views are immutable and change only
	// when a probe or an override does, so most queries reuse it.
	stable atomic.Pointer[healthMemo]
}

// healthMemo is healthPass's result for one view.
type healthMemo struct {
	view *health.View
	up   upSet
	ttl  uint32
}

// Target is one datacenter's part of a service.
type Target struct {
	Datacenter   string
	Weight       int
	Check        string     // effective check: the target's own or the service's
	CheckAddress netip.Addr // probe this address instead of each answered one (invalid: none)
	HasLocation  bool
	Lat, Lon     float64 // degrees
	ASN          []uint32
	Addrs        [2][]netip.Addr // by family: 0 IPv4, 1 IPv6, config order

	base    [2]int     // index of Addrs[f][0] among all the service's addresses
	unit    [3]float64 // the location as a unit vector, for distance ranking
	dcIndex int        // position in the service's Targets
}

// Probe is one health probe a service needs: Check run against ProbeAddr on
// behalf of the answered address Addr in Datacenter. ProbeAddr equals Addr
// unless the target has a check_address.
type Probe struct {
	Check      string
	Datacenter string
	Addr       netip.Addr
	ProbeAddr  netip.Addr
}

// Probes lists every (check, datacenter, address) the service's answers
// depend on, for the health checker. Targets without a check are left out.
func (s *Service) Probes() []Probe { return s.probes }

type mapKind uint8

const (
	mapNet mapKind = iota + 1
	mapASN
	mapSubdivision
	mapCountry
	mapContinent
)

var mapKindNames = [...]string{"", "net", "asn", "subdivision", "country", "continent"}

// mapEntry is one compiled geo map key: the datacenters it names, in the
// listed order, as target indexes.
type mapEntry struct {
	key    string // normalised, e.g. "country:US"
	kind   mapKind
	prefix netip.Prefix // for mapNet
	dcs    []uint8
	mask   uint64 // bit i set when target i is listed
}

func (t *Target) setLocation(lat, lon float64) {
	t.HasLocation = true
	t.Lat, t.Lon = lat, lon
	t.unit = geo.UnitVector(lat, lon)
}
