package dns

import (
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/zones"
)

// Signing is what an Answers implements when the generation signs: its
// DNSSEC signers and what the proofs of negative answers need from the
// zone data. The handler signs the answers of a query with the DO bit in
// every zone that has a Signer; without Signing nothing is signed.
type Signing interface {
	// Signers returns the signers of the signed zones (nil: none).
	Signers() *dnssec.Set
	// TypesAt returns the types present at name (at the wildcard that
	// matches it; A/AAAA for a service), ok false when it does not exist.
	TypesAt(name string, qtype uint16) (types []uint16, ok bool)
	// CutDS returns the DS RRset at the delegation point cut, nil if none.
	CutDS(cut string) []mdns.RR
}

// signersOf returns z's signers, nil when z does not sign. It allocates
// nothing.
func signersOf(z Answers) (Signing, *dnssec.Set) {
	s, ok := z.(Signing)
	if !ok {
		return nil, nil
	}
	set := s.Signers()
	if set == nil {
		return nil, nil
	}
	return s, set
}

// sign adds the DNSSEC records to m, the answer to q from res (service
// addresses already in m.Answer), for a query with the DO bit: RRSIGs
// after every RRset of the answer and additional sections, the DNSKEY
// RRset at an apex, compact denial of existence (RFC 9824) for NXDOMAIN
// and NODATA, and for a referral the signed DS RRset or the proof that
// there is none. co is the query's Compact Answers OK flag: it keeps the
// NXDOMAIN rcode. A signing error leaves that part unsigned and is
// reported (the resolver then finds the answer bogus, as it should).
func (h *Handler) sign(m *mdns.Msg, z Answers, res *zones.Result, q mdns.Question, co bool) {
	sz, set := signersOf(z)
	if set == nil || res.Zone == "" {
		return
	}
	fail := func(err error) {
		if err != nil {
			h.m.signErrors.Inc()
			h.noisy("dns: cannot sign an answer", "question", q.Name, "err", err)
		}
	}
	// The DNSKEY RRset at a signed apex: the zones hold none of their own.
	ok, err := apexDNSKEY(m, set, q, true)
	if ok {
		return
	}
	fail(err)
	last := q.Name // the name the answer ends at: the qname or the last CNAME's target
	for _, rr := range m.Answer {
		if c, ok := rr.(*mdns.CNAME); ok {
			last = c.Target
		}
	}
	if len(m.Answer) > 0 {
		ans, err := appendSigned(set, make([]mdns.RR, 0, 2*len(m.Answer)), m.Answer)
		fail(err)
		m.Answer = ans
	}
	switch {
	case len(m.Ns) > 0 && m.Ns[0].Header().Rrtype == mdns.TypeNS: // a referral
		m.Ns = h.signReferral(m.Ns, sz, set, fail)
		return // glue is not signed
	case len(m.Ns) > 0 && m.Ns[0].Header().Rrtype == mdns.TypeSOA &&
		(m.Rcode == mdns.RcodeNameError || m.Rcode == mdns.RcodeSuccess):
		sg := signerFor(set, last, q.Qtype)
		if sg == nil {
			break
		}
		soa := m.Ns[:1]
		negTTL := soa[0].Header().Ttl
		ns := make([]mdns.RR, 0, 6)
		ns = append(ns, soa...)
		sigs, err := sg.Sign(soa)
		fail(err)
		if err == nil {
			ns = append(ns, sigs.RRSIG...)
		}
		var proof *dnssec.Signatures
		if m.Rcode == mdns.RcodeNameError {
			proof, err = sg.NXName(last, negTTL)
			if !co {
				m.Rcode = mdns.RcodeSuccess // RFC 9824 section 5
			}
		} else {
			types, _ := sz.TypesAt(last, q.Qtype)
			proof, err = sg.NoData(last, q.Qtype, types, negTTL)
		}
		fail(err)
		if err == nil {
			ns = append(append(ns, proof.NSEC), proof.RRSIG...)
		}
		m.Ns = ns
	}
	if len(m.Extra) > 0 {
		extra, err := appendSigned(set, make([]mdns.RR, 0, 2*len(m.Extra)+1), m.Extra)
		fail(err)
		m.Extra = extra
	}
}

