package zones

import mdns "github.com/miekg/dns"

// Result is the outcome of Set.Lookup for one question. The RRs are shared
// with the snapshot and must be treated as read-only (copy before changing).
type Result struct {
	Rcode         int  // mdns.RcodeSuccess, mdns.RcodeNameError or mdns.RcodeRefused
	Authoritative bool // set AA: false for referrals and REFUSED
	Answer        []mdns.RR
	Ns            []mdns.RR
	Extra         []mdns.RR
	Zone          string // apex of the zone that answered, "" when refused

	// Service is set when the name the answer ends at (the qname, or the
	// target of the CNAMEs already in Answer) is a GSLB service and the
	// question asks for A or AAAA. The caller appends the service's
	// addresses (owner name: ServiceOwner) to Answer. When the service has
	// no address of the asked family the caller answers NODATA with Ns.
	Service      *Service
	ServiceOwner string // owner name for the synthesized A/AAAA records
	// NegativeSOA is set with Service: the zone's SOA with the RFC 2308
	// negative TTL (the smaller of its TTL and MINIMUM), for the authority
	// section of a NODATA answer when the service has no address to give.
	NegativeSOA []mdns.RR
}
