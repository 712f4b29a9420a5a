package dnssec

import (
	"errors"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Set is the Signer of every zone with keys in a Keyring: one part of a
// generation, immutable once built.
type Set struct {
	signers map[string]*Signer
}

// NewSet builds a Signer for every zone in kr. now is the clock (nil:
// time.Now). A zone whose keys cannot sign is an error naming the zone;
// the other zones are still in the Set returned with it.
func NewSet(kr *Keyring, cfg Config, now func() time.Time) (*Set, error) {
	s := &Set{signers: map[string]*Signer{}}
	var errs []error
	for _, z := range kr.Zones() {
		sg, err := NewSigner(kr, z, cfg, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.signers[z] = sg
	}
	return s, errors.Join(errs...)
}

// Zone returns the Signer of the zone whose apex is apex (lower-case,
// fully qualified, as zones.Result.Zone), or nil when it is not signed.
func (s *Set) Zone(apex string) *Signer {
	if s == nil {
		return nil
	}
	return s.signers[apex]
}

// For returns the Signer of the most specific signed zone that holds name
// (fully qualified, any case), or nil: for a CNAME chain that crosses into
// another of our zones, each RRset is signed by its own zone's Signer.
// It allocates nothing for names up to 255 octets.
func (s *Set) For(name string) *Signer {
	if s == nil || len(s.signers) == 0 {
		return nil
	}
	var buf [256]byte
	if len(name) > len(buf) {
		return nil
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	for off := 0; off < len(b); {
		if sg := s.signers[string(b[off:])]; sg != nil {
			return sg
		}
		next, end := nextLabel(b, off)
		if end {
			break
		}
		off = next
	}
	return s.signers["."]
}

// Signers returns every Signer, for status and metrics.
func (s *Set) Signers() []*Signer {
	if s == nil {
		return nil
	}
	out := make([]*Signer, 0, len(s.signers))
	for _, z := range sortedKeys(s.signers) {
		out = append(out, s.signers[z])
	}
	return out
}

// nextLabel is mdns.NextLabel for a []byte (escaped dots are skipped).
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
		if (j-i)%2 == 0 {
			continue
		}
		return i + 1, false
	}
	return i + 1, true
}

// AppendSigned appends rrs to dst, each RRset followed by its RRSIGs from
// the Signer of the zone that holds its owner (Set.For). An RRset must be
// contiguous in rrs (zones.Set returns them so); one whose owner is in no
// signed zone is appended as it is. It is the slow path's helper: it
// allocates for the result, and a cache hit still costs nothing to sign.
// Do not pass the NS RRset and glue of a referral (they are not
// authoritative data and are never signed, RFC 4035 2.2), nor OPT.
func (s *Set) AppendSigned(dst, rrs []mdns.RR) ([]mdns.RR, error) {
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
		if sg := s.For(h0.Name); sg != nil && h0.Rrtype != mdns.TypeRRSIG && h0.Rrtype != mdns.TypeOPT {
			sigs, err := sg.Sign(rrs[i:j])
			if err != nil {
				return dst, err
			}
			dst = append(dst, sigs.RRSIG...)
		}
		i = j
	}
	return dst, nil
}
