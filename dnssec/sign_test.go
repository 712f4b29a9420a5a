package dnssec

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// clock is an injectable clock for tests.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.t.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.t.Load()) }
func (c *clock) add(d time.Duration) {
	c.t.Add(int64(d))
}

func rr(t testing.TB, s string) mdns.RR {
	t.Helper()
	r, err := mdns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rrs(t testing.TB, ss ...string) []mdns.RR {
	out := make([]mdns.RR, len(ss))
	for i, s := range ss {
		out[i] = rr(t, s)
	}
	return out
}

// fixtureSigner returns the Signer of a fixture zone from testdata/keys.
func fixtureSigner(t testing.TB, zone string, c *clock) *Signer {
	t.Helper()
	kr, err := LoadDir("testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	var now func() time.Time
	if c != nil {
		now = c.now
	}
	s, err := NewSigner(kr, zone, Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify checks every signature in sigs over rrset against the Signer's
// DNSKEY RRset and returns the number that verified.
func verify(t testing.TB, s *Signer, sigs *Signatures, rrset []mdns.RR, at time.Time) int {
	t.Helper()
	n := 0
	for _, r := range sigs.RRSIG {
		sig := r.(*mdns.RRSIG)
		var key *mdns.DNSKEY
		for _, k := range s.dnskey {
			if dk := k.(*mdns.DNSKEY); dk.KeyTag() == sig.KeyTag && dk.Algorithm == sig.Algorithm {
				key = dk
			}
		}
		if key == nil {
			t.Fatalf("no DNSKEY with tag %d", sig.KeyTag)
		}
		if err := sig.Verify(key, rrset); err != nil {
			return n
		}
		if !sig.ValidityPeriod(at) {
			t.Fatalf("signature not valid at %v: %v", at, sig)
		}
		n++
	}
	return n
}

func TestSignVerifies(t *testing.T) {
	now := time.Now()
	for _, zone := range []string{"example.test.", "csk.test."} {
		s := fixtureSigner(t, zone, nil)
		sets := [][]mdns.RR{
			rrs(t, "www."+zone+" 30 IN A 192.0.2.1", "www."+zone+" 30 IN A 192.0.2.2"),
			rrs(t, "www."+zone+" 30 IN AAAA 2001:db8::1"),
			rrs(t, zone+" 3600 IN SOA ns1."+zone+" host."+zone+" 1 7200 3600 1209600 300"),
			rrs(t, "Mixed.Case."+zone+" 60 IN TXT \"hello\""),
			rrs(t, zone+" 3600 IN MX 10 mail."+zone),
		}
		for _, set := range sets {
			sigs, err := s.Sign(set)
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs.RRSIG) != 1 || verify(t, s, sigs, set, now) != 1 {
				t.Fatalf("%s: %v does not verify", zone, sigs.RRSIG)
			}
			sig := sigs.RRSIG[0].(*mdns.RRSIG)
			if sig.OrigTtl != set[0].Header().Ttl || sig.Hdr.Ttl != set[0].Header().Ttl {
				t.Errorf("RRSIG TTL %d, original TTL %d; want the RRset's %d", sig.Hdr.Ttl, sig.OrigTtl, set[0].Header().Ttl)
			}
			if int64(sig.Inception) > now.Add(-DefaultBackdate+time.Minute).Unix() {
				t.Errorf("inception %d is not backdated", sig.Inception)
			}
			if got := int64(sig.Expiration) - now.Unix(); got < int64(DefaultValidity/time.Second)-60 || got > int64(DefaultValidity/time.Second)+60 {
				t.Errorf("expiration in %ds, want %v", got, DefaultValidity)
			}
			// RData is the RRSIG's RDATA.
			buf := make([]byte, 1024)
			n, _ := mdns.PackRR(sig, buf, 0, nil, false)
			if string(buf[n-len(sigs.RData[0]):n]) != string(sigs.RData[0]) || int(sig.Hdr.Rdlength) != len(sigs.RData[0]) {
				t.Errorf("RData does not match the RRSIG's RDATA")
			}
			// Tampered data fails.
			bad := mdns.Copy(set[0])
			switch r := bad.(type) {
			case *mdns.A:
				r.A[3]++
			default:
				bad.Header().Ttl++
				sig.OrigTtl++ // keep the TTL check from hiding the tamper
				defer func() { sig.OrigTtl-- }()
			}
			tampered := append([]mdns.RR{bad}, set[1:]...)
			if verify(t, s, sigs, tampered, now) != 0 {
				t.Errorf("%s: tampered %v verifies", zone, bad)
			}
		}
	}
}

func TestDNSKEYSignedByKSK(t *testing.T) {
	s := fixtureSigner(t, "example.test.", nil)
	keys, sigs, err := s.DNSKEY()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || len(sigs.RRSIG) != 1 {
		t.Fatalf("%d keys, %d signatures", len(keys), len(sigs.RRSIG))
	}
	sig := sigs.RRSIG[0].(*mdns.RRSIG)
	for _, k := range keys {
		dk := k.(*mdns.DNSKEY)
		if dk.KeyTag() == sig.KeyTag && dk.Flags != FlagsKSK {
			t.Fatalf("DNSKEY signed by the key with flags %d", dk.Flags)
		}
	}
	if verify(t, s, sigs, keys, time.Now()) != 1 {
		t.Fatal("DNSKEY RRset does not verify")
	}
	a, _ := s.Sign(rrs(t, "a.example.test. 60 IN A 192.0.2.1"))
	if a.RRSIG[0].(*mdns.RRSIG).KeyTag == sig.KeyTag {
		t.Fatal("zone data signed by the KSK")
	}
}

func TestWildcardSignedAsExactMatch(t *testing.T) {
	s := fixtureSigner(t, "example.test.", nil)
	// A record synthesised from *.example.test for a.b.example.test: RFC
	// 9824 signs it as an exact match (labels = the query name's labels).
	set := rrs(t, "a.B.example.test. 60 IN A 192.0.2.9")
	sigs, err := s.Sign(set)
	if err != nil {
		t.Fatal(err)
	}
	if l := sigs.RRSIG[0].(*mdns.RRSIG).Labels; l != 4 {
		t.Fatalf("labels %d, want 4", l)
	}
	// The wildcard RRset itself (a query for *.example.test) keeps RFC 4034's
	// label count, without the asterisk.
	wsigs, _ := s.Sign(rrs(t, "*.example.test. 60 IN A 192.0.2.9"))
	if l := wsigs.RRSIG[0].(*mdns.RRSIG).Labels; l != 2 {
		t.Fatalf("labels %d, want 2", l)
	}
}

func TestSignRejectsMixedSets(t *testing.T) {
	s := fixtureSigner(t, "example.test.", nil)
	for _, set := range [][]mdns.RR{
		rrs(t, "a.example.test. 60 IN A 192.0.2.1", "b.example.test. 60 IN A 192.0.2.1"),
		rrs(t, "a.example.test. 60 IN A 192.0.2.1", "a.example.test. 30 IN A 192.0.2.2"),
		rrs(t, "a.example.test. 60 IN A 192.0.2.1", "a.example.test. 60 IN AAAA ::1"),
		nil,
	} {
		if _, err := s.Sign(set); err == nil {
			t.Errorf("%v: signed", set)
		}
	}
}

func TestCache(t *testing.T) {
	c := newClock(time.Now())
	s := fixtureSigner(t, "example.test.", c)
	set := rrs(t, "www.example.test. 30 IN A 192.0.2.1", "www.example.test. 30 IN A 192.0.2.2")
	first, err := s.Sign(set)
	if err != nil {
		t.Fatal(err)
	}
	// Same RRset: other order, other owner case, other RR values.
	same := rrs(t, "WWW.example.test. 30 IN A 192.0.2.2", "www.example.TEST. 30 IN A 192.0.2.1")
	if again, _ := s.Sign(same); again != first {
		t.Fatal("the same RRset was signed again")
	}
	if st := s.Stats(); st.Signatures != 1 || st.Hits != 1 {
		t.Fatalf("stats %+v, want 1 signature and 1 hit", st)
	}
	// Another TTL is another RRset (the RRSIG's original TTL follows it).
	other := rrs(t, "www.example.test. 5 IN A 192.0.2.1", "www.example.test. 5 IN A 192.0.2.2")
	o, _ := s.Sign(other)
	if o == first || o.RRSIG[0].(*mdns.RRSIG).OrigTtl != 5 {
		t.Fatal("a shorter TTL got the cached signature")
	}
	if verify(t, s, o, other, c.now()) != 1 {
		t.Fatal("the shortened-TTL signature does not verify")
	}
	// Just before the refresh time: still cached; at it: signed anew.
	c.add(DefaultValidity - DefaultRefresh - time.Second)
	if again, _ := s.Sign(set); again != first {
		t.Fatal("re-signed before the refresh time")
	}
	c.add(time.Second)
	fresh, _ := s.Sign(set)
	if fresh == first {
		t.Fatal("not re-signed at the refresh time")
	}
	if verify(t, s, fresh, set, c.now()) != 1 {
		t.Fatal("fresh signature does not verify")
	}
	if fresh.RRSIG[0].(*mdns.RRSIG).Expiration <= first.RRSIG[0].(*mdns.RRSIG).Expiration {
		t.Fatal("fresh signature does not expire later")
	}
}

func TestCacheHitAllocatesNothing(t *testing.T) {
	s := fixtureSigner(t, "example.test.", nil)
	set := rrs(t, "www.example.test. 30 IN A 192.0.2.1", "www.example.test. 30 IN AAAA 2001:db8::1")[:1]
	set = append(set, rr(t, "www.example.test. 30 IN A 192.0.2.2"))
	if _, err := s.Sign(set); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Sign(set); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cache hit: %v allocations, want 0", allocs)
	}
	nx, _ := s.NXName("nope.example.test.", 300)
	allocs = testing.AllocsPerRun(1000, func() {
		if got, _ := s.NXName("nope.example.test.", 300); got != nx {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("denial cache hit: %v allocations, want 0", allocs)
	}
	sg := &Set{signers: map[string]*Signer{"example.test.": s}}
	allocs = testing.AllocsPerRun(1000, func() {
		if sg.For("A.B.Example.Test.") != s {
			t.Fatal("For")
		}
	})
	if allocs != 0 {
		t.Fatalf("Set.For: %v allocations, want 0", allocs)
	}
}

func TestCacheBounded(t *testing.T) {
	kr, err := LoadDir("testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(kr, "csk.test.", Config{CacheSize: 128}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		set := []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: "www.csk.test.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
			A: []byte{10, 0, byte(i >> 8), byte(i)}}}
		if _, err := s.Sign(set); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Cached > 128 || st.Cached < 64 {
		t.Fatalf("%d entries cached, want at most 128 (and most of them)", st.Cached)
	}
}

func TestSignConcurrent(t *testing.T) {
	s := fixtureSigner(t, "csk.test.", nil)
	sets := make([][]mdns.RR, 16)
	for i := range sets {
		sets[i] = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: "www.csk.test.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
			A: []byte{10, 0, 0, byte(i)}}}
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				set := sets[(g+i)%len(sets)]
				sigs, err := s.Sign(set)
				if err != nil || sigs.RRSIG[0].(*mdns.RRSIG).Verify(s.dnskey[0].(*mdns.DNSKEY), set) != nil {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d signatures failed", bad.Load())
	}
	if st := s.Stats(); st.Signatures > 16*8 || st.Hits < 1000 {
		t.Fatalf("stats %+v: want at most one signature per RRset and goroutine", st)
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Validity.D() != DefaultValidity || c.Refresh.D() != DefaultRefresh || c.Backdate.D() != DefaultBackdate {
		t.Fatalf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Validity: Duration(48 * time.Hour), Refresh: Duration(72 * time.Hour), Backdate: Duration(-time.Hour)}
	if err := bad.Validate(); err == nil {
		t.Fatal("refresh > validity and a negative backdate validate")
	}
	var d Duration
	if err := d.UnmarshalText([]byte("168h")); err != nil || d.D() != 168*time.Hour {
		t.Fatalf("168h: %v %v", d, err)
	}
}

func TestSignAddrs(t *testing.T) {
	s := fixtureSigner(t, "example.test.", nil)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1")}
	sigs, err := s.SignAddrs("www.example.test.", mdns.TypeA, 30, addrs)
	if err != nil {
		t.Fatal(err)
	}
	// The same RRset made as records (as zones.AddressRR does, or parsed):
	// the same cache entry, and the signature verifies over it.
	set := rrs(t, "www.example.test. 30 IN A 192.0.2.1", "www.example.test. 30 IN A 192.0.2.2")
	if again, _ := s.Sign(set); again != sigs {
		t.Fatal("Sign and SignAddrs do not share the cache entry")
	}
	if verify(t, s, sigs, set, time.Now()) != 1 {
		t.Fatal("SignAddrs signature does not verify")
	}
	v6 := []netip.Addr{netip.MustParseAddr("2001:db8::1")}
	s6, err := s.SignAddrs("WWW.example.test.", mdns.TypeAAAA, 5, v6)
	if err != nil {
		t.Fatal(err)
	}
	if verify(t, s, s6, rrs(t, "www.example.test. 5 IN AAAA 2001:db8::1"), time.Now()) != 1 {
		t.Fatal("AAAA does not verify")
	}
	if _, err := s.SignAddrs("www.example.test.", mdns.TypeA, 30, v6); err == nil {
		t.Fatal("an IPv6 address signed in an A RRset")
	}
	if _, err := s.SignAddrs("www.example.test.", mdns.TypeA, 30, nil); err == nil {
		t.Fatal("an empty RRset signed")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if got, _ := s.SignAddrs("www.example.test.", mdns.TypeA, 30, addrs); got != sigs {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("SignAddrs hit: %v allocations", allocs)
	}
}
