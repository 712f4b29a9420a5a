package dnssec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"

	mdns "github.com/miekg/dns"
)

// TypeNXNAME is the RFC 9824 meta-type that marks, in the NSEC type bitmap
// of a compact answer, a name that does not exist. miekg/dns does not name
// it (it prints TYPE128); the bitmap is just numbers.
const TypeNXNAME uint16 = 128

// CompactNSEC returns the NSEC of a compact answer (RFC 9824 section 3) at
// qname: the owner is qname (lower-cased), the Next Domain Name its
// immediate successor \000.qname, and the type bitmap types plus RRSIG and
// NSEC, sorted and without duplicates. For a name that does not exist pass
// types = {TypeNXNAME}; for NODATA the types present at the name (an empty
// non-terminal has none); for a wildcard NODATA the types at the wildcard.
// ttl is the negative TTL: min(SOA TTL, SOA MINIMUM) (RFC 9077, 2308).
func CompactNSEC(qname string, ttl uint32, types []uint16) (*mdns.NSEC, error) {
	owner := mdns.CanonicalName(qname)
	next, err := successor(owner)
	if err != nil {
		return nil, err
	}
	bitmap := make([]uint16, 0, len(types)+2)
	bitmap = append(bitmap, types...)
	bitmap = append(bitmap, mdns.TypeRRSIG, mdns.TypeNSEC)
	slices.Sort(bitmap)
	bitmap = slices.Compact(bitmap)
	return &mdns.NSEC{
		Hdr:        mdns.RR_Header{Name: owner, Rrtype: mdns.TypeNSEC, Class: mdns.ClassINET, Ttl: ttl},
		NextDomain: next,
		TypeBitMap: bitmap,
	}, nil
}

// successor returns the immediate successor of name (lower-case, fully
// qualified) in canonical order (RFC 4471 3.1.2): \000.name, or when that
// is longer than 255 octets, name with the last octet of its first label
// incremented (octets that were 0xff dropped first; A-Z skipped, since
// canonical order compares lower-case).
func successor(name string) (string, error) {
	var buf [256]byte
	n, err := mdns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("dnssec: %s: %w", name, err)
	}
	if n+2 <= 255 {
		if name == "." {
			return `\000.`, nil
		}
		return `\000.` + name, nil
	}
	w := buf[:n]
	for l := int(w[0]); l > 0; l-- {
		c := w[l]
		if c == 0xff {
			continue // drop it: the successor is a shorter first label
		}
		c++
		if 'A' <= c && c <= 'Z' {
			c = 'Z' + 1
		}
		w[l] = c
		out := append(append([]byte{byte(l)}, w[1:l+1]...), w[1+int(w[0]):]...)
		s, _, err := mdns.UnpackDomainName(out, 0)
		return s, err
	}
	return "", fmt.Errorf("dnssec: %s has no successor of at most 255 octets", name)
}

// NXName returns the signed proof that qname does not exist (RFC 9824
// section 3.1): the NSEC "qname NSEC \000.qname RRSIG NSEC NXNAME" with
// its RRSIGs, for the authority section next to the signed SOA. ttl is the
// negative TTL (the TTL of the SOA zones.Set puts in a negative answer).
//
// The response code is NOERROR, unless the query set the Compact Answers
// OK (CO) EDNS flag: then NXDOMAIN, and the response sets CO too (RFC 9824
// section 5.1). A query without DO gets a plain NXDOMAIN and no NSEC.
func (s *Signer) NXName(qname string, ttl uint32) (*Signatures, error) {
	return s.denial(qname, ttl, 0, nil, true)
}

// NoData returns the signed proof that qname exists without qtype (RFC 9824
// section 3.2): "qname NSEC \000.qname <types> RRSIG NSEC" with its
// RRSIGs. types are the types present at the name (at the wildcard for a
// wildcard NODATA; none for an empty non-terminal; NS, and DS if any, at a
// delegation point, which makes this the proof that a referral has no
// DS); qtype is left out of the bitmap whatever types says, and DNSKEY is
// added at the apex. ttl is the negative TTL.
func (s *Signer) NoData(qname string, qtype uint16, types []uint16, ttl uint32) (*Signatures, error) {
	return s.denial(qname, ttl, qtype, types, false)
}

func (s *Signer) denial(qname string, ttl uint32, qtype uint16, types []uint16, nx bool) (*Signatures, error) {
	if len(types) > maxDenialType {
		return nil, fmt.Errorf("dnssec: %d types at %s: at most %d", len(types), qname, maxDenialType)
	}
	now := s.now()
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)

	// The key: the lower-cased name, a 0 octet, TTL, then the bitmap's
	// types sorted (insertion sort, no allocation).
	if len(qname) > 1024 {
		return nil, fmt.Errorf("dnssec: name too long")
	}
	n := 0
	for i := 0; i < len(qname); i++ {
		c := qname[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		sc.key[n] = c
		n++
	}
	owner := sc.key[:n]
	apex := string(owner) == s.zone
	sc.key[n] = 0
	n++
	binary.BigEndian.PutUint32(sc.key[n:], ttl)
	n += 4
	start := n
	add := func(t uint16) {
		if t == qtype && !nx {
			return
		}
		binary.BigEndian.PutUint16(sc.key[n:], t)
		n += 2
		for j := n - 2; j > start; j -= 2 {
			a, b := binary.BigEndian.Uint16(sc.key[j-2:]), binary.BigEndian.Uint16(sc.key[j:])
			if a <= b {
				break
			}
			binary.BigEndian.PutUint16(sc.key[j-2:], b)
			binary.BigEndian.PutUint16(sc.key[j:], a)
		}
	}
	if nx {
		add(TypeNXNAME)
	} else {
		for _, t := range types {
			if t != TypeNXNAME {
				add(t)
			}
		}
		if apex {
			add(mdns.TypeDNSKEY)
		}
	}
	key := sc.key[:n]
	h := maphash.Bytes(seed, key)
	if e := s.denials.get(h, key, now.Unix()); e != nil {
		return e.sigs, nil
	}

	bitmap := make([]uint16, 0, (n-start)/2)
	for j := start; j < n; j += 2 {
		bitmap = append(bitmap, binary.BigEndian.Uint16(sc.key[j:]))
	}
	nsec, err := CompactNSEC(qname, ttl, bitmap)
	if err != nil {
		return nil, err
	}
	sigs, err := s.signSet([]mdns.RR{nsec}, now)
	if err != nil {
		return nil, err
	}
	sigs.NSEC = nsec
	s.denials.put(h, &entry{key: bytes.Clone(key), refresh: s.refreshAt(now), sigs: sigs})
	return sigs, nil
}
