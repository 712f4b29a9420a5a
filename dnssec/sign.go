package dnssec

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Signatures are the RRSIGs over one RRset, shared and read-only.
type Signatures struct {
	// RRSIG holds one *mdns.RRSIG per signing key; each one's header TTL
	// and Original TTL are the TTL of the RRset it covers.
	RRSIG []mdns.RR
	// RData is each RRSIG's RDATA in wire form (the signer name is never
	// compressed, RFC 4034 3.1.7), for a caller that packs records itself:
	// write the owner, TYPE 46, class, TTL, len(RData[i]), RData[i].
	RData [][]byte
	// NSEC is the compact-denial NSEC the RRSIGs cover (denials only).
	NSEC *mdns.NSEC
	// Expiration is when the signatures stop being valid.
	Expiration time.Time
}

// Limits of what the cache keys; larger RRsets are signed uncached.
const (
	maxCachedRRs  = 64
	scratchBytes  = 8192
	maxDenialType = 32
)

// seed is fixed for the life of the process: cache hashes never leave it.
var seed = maphash.MakeSeed()

// ErrNotSigned is returned for a zone without an active key.
var ErrNotSigned = errors.New("zone has no active signing key")

// Signer signs the RRsets of one zone with the keys active when it was
// built. It is safe for concurrent use; build a new one when the keys or
// the config change (or at Keyring.NextChange), and keep the old one while
// they do not, so that its cache stays warm.
type Signer struct {
	zone    string
	cfg     Config
	now     func() time.Time
	dnskey  []mdns.RR
	ksk     []*Key // sign the DNSKEY RRset
	zsk     []*Key // sign every other RRset
	keys    []*Key // published
	rrsets  *cache
	denials *cache
	pool    sync.Pool // *scratch

	signed atomic.Uint64 // signatures made (cache misses and uncached sets)
	errs   atomic.Uint64
}

// scratch is what one Sign or denial call reuses from a pool.
type scratch struct {
	buf  [scratchBytes]byte
	key  [scratchBytes]byte
	offs [maxCachedRRs][2]int
}

// NewSigner builds the Signer of zone from the keys in kr that are
// published and active at now(). now is the clock (nil: time.Now).
func NewSigner(kr *Keyring, zone string, cfg Config, now func() time.Time) (*Signer, error) {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	zone = mdns.CanonicalName(zone)
	s := &Signer{zone: zone, cfg: cfg, now: now}
	s.pool.New = func() any { return new(scratch) }
	t := now()
	var ttl uint32
	for _, k := range kr.Keys(zone) {
		if !k.Published(t) {
			continue
		}
		s.keys = append(s.keys, k)
		if ttl == 0 || k.DNSKEY.Hdr.Ttl < ttl {
			ttl = k.DNSKEY.Hdr.Ttl
		}
	}
	// Per algorithm (RFC 4035 2.2: every algorithm in the DNSKEY RRset
	// signs every RRset): SEP keys sign the DNSKEY RRset and non-SEP keys
	// the rest; an algorithm with only one kind (a CSK) signs both.
	for _, alg := range []uint8{mdns.ECDSAP256SHA256, mdns.ED25519} {
		var sep, zk []*Key
		published := false
		for _, k := range s.keys {
			if k.Algorithm() != alg {
				continue
			}
			published = true
			if !k.Active(t) {
				continue
			}
			if k.SEP() {
				sep = append(sep, k)
			} else {
				zk = append(zk, k)
			}
		}
		if !published {
			continue
		}
		if len(sep) == 0 && len(zk) == 0 {
			return nil, fmt.Errorf("zone %s: algorithm %d has published keys but none is active: %w", zone, alg, ErrNotSigned)
		}
		if len(sep) == 0 {
			sep = zk
		}
		if len(zk) == 0 {
			zk = sep
		}
		s.ksk = append(s.ksk, sep...)
		s.zsk = append(s.zsk, zk...)
	}
	if len(s.zsk) == 0 {
		return nil, fmt.Errorf("zone %s: %w", zone, ErrNotSigned)
	}
	for _, k := range s.keys {
		dk := *k.DNSKEY
		dk.Hdr.Ttl = ttl
		s.dnskey = append(s.dnskey, &dk)
	}
	s.rrsets = newCache(cfg.CacheSize)
	s.denials = newCache(min(cfg.CacheSize, DefaultDenials))
	return s, nil
}

// Zone returns the apex the Signer signs for.
func (s *Signer) Zone() string { return s.zone }

