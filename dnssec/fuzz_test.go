package dnssec

import (
	"encoding/binary"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// wireRR builds a record from its parts through the library's unpacker,
// so that the fuzzer reaches every type miekg/dns knows.
func wireRR(owner string, rtype uint16, ttl uint32, rdata []byte) mdns.RR {
	buf := make([]byte, 300+len(rdata))
	off, err := mdns.PackDomainName(owner, buf, 0, nil, false)
	if err != nil || len(rdata) > 0xffff {
		return nil
	}
	binary.BigEndian.PutUint16(buf[off:], rtype)
	binary.BigEndian.PutUint16(buf[off+2:], mdns.ClassINET)
	binary.BigEndian.PutUint32(buf[off+4:], ttl)
	binary.BigEndian.PutUint16(buf[off+8:], uint16(len(rdata)))
	off += 10
	off += copy(buf[off:], rdata)
	rr, _, err := mdns.UnpackRR(buf[:off], 0)
	if err != nil {
		return nil
	}
	return rr
}

// FuzzSign signs random RRsets: it never panics, a signature that is made
// verifies against the DNSKEY, and the cache gives it back for the same
// RRset. Denials for the owner name are signed and verified too.
func FuzzSign(f *testing.F) {
	f.Add("www.example.test.", uint16(mdns.TypeA), uint32(30), []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, uint16(mdns.TypeAAAA))
	f.Add("Mx.Example.Test.", uint16(mdns.TypeMX), uint32(300), []byte{0, 10, 4, 'm', 'a', 'i', 'l', 0}, []byte{}, uint16(mdns.TypeMX))
	f.Add("t.example.test.", uint16(mdns.TypeTXT), uint32(0), []byte{3, 'a', 'b', 'c'}, []byte{0}, uint16(TypeNXNAME))
	f.Add("*.w.example.test.", uint16(mdns.TypeCAA), uint32(1<<31), []byte{0, 5, 'i', 's', 's', 'u', 'e', 'x'}, []byte{1, 2}, uint16(0))
	f.Add("example.test.", uint16(65280), uint32(60), []byte{1, 2, 3}, []byte{4, 5, 6}, uint16(mdns.TypeDNSKEY))
	s := fixtureSigner(f, "example.test.", nil)
	key := s.dnskey
	f.Fuzz(func(t *testing.T, owner string, rtype uint16, ttl uint32, rd1, rd2 []byte, qtype uint16) {
		var set []mdns.RR
		for _, rd := range [][]byte{rd1, rd2} {
			if r := wireRR(owner, rtype, ttl, rd); r != nil {
				set = append(set, r)
			}
		}
		now := time.Now()
		if len(set) > 0 {
			sigs, err := s.Sign(set)
			if err == nil {
				for _, r := range sigs.RRSIG {
					sig := r.(*mdns.RRSIG)
					var dk *mdns.DNSKEY
					for _, k := range key {
						if k.(*mdns.DNSKEY).KeyTag() == sig.KeyTag {
							dk = k.(*mdns.DNSKEY)
						}
					}
					if dk == nil || !mdns.IsSubDomain(s.Zone(), owner) {
						t.Fatalf("%v signed by %s with key %d", set, s.Zone(), sig.KeyTag)
					}
					if err := sig.Verify(dk, set); err != nil {
						t.Fatalf("%v: signature does not verify: %v", set, err)
					}
					if !sig.ValidityPeriod(now) {
						t.Fatalf("signature not valid now: %v", sig)
					}
				}
				if again, err := s.Sign(set); err != nil || (again != sigs && len(set) <= maxCachedRRs) {
					t.Fatalf("the same RRset was not served from the cache: %v", err)
				}
			}
		}
		if _, ok := mdns.IsDomainName(owner); !ok {
			return
		}
		for _, nx := range []bool{true, false} {
			var sigs *Signatures
			var err error
			if nx {
				sigs, err = s.NXName(owner, ttl)
			} else {
				sigs, err = s.NoData(owner, qtype, []uint16{rtype, qtype}, ttl)
			}
			if err != nil {
				continue
			}
			if !mdns.IsSubDomain(s.Zone(), owner) {
				t.Fatalf("denial for %s signed by %s", owner, s.Zone())
			}
			if verify(t, s, sigs, []mdns.RR{sigs.NSEC}, now) != len(sigs.RRSIG) {
				t.Fatalf("denial %v does not verify", sigs.NSEC)
			}
		}
	})
}
