package zones

import mdns "github.com/miekg/dns"

// MaxCNAMEChain bounds the CNAMEs Lookup follows for one question.
const MaxCNAMEChain = 8

// nameBufSize is the longest name Lookup lower-cases on the stack: every
// name without escapes fits (at most 254 bytes in presentation format);
// a longer one, with many \DDD escapes, costs an allocation.
const nameBufSize = 256

// What zoneData.find found.
const (
	foundNothing = iota // NXDOMAIN
	foundExact          // the name itself
	foundWild           // a wildcard that matches the name (RFC 4592)
	foundCut            // a delegation at or above the name
)

// Lookup answers one question from the Set, following RFC 1034 4.3.2 with
// RFC 4592 wildcards, RFC 2308 negative answers, RFC 6604 CNAME rcodes and
// RFC 8482 for ANY. qname is fully qualified, in any case.
//
//   - No zone holds qname: REFUSED, no records, AA clear.
//   - A delegation (NS below a zone apex) at or above qname: a referral with
//     the NS RRset in Ns and the glue for it in Extra, AA clear. A DS
//     question at the delegation point (or at the apex of a nested zone of
//     the Set) is answered from the parent side.
//   - A CNAME at the name (qtype not CNAME or ANY): the CNAME, then the
//     target looked up in every zone of the Set, up to MaxCNAMEChain CNAMEs
//     or a loop. A target outside our zones ends the chain with NOERROR;
//     otherwise the rcode is the last name's.
//   - NXDOMAIN and NODATA (empty non-terminals included, RFC 8020): the SOA
//     in Ns with TTL min(SOA TTL, MINIMUM).
//   - ANY at a name that has records or a service: the CNAME if the name
//     has one, otherwise one synthesized HINFO "RFC8482" "" whose TTL is the
//     zone's negative TTL. At an empty non-terminal: NODATA.
//   - NS, MX and SRV answers carry the A and AAAA records of their targets
//     that exist in our zones in Extra.
//   - The name reached (qname or CNAME target) is a service and qtype is A
//     or AAAA: Service and ServiceOwner are set, AA set, Answer holds the
//     CNAMEs followed so far; the caller adds the addresses.
//
// Lookup does not change the Set; the records in the Result are shared
// with it except those synthesized for wildcards. An exact-match answer
// allocates nothing. A nil Set refuses everything.
func (s *Set) Lookup(qname string, qtype uint16) Result {
	if s == nil {
		return Result{Rcode: mdns.RcodeRefused}
	}
	var buf [nameBufSize]byte
	name := lowerName(buf[:0], qname)
	zd := s.zoneFor(name, qtype)
	if zd == nil {
		return Result{Rcode: mdns.RcodeRefused}
	}
	res := Result{Authoritative: true, Zone: zd.origin}
	owner := qname // owner name of wildcard synthesis
	var (
		ans   []mdns.RR
		chain [MaxCNAMEChain]*node
	)
	for hop := 0; ; hop++ {
		n, found := zd.find(name, qtype)
		switch found {
		case foundNothing:
			res.Rcode = mdns.RcodeNameError
			res.Answer, res.Ns = ans, zd.negSOA
			return res
		case foundCut:
			res.Answer, res.Ns, res.Extra = ans, n.x.cut.referral, n.x.cut.glue
			res.Authoritative = hop > 0 // the answer section is ours
			return res
		case foundExact:
			for _, c := range chain[:hop] {
				if c == n { // a CNAME loop: stop with what we have
					res.Answer = ans
					return res
				}
			}
			if svc := n.service(); svc != nil && (qtype == mdns.TypeA || qtype == mdns.TypeAAAA) {
				res.Answer, res.Service, res.ServiceOwner, res.NegativeSOA = ans, svc, n.name, zd.negSOA
				return res
			}
		}

		var rrs, extra []mdns.RR
		if qtype == mdns.TypeANY {
			if rrs = n.cname(); rrs == nil && (n.nsets > 0 || n.service() != nil) {
				rrs = zd.anyAnswer(n.name)
			}
		} else {
			rrs, extra = zd.get(n, qtype)
		}
		if rrs != nil {
			if found == foundWild {
				rrs = synthesize(rrs, fqdn(owner))
			}
			res.Answer, res.Extra = concat(ans, rrs), extra
			return res
		}
		cname := n.cname()
		if cname == nil { // NODATA
			res.Answer, res.Ns = ans, zd.negSOA
			return res
		}

		if found == foundWild {
			cname = synthesize(cname, fqdn(owner))
		}
		if ans == nil {
			ans = make([]mdns.RR, 0, 4)
		}
		ans = append(ans, cname...)
		chain[hop] = n
		if hop+1 == MaxCNAMEChain {
			res.Answer = ans
			return res
		}
		name, owner = n.x.cnameTarget, n.x.cname[0].(*mdns.CNAME).Target
		if zd = s.zoneFor(name, qtype); zd == nil { // the chain leaves our zones
			res.Answer = ans
			return res
		}
	}
}