// Keys returns the published keys (the DNSKEY RRset).
func (s *Signer) Keys() []*Key { return s.keys }

// Stats are counters for /metrics and the status page.
type Stats struct {
	Signatures uint64 // signing operations (one per RRset and key)
	Errors     uint64
	Hits       uint64 // cache hits, RRsets and denials
	Cached     int    // entries in the caches
}

// Stats returns the Signer's counters.
func (s *Signer) Stats() Stats {
	h1, n1 := s.rrsets.stats()
	h2, n2 := s.denials.stats()
	return Stats{Signatures: s.signed.Load(), Errors: s.errs.Load(), Hits: h1 + h2, Cached: n1 + n2}
}

// DNSKEY returns the zone's DNSKEY RRset (shared, read-only) and its
// signatures (by the KSKs, or CSKs).
func (s *Signer) DNSKEY() ([]mdns.RR, *Signatures, error) {
	sigs, err := s.Sign(s.dnskey)
	return s.dnskey, sigs, err
}

// Sign returns the RRSIGs over rrset: every record has the same owner,
// class, type and TTL, and the TTL is the one served (it becomes the
// RRSIG's Original TTL). A wildcard-synthesised RRset (owner = the query
// name) is signed as an exact match, as RFC 9824 does for wildcards: no
// NSEC is needed beside it. The result comes from the cache when the same
// RRset (owner compared without case, records in any order) was signed
// less than validity-refresh ago; a cache hit allocates nothing.
func (s *Signer) Sign(rrset []mdns.RR) (*Signatures, error) {
	if len(rrset) == 0 {
		return nil, errors.New("dnssec: empty RRset")
	}
	now := s.now()
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	key, ok := sc.rrsetKey(rrset)
	if !ok {
		return s.signSet(rrset, now)
	}
	h := maphash.Bytes(seed, key)
	if e := s.rrsets.get(h, key, now.Unix()); e != nil {
		return e.sigs, nil
	}
	sigs, err := s.signSet(rrset, now)
	if err != nil {
		return nil, err
	}
	s.rrsets.put(h, &entry{key: bytes.Clone(key), refresh: s.refreshAt(now), sigs: sigs})
	return sigs, nil
}

func (s *Signer) refreshAt(now time.Time) int64 {
	return now.Add(s.cfg.Validity.D() - s.cfg.Refresh.D()).Unix()
}

// signSet signs rrset with every key of its role.
func (s *Signer) signSet(rrset []mdns.RR, now time.Time) (*Signatures, error) {
	h0 := rrset[0].Header()
	for _, rr := range rrset[1:] {
		h := rr.Header()
		if h.Rrtype != h0.Rrtype || h.Class != h0.Class || h.Ttl != h0.Ttl || !strings.EqualFold(h.Name, h0.Name) {
			s.errs.Add(1)
			return nil, fmt.Errorf("dnssec: %s %s and %s %s are not one RRset",
				h0.Name, mdns.TypeToString[h0.Rrtype], h.Name, mdns.TypeToString[h.Rrtype])
		}
	}
	if !mdns.IsSubDomain(s.zone, h0.Name) {
		s.errs.Add(1)
		return nil, fmt.Errorf("dnssec: %s is not in zone %s", h0.Name, s.zone)
	}
	if h0.Rrtype == mdns.TypeRRSIG || h0.Rrtype == mdns.TypeOPT {
		return nil, fmt.Errorf("dnssec: %s RRsets are not signed", mdns.TypeToString[h0.Rrtype])
	}
	keys := s.zsk
	if h0.Rrtype == mdns.TypeDNSKEY {
		keys = s.ksk
	}
	exp := now.Add(s.cfg.Validity.D())
	out := &Signatures{Expiration: exp.Truncate(time.Second)}
	for _, k := range keys {
		sig := &mdns.RRSIG{
			Hdr:        mdns.RR_Header{Ttl: h0.Ttl},
			Algorithm:  k.Algorithm(),
			KeyTag:     k.Tag,
			SignerName: s.zone,
			Inception:  uint32(now.Add(-s.cfg.Backdate.D()).Unix()),
			Expiration: uint32(exp.Unix()),
		}
		if err := sig.Sign(k.signer, rrset); err != nil {
			s.errs.Add(1)
			return nil, fmt.Errorf("dnssec: signing %s %s with %s: %w", h0.Name, mdns.TypeToString[h0.Rrtype], k.File, err)
		}
		s.signed.Add(1)
		rd, err := rdata(sig)
		if err != nil {
			s.errs.Add(1)
			return nil, err
		}
		out.RRSIG = append(out.RRSIG, sig)
		out.RData = append(out.RData, rd)
	}
	return out, nil
}

