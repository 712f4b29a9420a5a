package dns

import (
	"crypto"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/zones"
)

// writeTestKey generates a key for zone into dir as dnssec-keygen names
// it and returns its DNSKEY.
func writeTestKey(t testing.TB, dir, zone string, flags uint16) *mdns.DNSKEY {
	t.Helper()
	k := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: mdns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv.(crypto.PrivateKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// signedDemoHandler is demoHandler with both demo zones signed (a KSK and
// a ZSK each).
func signedDemoHandler(t testing.TB) (*Handler, []*mdns.DNSKEY) {
	t.Helper()
	set := demoSet(t)
	dir := t.TempDir()
	var keys []*mdns.DNSKEY
	for _, z := range []string{"example.test.", "gslb.example.test."} {
		keys = append(keys, writeTestKey(t, dir, z, 257), writeTestKey(t, dir, z, 256))
	}
	kr, err := dnssec.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := dnssec.NewSet(kr, dnssec.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NSID = "ns1"
	cfg.Identity = "ns1"
	a := &signedAnswers{testAnswers: testAnswers{zones: set, pick: selectAddrs}, set: set, sigs: sigs}
	h := NewHandler(cfg, a, nil)
	h.UseECS = true
	return h, keys
}

// TestSignedFastPathMatchesSlowPath runs the differential test over signed
// zones, every query with DO as well as without: the fast path signs
// static answers and GSLB answers (SignAddrs) exactly as the slow path
// does, and declines the rest.
func TestSignedFastPathMatchesSlowPath(t *testing.T) {
	h, keys := signedDemoHandler(t)
	sc := newFastScratch()
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := append(digCases(t), generated(rng)...)
	fast, signed := 0, 0
	for _, m := range msgs {
		for _, do := range []bool{false, true} {
			m := m.Copy()
			if o := m.IsEdns0(); o != nil {
				o.SetDo(do)
			} else if do {
				continue
			}
			pkt, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if sameReply(t, h, sc, pkt) {
				fast++
				if do {
					out, _ := h.answerFast(make([]byte, replyBufSize), pkt, netip.MustParseAddr("192.0.2.99"), sc)
					r := new(mdns.Msg)
					if err := r.Unpack(out); err != nil {
						t.Fatal(err)
					}
					if hasRR(r.Answer, mdns.TypeRRSIG) {
						signed++
						verifySigned(t, r, keys)
					}
				}
			}
		}
	}
	t.Logf("%d queries answered by the fast path, %d of them signed", fast, signed)
	if signed == 0 {
		t.Error("the fast path signed nothing")
	}
}

// TestSignedFastPathAllocations: a signed answer from the signature cache
// costs no allocation on the fast path, static or GSLB.
func TestSignedFastPathAllocations(t *testing.T) {
	h, _ := signedDemoHandler(t)
	sc := newFastScratch()
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	dst := make([]byte, replyBufSize)
	for _, tt := range []struct {
		name string
		m    *mdns.Msg
	}{
		{"static DO", withEDNS(query("www.example.test.", mdns.TypeA), 1232, true)},
		{"wildcard DO", withEDNS(query("x.wild.example.test.", mdns.TypeA), 1232, true)},
		{"service DO", withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, true)},
		{"service DO with ECS", withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, true, ecs)},
		{"static without DO", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false)},
	} {
		pkt := mustPack(t, tt.m)
		before := testsupport.CounterValue(h.m.signed)
		out, ok := h.answerFast(dst, pkt, testClient, sc) // fills the cache
		if !ok {
			t.Fatalf("%s: not answered by the fast path", tt.name)
		}
		if got, want := testsupport.CounterValue(h.m.signed)-before, map[bool]float64{true: 1}[tt.m.IsEdns0().Do()]; got != want {
			t.Errorf("%s: godwit_dnssec_signed_responses_total went up by %v, want %v", tt.name, got, want)
		}
		r := new(mdns.Msg)
		if err := r.Unpack(out); err != nil || hasRR(r.Answer, mdns.TypeRRSIG) != tt.m.IsEdns0().Do() {
			t.Fatalf("%s: reply %v (%v)", tt.name, r, err)
		}
		if tt.name == "wildcard DO" {
			continue // zones synthesizes the wildcard's records per query
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, ok := h.answerFast(dst, pkt, testClient, sc); !ok {
				t.Fatal("not answered by the fast path")
			}
		})
		if allocs > 0 {
			t.Errorf("%s: %.1f allocations per query, want 0", tt.name, allocs)
		}
	}
}

