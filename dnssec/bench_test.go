package dnssec

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

func benchSet(b *testing.B, zone string) []mdns.RR {
	return rrs(b, "www."+zone+" 30 IN A 192.0.2.1", "www."+zone+" 30 IN A 192.0.2.2")
}

// BenchmarkSignHit is the warm-cache cost a signed GSLB answer adds per
// query: key the RRset, hash it, look it up.
func BenchmarkSignHit(b *testing.B) {
	s := fixtureSigner(b, "example.test.", nil)
	set := benchSet(b, "example.test.")
	if _, err := s.Sign(set); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Sign(set); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignHitParallel is the same from every core at once.
func BenchmarkSignHitParallel(b *testing.B) {
	s := fixtureSigner(b, "example.test.", nil)
	set := benchSet(b, "example.test.")
	if _, err := s.Sign(set); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(set); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignAddrsHit is the fast path's lookup for a GSLB answer.
func BenchmarkSignAddrsHit(b *testing.B) {
	s := fixtureSigner(b, "example.test.", nil)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	if _, err := s.SignAddrs("www.example.test.", mdns.TypeA, 30, addrs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := s.SignAddrs("www.example.test.", mdns.TypeA, 30, addrs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNXNameHit is a repeated NXDOMAIN for one name.
func BenchmarkNXNameHit(b *testing.B) {
	s := fixtureSigner(b, "example.test.", nil)
	if _, err := s.NXName("nope.example.test.", 300); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := s.NXName("nope.example.test.", 300); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignMiss is one signature (the cache is bypassed by giving the
// signer a fresh RRset each time): ECDSA P-256 (example.test, ZSK) and
// Ed25519 (csk.test).
func BenchmarkSignMiss(b *testing.B) {
	for _, tc := range []struct{ name, zone string }{{"ECDSAP256", "example.test."}, {"Ed25519", "csk.test."}} {
		b.Run(tc.name, func(b *testing.B) {
			s := fixtureSigner(b, tc.zone, nil)
			set := benchSet(b, tc.zone)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				set[0].(*mdns.A).A = []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
				if _, err := s.Sign(set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
