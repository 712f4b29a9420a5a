package zones

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strings"
	"time"

	"github.com/godwit-dns/godwit/geo"
)

// ranker orders one service's datacenters for one query. It lives on the
// stack of Select; nothing in it is allocated unless a Trace is recorded.
type ranker struct {
	s    *Service
	env  Env
	addr netip.Addr // client, unmapped
	src  int        // ECS source prefix length, -1 without ECS
	tr   *Trace
	rng  uint64 // used when env.Rand is nil

	ord  [MaxServiceDatacenters]uint8 // target indexes, best first
	n    int
	used Policy

	scope int // ECS scope prefix length so far
	// Positions ord[tailStart:] were ordered by distance from the
	// client's city-database coordinates (or by the fallback because the
	// city database gave none); if the answer reaches into them, the
	// city network tailBits joins the scope. tailStart < 0: no such tail.
	tailStart int
	tailBits  int
}

// rank fills r.ord with every target, best first, trying the service's
// policy and then its fallbacks. The last policy in the chain always ranks.
func (r *ranker) rank() {
	s := r.s
	r.n = len(s.Targets)
	r.tailStart = -1
	for i := 0; i < s.nchain; i++ {
		p := s.chain[i]
		var ok bool
		switch p {
		case RoundRobin:
			r.rankRoundRobin()
			ok = true
		case Weighted:
			r.fillConfigOrder(0)
			r.weightedOrder(r.ord[:r.n], "weighted random")
			ok = true
		case Failover:
			r.fillConfigOrder(0)
			if r.tr != nil {
				for i := range r.n {
					r.tr.setWhy(int(r.ord[i]), fmt.Sprintf("failover: config position %d", i+1))
				}
			}
			ok = true
		case Geo:
			ok = r.rankGeo()
		case Routes:
			ok = r.rankRoutes()
		}
		if ok {
			r.used = p
			return
		}
	}
	// Unreachable with a compiled service: the chain ends in a
	// non-proximity policy. Keep config order rather than nothing.
	r.fillConfigOrder(0)
	r.used = s.final
}

func (r *ranker) fillConfigOrder(from int) {
	for i := from; i < r.n; i++ {
		r.ord[i] = uint8(i)
	}
}

func (r *ranker) rankRoundRobin() {
	n := r.n
	start := int(r.env.Seq % uint64(n))
	for i := range n {
		r.ord[i] = uint8((start + i) % n)
	}
	if r.tr != nil {
		for i := range n {
			r.tr.setWhy(int(r.ord[i]), fmt.Sprintf("round-robin: query %d starts at datacenter %d of %d", r.env.Seq, start+1, n))
		}
	}
}

// intn returns a random number in [0, n).
func (r *ranker) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if r.env.Rand != nil {
		return r.env.Rand.IntN(n)
	}
	// splitmix64 seeded from Seq: deterministic, no allocation.
	r.rng += 0x9e3779b97f4a7c15
	z := r.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int(z % uint64(n))
}

// weightedOrder shuffles idx in place: weighted random order without
// replacement, so that idx[0] is each target with probability weight/sum.
func (r *ranker) weightedOrder(idx []uint8, why string) {
	ts := r.s.Targets
	total := 0
	for _, i := range idx {
		total += ts[i].Weight
	}
	if r.tr != nil {
		for _, i := range idx {
			r.tr.setWhy(int(i), fmt.Sprintf("%s: weight %d of %d", why, ts[i].Weight, total))
		}
	}
	for i := 0; i < len(idx)-1; i++ {
		x := r.intn(total)
		j := i
		for ; j < len(idx)-1; j++ {
			w := ts[idx[j]].Weight
			if x < w {
				break
			}
			x -= w
		}
		idx[i], idx[j] = idx[j], idx[i]
		total -= ts[idx[i]].Weight
	}
}

// orderTail orders r.ord[from:] (filled in config order) by the service's
// final non-proximity policy.
func (r *ranker) orderTail(from int, why string) {
	tail := r.ord[from:r.n]
	switch r.s.final {
	case Weighted:
		w := ""
		if r.tr != nil {
			w = why + ", then weighted random"
		}
		r.weightedOrder(tail, w)
	case RoundRobin:
		if len(tail) > 1 {
			rotate(tail, int(r.env.Seq%uint64(len(tail))))
		}
		if r.tr != nil {
			for _, i := range tail {
				r.tr.setWhy(int(i), why+", then round-robin")
			}
		}
	default:
		if r.tr != nil {
			for _, i := range tail {
				r.tr.setWhy(int(i), why+", then config order")
			}
		}
	}
}

