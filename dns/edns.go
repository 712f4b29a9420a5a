package dns

import (
	"net/netip"

	mdns "github.com/miekg/dns"
)

// ClientInfo is who asked, as far as the answer may depend on it.
type ClientInfo struct {
	// Source is the address the query came from (IPv4 unmapped).
	Source netip.Addr
	// ECS reports that the query carried a valid EDNS Client Subnet option
	// with a non-zero source prefix and that the server honours ECS
	// (use_ecs): locate the client by ECSPrefix rather than by Source.
	ECS bool
	// ECSPrefix is the option's source prefix, masked; valid whenever the
	// query carried a valid ECS option, even when ECS is false.
	ECSPrefix netip.Prefix
	// Family is the ECS address family (1 = IPv4, 2 = IPv6), 0 without ECS.
	Family uint16
}

// ednsInfo is what the handler needs from a request's OPT RR.
type ednsInfo struct {
	present bool   // exactly one valid OPT RR in the additional section
	version uint8  // EDNS version asked for
	do      bool   // DNSSEC OK
	co      bool   // Compact Answers OK (RFC 9824 section 5.1)
	coReply bool   // the reply sets CO: a signed zone answered a CO query
	size    uint16 // the client's UDP payload size
	nsid    bool   // an empty NSID option asks for our NSID (RFC 5001)

	ecs       bool // a valid ECS option
	ecsFamily uint16
	ecsPrefix netip.Prefix // source prefix, masked
}

// parseEDNS reads the request's OPT RR. It returns ok=false for a FORMERR
// (RFC 6891 §6.1.1: more than one OPT, or an OPT outside the additional
// section, or not owned by the root; RFC 7871 §7.1.2: a malformed ECS
// option); e.present then says whether the FORMERR may carry an OPT.
// Options other than NSID and ECS are ignored; options of a version > 0
// are not looked at (the caller answers BADVERS).
func parseEDNS(r *mdns.Msg) (e ednsInfo, ok bool) {
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == mdns.TypeOPT {
			return e, false
		}
	}
	for _, rr := range r.Ns {
		if rr.Header().Rrtype == mdns.TypeOPT {
			return e, false
		}
	}
	var opt *mdns.OPT
	for _, rr := range r.Extra {
		if o, isOpt := rr.(*mdns.OPT); isOpt {
			if opt != nil {
				return ednsInfo{}, false
			}
			opt = o
		}
	}
	if opt == nil {
		return e, true
	}
	if opt.Hdr.Name != "." {
		return e, false
	}
	e.present = true
	e.version = opt.Version()
	e.do = opt.Do()
	e.co = opt.Hdr.Ttl&coBit != 0
	e.size = opt.UDPSize()
	if e.version != 0 {
		return e, true
	}
	var ecs *mdns.EDNS0_SUBNET
	optLen, exact := 0, true // wire length of the options, when it can be known
	for _, o := range opt.Option {
		n, ok := optionWireLen(o)
		exact = exact && ok
		optLen += 4 + n
		switch o := o.(type) {
		case *mdns.EDNS0_NSID:
			if o.Nsid == "" {
				e.nsid = true
			}
		case *mdns.EDNS0_SUBNET:
			if ecs != nil {
				return e, false // two ECS options: which client?
			}
			ecs = o
		}
	}
	if ecs == nil {
		return e, true
	}
	// The library copies the address bytes into a fixed-size IP and so
	// hides how many the client sent; the OPT's wire RDLENGTH tells, as
	// long as every other option's wire length is known.
	if exact && optLen != int(opt.Hdr.Rdlength) {
		return e, false // too few or too many ADDRESS octets
	}
	p, ok := ecsPrefix(ecs)
	if !ok {
		return e, false
	}
	e.ecs, e.ecsFamily, e.ecsPrefix = true, ecs.Family, p
	return e, true
}

// ecsPrefix validates an ECS option of a query (RFC 7871 §6, §7.1.2) and
// returns its source prefix.
func ecsPrefix(o *mdns.EDNS0_SUBNET) (netip.Prefix, bool) {
	if o.SourceScope != 0 {
		return netip.Prefix{}, false
	}
	var addr netip.Addr
	switch o.Family {
	case 1:
		if o.SourceNetmask > 32 {
			return netip.Prefix{}, false
		}
		a4 := o.Address.To4()
		if a4 == nil {
			return netip.Prefix{}, false
		}
		addr = netip.AddrFrom4([4]byte(a4))
	case 2:
		if o.SourceNetmask > 128 || len(o.Address) != 16 {
			return netip.Prefix{}, false
		}
		addr = netip.AddrFrom16([16]byte(o.Address))
	default:
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(addr, int(o.SourceNetmask))
	if p.Masked().Addr() != addr {
		return netip.Prefix{}, false // non-zero bits beyond the source prefix
	}
	return p, true
}

// optionWireLen is the wire length of an option's data as the library
// unpacked it, and whether that length is certain. For ECS it is the length
// a well-formed option has, so that a mismatch with the OPT's RDLENGTH
// exposes extra or missing address octets.
func optionWireLen(o mdns.EDNS0) (int, bool) {
	switch o := o.(type) {
	case *mdns.EDNS0_SUBNET:
		return 4 + (int(o.SourceNetmask)+7)/8, true
	case *mdns.EDNS0_LOCAL:
		return len(o.Data), true
	case *mdns.EDNS0_NSID:
		return len(o.Nsid) / 2, true
	case *mdns.EDNS0_COOKIE:
		return len(o.Cookie) / 2, true
	case *mdns.EDNS0_PADDING:
		return len(o.Padding), true
	case *mdns.EDNS0_DAU:
		return len(o.AlgCode), true
	case *mdns.EDNS0_DHU:
		return len(o.AlgCode), true
	case *mdns.EDNS0_N3U:
		return len(o.AlgCode), true
	case *mdns.EDNS0_EDE:
		return 2 + len(o.ExtraText), true
	case *mdns.EDNS0_ESU:
		return len(o.Uri), true
	case *mdns.EDNS0_TCP_KEEPALIVE:
		return 2, o.Timeout != 0 // 0 or 2 octets when the timeout is 0
	case *mdns.EDNS0_UL:
		return 8, o.KeyLease != 0 // 4 or 8 octets when the key lease is 0
	case *mdns.EDNS0_EXPIRE:
		return 0, o.Empty // at least 4 octets when not empty
	default: // LLQ, REPORTING, ZONEVERSION: unpacking may skip octets
		return 0, false
	}
}

// coBit is the Compact Answers OK flag in the OPT RR's TTL (RFC 9824
// section 5.1), beside DO.
const coBit = 0x4000
