package zones

import (
	"slices"

	mdns "github.com/miekg/dns"
)

// TypesAt returns the types present at name, in the zone that answers
// qtype there, for the NSEC of a DNSSEC
// NODATA proof: the RRset types of the name itself, or of the wildcard
// that matches it (RFC 4592); A and/or AAAA for a GSLB service, by the
// families its targets have. An empty non-terminal has none (ok true).
// ok is false when name does not exist in the Set (or lies at or below a
// delegation). It allocates: it is for negative answers only.
func (s *Set) TypesAt(name string, qtype uint16) (types []uint16, ok bool) {
	if s == nil {
		return nil, false
	}
	var buf [nameBufSize]byte
	lname := lowerName(buf[:0], name)
	zd := s.zoneFor(lname, qtype) // DS at a nested zone's apex: the parent's side
	if zd == nil {
		return nil, false
	}
	n, found := zd.find(lname, mdns.TypeDS) // DS: a cut's own name is found exactly
	if found != foundExact && found != foundWild {
		return nil, false
	}
	for _, set := range zd.setsOf(n) {
		types = append(types, set.typ)
	}
	if svc := n.service(); svc != nil {
		if svc.count[0] > 0 {
			types = append(types, mdns.TypeA)
		}
		if svc.count[1] > 0 {
			types = append(types, mdns.TypeAAAA)
		}
	}
	if n.cut && !slices.Contains(types, mdns.TypeNS) {
		types = append(types, mdns.TypeNS)
	}
	return types, true
}

// CutDS returns the DS RRset at the delegation point cut (any case), the
// parent side's, or nil when the parent zone has none (or cut is not a
// delegation point).
func (s *Set) CutDS(cut string) []mdns.RR {
	if s == nil {
		return nil
	}
	var buf [nameBufSize]byte
	lname := lowerName(buf[:0], cut)
	zd := s.zoneFor(lname, mdns.TypeDS)
	if zd == nil {
		return nil
	}
	n := zd.lookup(lname)
	if n == nil {
		return nil
	}
	rrs, _ := zd.get(n, mdns.TypeDS)
	return rrs
}