// rotate rotates a left by k.
func rotate(a []uint8, k int) {
	rev := func(a []uint8) {
		for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
			a[i], a[j] = a[j], a[i]
		}
	}
	rev(a[:k])
	rev(a[k:])
	rev(a)
}

// addScope raises the ECS scope to bits. why is only formatted when tracing.
func (r *ranker) addScope(bits int, why string, p netip.Prefix) {
	if bits > r.scope {
		r.scope = bits
	}
	if r.tr != nil {
		if p.IsValid() {
			r.tr.scopeWhy = append(r.tr.scopeWhy, fmt.Sprintf("/%d from %s %s", bits, why, p))
		} else {
			r.tr.scopeWhy = append(r.tr.scopeWhy, fmt.Sprintf("/%d from %s", bits, why))
		}
	}
}

// prefixBits is p's length when p is valid and of the client's family, else -1.
func (r *ranker) prefixBits(p netip.Prefix) int {
	if !p.IsValid() || p.Addr().Is4() != r.addr.Is4() {
		return -1
	}
	return p.Bits()
}

// decidedBits is the scope for data that decided the answer: its network
// length, or the ECS source length when the network is not known.
func (r *ranker) decidedBits(p netip.Prefix) int {
	if b := r.prefixBits(p); b >= 0 {
		return b
	}
	return max(r.src, 0)
}

func (r *ranker) fallback(why string) {
	if r.tr != nil {
		r.tr.Fallbacks = append(r.tr.Fallbacks, why)
	}
}

// rankGeo ranks by the service's map, then by distance. It reports false
// (fall back) when the client has neither a matching map entry nor
// coordinates.
func (r *ranker) rankGeo() bool {
	s := r.s
	entry := -1
	if len(s.nets) > 0 {
		var foreign int
		entry, foreign = s.matchNet(r.addr)
		if foreign > 0 {
			r.addScope(foreign, "the shortest prefix around the client free of other net: entries", netip.Prefix{})
		}
		if entry >= 0 {
			p := s.entries[entry].prefix
			r.addScope(p.Bits(), "map entry", p)
		}
	}
	var loc geo.Location
	located := r.env.Geo != nil
	if located {
		loc = r.env.Geo.Lookup(r.addr)
		if r.tr != nil {
			r.tr.Location = traceLocation(loc)
		}
	}
	cityBits := r.prefixBits(loc.Network)
	if entry < 0 && located {
		if len(s.byASN) > 0 {
			if i, ok := s.byASN[loc.ASN]; ok && loc.ASN != 0 {
				entry = i
				r.addScope(r.decidedBits(loc.ASNNetwork), "ASN network", loc.ASNNetwork)
			} else if b := r.prefixBits(loc.ASNNetwork); b >= 0 {
				r.addScope(b, "ASN network (no asn: entry matched)", loc.ASNNetwork)
			}
		}
		if entry < 0 {
			if i, ok := s.bySubdiv[loc.Subdivision]; ok && loc.Subdivision != "" {
				entry = i
			} else if i, ok := s.byCountry[loc.Country]; ok && loc.Country != "" {
				entry = i
			} else if i, ok := s.byCont[loc.Continent]; ok && loc.Continent != "" {
				entry = i
			}
			if entry >= 0 {
				r.addScope(r.decidedBits(loc.Network), "city network", loc.Network)
			}
		}
	}
	if entry >= 0 {
		e := &s.entries[entry]
		if r.tr != nil {
			r.tr.MapEntry = e.key
		}
		k := copy(r.ord[:], e.dcs)
		for i := range r.n {
			if e.mask&(1<<i) == 0 {
				r.ord[k] = uint8(i)
				k++
			}
		}
		if r.tr != nil {
			for i, dc := range e.dcs {
				r.tr.setWhy(int(dc), fmt.Sprintf("map entry %s, position %d", e.key, i+1))
			}
		}
		from := len(e.dcs)
		if from < r.n && located {
			if loc.HasCoords {
				r.sortByDistance(from, loc, false)
			} else {
				r.orderTail(from, "not in map entry, client has no coordinates")
			}
			if e.kind == mapNet || e.kind == mapASN {
				// The tail's order came from (or needed) the city
				// database, which the decision itself did not use.
				r.tailStart, r.tailBits = from, cityBits
			}
		} else if from < r.n {
			r.orderTail(from, "not in map entry, no GeoIP database")
		}
		return true
	}
	if !located {
		r.fallback("geo: no GeoIP database and no net: entry matched")
		return false
	}
	if !loc.HasCoords {
		if cityBits >= 0 {
			r.addScope(cityBits, "city network without a location", loc.Network)
		}
		switch {
		case r.tr == nil: // the reason is built for explain only: no allocation when serving
		case loc.Country != "":
			r.fallback("geo: no map entry matched, and the database gives country " + loc.Country + " but no coordinates to rank by distance")
		case loc.Continent != "":
			r.fallback("geo: no map entry matched, and the database gives continent " + loc.Continent + " but no coordinates to rank by distance")
		default:
			r.fallback("geo: no map entry matched and the client's location is unknown")
		}
		return false
	}
	r.addScope(r.decidedBits(loc.Network), "city network", loc.Network)
	r.fillConfigOrder(0)
	r.sortByDistance(0, loc, true)
	return true
}