// signReferral returns the authority section of a referral: the NS RRset
// (unsigned), then the DS RRset at the cut signed by the parent, or the
// compact NSEC proving there is no DS (RFC 4035 3.1.4).
func (h *Handler) signReferral(ns []mdns.RR, sz Signing, set *dnssec.Set, fail func(error)) []mdns.RR {
	cut := ns[0].Header().Name
	parent := cut
	if i, end := mdns.NextLabel(cut, 0); !end {
		parent = cut[i:]
	}
	sg := set.For(parent)
	if sg == nil {
		return ns
	}
	out := make([]mdns.RR, 0, len(ns)+4)
	out = append(out, ns...)
	if ds := sz.CutDS(cut); len(ds) > 0 {
		sigs, err := sg.Sign(ds)
		fail(err)
		out = append(out, ds...)
		if err == nil {
			out = append(out, sigs.RRSIG...)
		}
		return out
	}
	proof, err := sg.NoData(cut, mdns.TypeDS, []uint16{mdns.TypeNS}, ns[0].Header().Ttl)
	fail(err)
	if err == nil {
		out = append(append(out, proof.NSEC), proof.RRSIG...)
	}
	return out
}

// apexDNSKEY answers a DNSKEY question at the apex of a signed zone with
// the zone's DNSKEY RRset (and its RRSIGs when withSigs), in place of the
// NODATA the zones give (they hold no DNSKEY of their own). It reports
// whether it did; an error is a DNSKEY RRset that could not be signed.
func apexDNSKEY(m *mdns.Msg, set *dnssec.Set, q mdns.Question, withSigs bool) (bool, error) {
	if q.Qtype != mdns.TypeDNSKEY || len(m.Answer) != 0 || m.Rcode != mdns.RcodeSuccess {
		return false, nil
	}
	sg := set.Zone(strings.ToLower(q.Name))
	if sg == nil {
		return false, nil
	}
	keys, sigs, err := sg.DNSKEY()
	if err != nil {
		return false, err
	}
	m.Answer = append(make([]mdns.RR, 0, len(keys)+len(sigs.RRSIG)), keys...)
	if withSigs {
		m.Answer = append(m.Answer, sigs.RRSIG...)
	}
	m.Ns = nil
	return true, nil
}

// signed signs m for a DO query when the generation signs, and counts it.
func (h *Handler) signed(m *mdns.Msg, z Answers, res *zones.Result, q mdns.Question, e *ednsInfo) {
	if _, set := signersOf(z); set == nil {
		return
	}
	e.coReply = e.co
	h.sign(m, z, res, q, e.co)
	if signedMsg(m) {
		h.m.signed.Inc()
	}
}

// signedMsg reports whether m carries RRSIGs in its answer or authority.
func signedMsg(m *mdns.Msg) bool {
	for _, sec := range [2][]mdns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == mdns.TypeRRSIG {
				return true
			}
		}
	}
	return false
}

// appendSigned appends rrs to dst, each RRset followed by its RRSIGs from
// signerFor (RRsets in no signed zone unsigned), each RRSIG written with
// its RRset's owner: the cache may hold the signatures of the same RRset
// asked for in another case (a wildcard answer takes the query's case),
// and the fast path writes the owner it answers with.
func appendSigned(set *dnssec.Set, dst, rrs []mdns.RR) ([]mdns.RR, error) {
	var errs error
	for i := 0; i < len(rrs); {
		h0 := rrs[i].Header()
		j := i + 1
		for j < len(rrs) {
			h := rrs[j].Header()
			if h.Rrtype != h0.Rrtype || h.Class != h0.Class || !strings.EqualFold(h.Name, h0.Name) {
				break
			}
			j++
		}
		dst = append(dst, rrs[i:j]...)
		if sg := signerFor(set, h0.Name, h0.Rrtype); sg != nil && h0.Rrtype != mdns.TypeRRSIG && h0.Rrtype != mdns.TypeOPT {
			sigs, err := sg.Sign(rrs[i:j])
			if err != nil {
				errs = err
			} else {
				for _, s := range sigs.RRSIG {
					if s.Header().Name != h0.Name {
						c := *s.(*mdns.RRSIG)
						c.Hdr.Name = h0.Name
						s = &c
					}
					dst = append(dst, s)
				}
			}
		}
		i = j
	}
	return dst, errs
}

// signerFor returns the Signer of an RRset at owner of type rrtype: the
// zone that holds owner, except for DS, which belongs to the parent side
// of a cut (RFC 4035 2.4), so the zone that holds owner's parent.
func signerFor(set *dnssec.Set, owner string, rrtype uint16) *dnssec.Signer {
	if rrtype == mdns.TypeDS {
		if i, end := mdns.NextLabel(owner, 0); !end {
			return set.For(owner[i:])
		}
	}
	return set.For(owner)
}