// BenchmarkSignedFastPath: the cost of a signed answer from the cache
// against the same answer unsigned (the same handler, DO off).
func BenchmarkSignedFastPath(b *testing.B) {
	h, _ := signedDemoHandler(b)
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	for _, bc := range []struct {
		name string
		m    func(do bool) *mdns.Msg
	}{
		{"static", func(do bool) *mdns.Msg { return withEDNS(query("www.example.test.", mdns.TypeA), 1232, do) }},
		{"service+ecs", func(do bool) *mdns.Msg {
			return withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, do, ecs)
		}},
	} {
		for _, do := range []bool{false, true} {
			pkt, err := bc.m(do).Pack()
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, replyBufSize)
			b.Run(fmt.Sprintf("%s/do=%v", bc.name, do), func(b *testing.B) {
				sc := newFastScratch()
				b.ReportAllocs()
				for b.Loop() {
					if _, ok := h.answerFast(dst, pkt, testClient, sc); !ok {
						b.Fatal("slow path")
					}
				}
			})
		}
	}
}

// TestSignedShortenedTTL: a GSLB answer whose TTL a health check shortened
// is signed with that TTL as the RRSIG's Original TTL, and validates; the
// ECS scope is echoed as unsigned.
func TestSignedShortenedTTL(t *testing.T) {
	h, keys := signedDemoHandler(t)
	a := h.resolver.(*signedAnswers)
	for _, ttl := range []uint32{30, 7} {
		a.pick = func(r *zones.Result, qtype uint16, c *ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
			addrs, _, _ := selectAddrs(r, qtype, c, buf)
			return addrs, ttl, 16
		}
		for _, fast := range []bool{true, false} {
			m := withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, true, ecsOpt(netip.MustParsePrefix("81.2.69.0/24")))
			pkt := mustPack(t, m)
			var out []byte
			if fast {
				var ok bool
				if out, ok = h.answerFast(make([]byte, replyBufSize), pkt, testClient, newFastScratch()); !ok {
					t.Fatal("not answered by the fast path")
				}
			} else {
				out = h.handleSlow(make([]byte, replyBufSize), pkt, testClient, false)
			}
			r := new(mdns.Msg)
			if err := r.Unpack(out); err != nil {
				t.Fatal(err)
			}
			sigs := verifySigned(t, r, keys)
			if s := sigs[mdns.TypeA]; s == nil || s.OrigTtl != ttl {
				t.Errorf("ttl %d fast %v: RRSIG %v", ttl, fast, s)
			}
			var scope uint8
			for _, o := range r.IsEdns0().Option {
				if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
					scope = e.SourceScope
				}
			}
			if scope != 16 {
				t.Errorf("ttl %d fast %v: ECS scope %d, want 16", ttl, fast, scope)
			}
		}
	}
}

// FuzzHandleSigned feeds raw packets to a handler over signed zones: it
// must never panic, and any reply must unpack and fit the UDP limit.
func FuzzHandleSigned(f *testing.F) {
	for _, m := range []*mdns.Msg{
		withEDNS(query("www.example.test.", mdns.TypeA), 1232, true),
		withEDNS(query("nope.example.test.", mdns.TypeA), 1232, true),
		withCO(withEDNS(query("nope.gslb.example.test.", mdns.TypeAAAA), 1232, true)),
		withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, true, ecsOpt(netip.MustParsePrefix("81.2.69.0/24"))),
		withEDNS(query("example.test.", mdns.TypeDNSKEY), 512, true),
		withEDNS(query("x.wild.example.test.", mdns.TypeMX), 1232, true),
		withEDNS(query("www.gslb.example.test.", mdns.TypeDS), 1232, true),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	h, _ := signedDemoHandler(f)
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		if len(pkt) > 65535 {
			return
		}
		panics := testsupport.CounterValue(h.m.panics)
		out := h.Handle(make([]byte, replyBufSize), pkt, testClient, tcp)
		if testsupport.CounterValue(h.m.panics) != panics {
			t.Fatalf("handler panicked on %x", pkt)
		}
		if out == nil {
			return
		}
		r := new(mdns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not unpack: %v\nreply %x", err, out)
		}
		if !tcp && len(out) > 1232 {
			t.Fatalf("UDP reply of %d octets", len(out))
		}
	})
}