// sortByDistance sorts r.ord[from:] by distance from loc (stable: ties
// keep config order). With share set, the targets within the service's
// tolerance of the nearest share first place by weight.
//
// Datacenters are compared by the dot product of unit vectors, which falls
// as the great-circle distance grows, so the sort needs no trigonometry per
// datacenter; distances in km are computed only where the tolerance rule
// or a trace needs them.
func (r *ranker) sortByDistance(from int, loc geo.Location, share bool) {
	var dot [MaxServiceDatacenters]float64
	ts := r.s.Targets
	c := loc.Vec
	if c == ([3]float64{}) { // a Locator that left it out
		c = geo.UnitVector(loc.Lat, loc.Lon)
	}
	for _, i := range r.ord[from:r.n] {
		u := &ts[i].unit
		dot[i] = c[0]*u[0] + c[1]*u[1] + c[2]*u[2]
	}
	a := r.ord[from:r.n]
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && dot[a[j]] > dot[a[j-1]]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	if r.tr != nil {
		for _, i := range a {
			r.tr.setWhy(int(i), fmt.Sprintf("distance %.0f km", arcKm(dot[i])))
			r.tr.setDistance(int(i), arcKm(dot[i]))
		}
	}
	if !share || len(a) < 2 {
		return
	}
	nearest := arcKm(dot[a[0]])
	// Within limit km of the client is a dot product of at least
	// cos(limit/R): one cosine here instead of an arcsine per datacenter.
	// Ties with the nearest count whatever the rounding.
	limit := nearest * (1 + r.s.Tolerance)
	dotLimit := math.Cos(min(limit/earthRadiusKm, math.Pi))
	k := 1
	for k < len(a) && (dot[a[k]] >= dotLimit || dot[a[k]] >= dot[a[0]]) {
		k++
	}
	if k > 1 {
		r.weightedOrder(a[:k], "within tolerance of the nearest, weighted random")
		if r.tr != nil {
			for _, i := range a[:k] {
				r.tr.setWhy(int(i), fmt.Sprintf("distance %.0f km, within %.0f%% of the nearest (%.0f km): shares first place by weight %d",
					arcKm(dot[i]), r.s.Tolerance*100, nearest, ts[i].Weight))
			}
		}
	}
}

// earthRadiusKm is the mean Earth radius, as in geo.Distance.
const earthRadiusKm = 6371.0088

// arcKm is the great-circle distance in km between two points whose unit
// vectors have the given dot product. It goes through the chord length
// (2 - 2·dot = chord²), which keeps short distances accurate, unlike
// acos(dot). Kept local so that zones uses geo for types only; the tests
// check it against geo.Distance.
func arcKm(dot float64) float64 {
	chord := math.Sqrt(max(0, 2-2*dot))
	return 2 * earthRadiusKm * math.Asin(min(chord/2, 1))
}

// matchNet returns the longest net: entry containing a (-1: none) and the
// shortest prefix length around a that contains no net: entry not
// containing a (0 when there is none).
func (s *Service) matchNet(a netip.Addr) (entry, foreign int) {
	entry = -1
	if !a.IsValid() {
		return entry, 0
	}
	for _, i := range s.nets {
		p := s.entries[i].prefix
		if p.Addr().Is4() != a.Is4() {
			continue
		}
		if p.Contains(a) {
			if entry < 0 {
				entry = i // s.nets is sorted longest first
			}
			continue
		}
		// a/L is disjoint from p exactly when L > common prefix length.
		if l := commonBits(a, p.Addr()) + 1; l > foreign {
			foreign = l
		}
	}
	return entry, foreign
}