// rdata packs rr and returns its RDATA.
func rdata(rr mdns.RR) ([]byte, error) {
	buf := make([]byte, mdns.Len(rr)+16)
	n, err := mdns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	rdlen := int(rr.Header().Rdlength)
	return buf[n-rdlen : n : n], nil
}

// rrsetKey writes the key of an RRset into sc.key and returns it: each
// record's encoding (owner lower-cased), sorted, one after the other.
// Equal keys mean the same RRset, so the same signatures. ok is false when
// the RRset is too large to key.
func (sc *scratch) rrsetKey(rrset []mdns.RR) (key []byte, ok bool) {
	if len(rrset) > maxCachedRRs {
		return nil, false
	}
	w := keyWriter{b: sc.buf[:], ok: true}
	for i, rr := range rrset {
		start := w.off
		w.rr(rr)
		if !w.ok {
			return nil, false
		}
		sc.offs[i] = [2]int{start, w.off}
	}
	return sc.sorted(len(rrset)), true
}

// sorted sorts the first count records written to sc.buf (at sc.offs)
// and returns them one after the other: the key.
func (sc *scratch) sorted(count int) []byte {
	offs := sc.offs[:count]
	for i := 1; i < len(offs); i++ { // insertion sort: RRsets are small
		for j := i; j > 0 && bytes.Compare(sc.buf[offs[j][0]:offs[j][1]], sc.buf[offs[j-1][0]:offs[j-1][1]]) < 0; j-- {
			offs[j], offs[j-1] = offs[j-1], offs[j]
		}
	}
	n := 0
	for _, o := range offs {
		n += copy(sc.key[n:], sc.buf[o[0]:o[1]])
	}
	return sc.key[:n]
}

// SignAddrs is Sign for the A (rrtype mdns.TypeA) or AAAA RRset of a GSLB
// answer, given as its addresses: the RRset zones.AddressRR(owner, ttl, a)
// makes for each a, without making it. It shares Sign's cache (the same
// RRset is the same entry either way) and allocates nothing on a hit, so
// the fast path can sign the answers it packs itself.
func (s *Signer) SignAddrs(owner string, rrtype uint16, ttl uint32, addrs []netip.Addr) (*Signatures, error) {
	if len(addrs) == 0 || len(addrs) > maxCachedRRs || (rrtype != mdns.TypeA && rrtype != mdns.TypeAAAA) {
		return nil, fmt.Errorf("dnssec: SignAddrs: %d addresses of type %d", len(addrs), rrtype)
	}
	now := s.now()
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	w := keyWriter{b: sc.buf[:], ok: true}
	for i, a := range addrs {
		a = a.Unmap()
		if a.Is4() != (rrtype == mdns.TypeA) {
			return nil, fmt.Errorf("dnssec: SignAddrs: %s in an %s RRset", a, mdns.TypeToString[rrtype])
		}
		start := w.off
		w.name(owner, true)
		w.u16(rrtype)
		w.u16(mdns.ClassINET)
		w.u32(ttl)
		if a.Is4() {
			b := a.As4()
			w.bytes(b[:])
		} else {
			b := a.As16()
			w.bytes(b[:])
		}
		if !w.ok {
			return nil, fmt.Errorf("dnssec: SignAddrs: name too long")
		}
		sc.offs[i] = [2]int{start, w.off}
	}
	key := sc.sorted(len(addrs))
	h := maphash.Bytes(seed, key)
	if e := s.rrsets.get(h, key, now.Unix()); e != nil {
		return e.sigs, nil
	}
	rrset := make([]mdns.RR, len(addrs))
	for i, a := range addrs {
		a = a.Unmap()
		hdr := mdns.RR_Header{Name: owner, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
		if a.Is4() {
			rrset[i] = &mdns.A{Hdr: hdr, A: a.AsSlice()}
		} else {
			rrset[i] = &mdns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}
		}
	}
	sigs, err := s.signSet(rrset, now)
	if err != nil {
		return nil, err
	}
	s.rrsets.put(h, &entry{key: bytes.Clone(key), refresh: s.refreshAt(now), sigs: sigs})
	return sigs, nil
}