// anyAnswer is the RFC 8482 answer to qtype ANY at owner: one HINFO
// "RFC8482" "" with the zone's negative TTL. It is made per question (ANY
// is rare) rather than kept for every name.
func (zd *zoneData) anyAnswer(owner string) []mdns.RR {
	return []mdns.RR{&mdns.HINFO{
		Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: zd.negTTL},
		Cpu: "RFC8482",
	}}
}

// zoneFor returns the most specific zone for name, or for a DS question at
// the apex of a nested zone, the zone above it (RFC 4035 3.1.4.1).
func (s *Set) zoneFor(name []byte, qtype uint16) *zoneData {
	zd := s.findZone(name)
	if zd != nil && qtype == mdns.TypeDS && zd.parent != nil && string(name) == zd.origin {
		return zd.parent
	}
	return zd
}

// findZone returns the most specific zone that holds name (lower-case,
// fully qualified), walking label offsets from the left.
func (s *Set) findZone(name []byte) *zoneData {
	for off := 0; off < len(name); {
		if zd := s.zones[string(name[off:])]; zd != nil {
			return zd
		}
		next, end := nextLabel(name, off)
		if end {
			break
		}
		off = next
	}
	return s.zones["."]
}

// find looks name (lower-case, inside zd) up in zd.
func (zd *zoneData) find(name []byte, qtype uint16) (*node, int) {
	if n := zd.lookup(name); n != nil {
		switch {
		case n.below() != nil:
			return n.below(), foundCut
		case n.cut && qtype != mdns.TypeDS:
			return n, foundCut
		}
		return n, foundExact
	}
	// The closest encloser: the longest existing ancestor (RFC 4592 3.3.1).
	for off := 0; ; {
		next, end := nextLabel(name, off)
		var ce *node
		if end || next >= len(name) {
			ce = zd.lookupString(".")
		} else {
			ce = zd.lookup(name[next:])
		}
		off = next
		switch {
		case ce == nil:
			if end {
				return nil, foundNothing // not inside zd: cannot happen
			}
			continue
		case ce.below() != nil:
			return ce.below(), foundCut
		case ce.cut:
			return ce, foundCut
		case ce.wild() != nil:
			return ce.wild(), foundWild
		}
		return nil, foundNothing
	}
}

// nextLabel is mdns.NextLabel for a []byte.
func nextLabel(s []byte, offset int) (int, bool) {
	if len(s) == 0 {
		return 0, true
	}
	i := offset
	for ; i < len(s)-1; i++ {
		if s[i] != '.' {
			continue
		}
		j := i - 1
		for j >= 0 && s[j] == '\\' {
			j--
		}
		if (j-i)%2 == 0 { // an escaped dot
			continue
		}
		return i + 1, false
	}
	return i + 1, true
}

// lowerName appends the lower-case, fully qualified form of s to dst.
func lowerName(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if !mdns.IsFqdn(s) {
		dst = append(dst, '.')
	}
	return dst
}

func fqdn(s string) string {
	if mdns.IsFqdn(s) {
		return s
	}
	return s + "."
}

// synthesize copies rrs with the owner name changed (RFC 4592 wildcards).
func synthesize(rrs []mdns.RR, owner string) []mdns.RR {
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		c.Header().Name = owner
		out[i] = c
	}
	return out
}

// concat returns a followed by b, b itself (shared) when a is empty.
func concat(a, b []mdns.RR) []mdns.RR {
	if len(a) == 0 {
		return b
	}
	return append(a, b...)
}