// commonBits is the number of leading bits a and b share (same family).
func commonBits(a, b netip.Addr) int {
	if a.Is4() {
		x, y := a.As4(), b.As4()
		return min(bits.LeadingZeros32(binary.BigEndian.Uint32(x[:])^binary.BigEndian.Uint32(y[:])), 32)
	}
	x, y := a.As16(), b.As16()
	if n := bits.LeadingZeros64(binary.BigEndian.Uint64(x[:8]) ^ binary.BigEndian.Uint64(y[:8])); n < 64 {
		return n
	}
	return 64 + bits.LeadingZeros64(binary.BigEndian.Uint64(x[8:])^binary.BigEndian.Uint64(y[8:]))
}

// rankRoutes ranks the datacenters that reach the client's prefix by AS
// path length, then the rest by the final fallback. It reports false (fall
// back) when no route matches or none names a target of this service.
func (r *ranker) rankRoutes() bool {
	if r.env.Routes == nil {
		r.fallback("routes: no route table")
		return false
	}
	m, ok := r.env.Routes.Lookup(r.addr)
	if r.tr != nil && ok {
		r.tr.Route = traceRoute(m)
	}
	scoper, exact := r.env.Routes.(RouteScoper)
	if !ok {
		switch {
		case exact:
			r.addScope(scoper.RouteScope(r.addr, m, false), "the shortest prefix around the client free of routes", netip.Prefix{})
		case r.src >= 0:
			r.addScope(r.src, "the ECS source prefix (no route matched; the table's extent is unknown here)", netip.Prefix{})
		}
		r.fallback("routes: no route matches the client")
		return false
	}
	r.addScope(r.decidedBits(m.Prefix), "route prefix", m.Prefix)
	if exact {
		r.addScope(scoper.RouteScope(r.addr, m, true), "the shortest prefix around the client free of more specific routes", netip.Prefix{})
	}
	var plen [MaxServiceDatacenters]int
	var mask uint64
	k := 0
	for _, re := range m.Reach {
		i, ok := r.s.targetFor(re.Datacenter)
		if !ok || mask&(1<<i) != 0 {
			continue
		}
		mask |= 1 << i
		r.ord[k], plen[k] = uint8(i), re.PathLen
		k++
	}
	if k == 0 {
		r.fallback("routes: the matching route names no datacenter of this service")
		return false
	}
	// stable insertion sort by path length
	for i := 1; i < k; i++ {
		for j := i; j > 0 && plen[j] < plen[j-1]; j-- {
			r.ord[j], r.ord[j-1] = r.ord[j-1], r.ord[j]
			plen[j], plen[j-1] = plen[j-1], plen[j]
		}
	}
	if r.tr != nil {
		for i := range k {
			r.tr.setWhy(int(r.ord[i]), fmt.Sprintf("route %s: AS path length %d", m.Prefix, plen[i]))
			r.tr.setPathLen(int(r.ord[i]), plen[i])
		}
	}
	for i := 0; i < k; {
		j := i + 1
		for j < k && plen[j] == plen[i] {
			j++
		}
		if j-i > 1 {
			why := ""
			if r.tr != nil {
				why = fmt.Sprintf("route %s: AS path length %d, tie", m.Prefix, plen[i])
			}
			r.weightedOrder(r.ord[i:j], why)
		}
		i = j
	}
	from := k
	for i := range r.n {
		if mask&(1<<i) == 0 {
			r.ord[k] = uint8(i)
			k++
		}
	}
	if from < r.n {
		r.orderTail(from, "no route from this datacenter")
	}
	return true
}

// targetFor finds the target a route's datacenter names: by name, or by an
// ASN ("65001" or "AS65001") listed for the target's datacenter.
func (s *Service) targetFor(dc string) (int, bool) {
	if i, ok := s.dcIndex[dc]; ok {
		return i, true
	}
	if len(s.asnIndex) == 0 {
		return 0, false
	}
	if len(dc) > 2 && (strings.HasPrefix(dc, "AS") || strings.HasPrefix(dc, "as")) {
		dc = dc[2:]
	}
	// strconv.ParseUint would allocate its error for every non-number.
	if dc == "" || len(dc) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range []byte(dc) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxUint32 {
		return 0, false
	}
	i, ok := s.asnIndex[uint32(n)]
	return i, ok
}

// seconds formats a Settle for traces.
func seconds(d time.Duration) string { return d.Round(time.Millisecond).String() }
