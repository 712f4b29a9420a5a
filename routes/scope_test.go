package routes

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// naiveScope is RouteScope by its definition: the smallest L >= the match's
// length such that addr/L contains no route more specific than the match
// (for no match: no route at all), over every prefix of t.
func naiveScope(t *Table, addr netip.Addr) int {
	addr = addr.Unmap()
	m, ok := t.Lookup(addr)
	base := -1 // routes longer than base count
	if ok {
		base = m.Prefix.Bits()
	}
	var all []netip.Prefix
	for x := range t.All() {
		if x.Prefix.Addr().Is4() == addr.Is4() && x.Prefix.Bits() > base {
			all = append(all, x.Prefix)
		}
	}
	for l := max(base, 0); l <= addr.BitLen(); l++ {
		around := netip.PrefixFrom(addr, l).Masked()
		if !slices.ContainsFunc(all, func(r netip.Prefix) bool {
			return r.Bits() >= l && around.Contains(r.Addr())
		}) {
			return l
		}
	}
	return addr.BitLen()
}

func mkTable(prefixes ...string) *Table {
	m := map[netip.Prefix][]Reach{}
	for i, s := range prefixes {
		m[netip.MustParsePrefix(s)] = []Reach{{Datacenter: benchDCs[i%len(benchDCs)]}}
	}
	return NewTable(m)
}

func TestRouteScope(t *testing.T) {
	static := mkTable("198.18.0.0/16", "10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "2001:db8:0:ff00::/56", "192.0.2.0/24")
	bgp := mkTable("198.18.7.0/24", "10.1.2.0/24", "10.1.0.0/16", "2001:db8:1::/48", "203.0.113.128/25")
	tests := []struct {
		name  string
		t     *Table
		addr  string
		scope int
	}{
		{"the /24 inside the /16 (both static)", mkTable("198.18.0.0/16", "198.18.7.0/24"), "198.18.1.1", 22},
		{"the /24 inside the /16 (two layers)", Combine(static, bgp), "198.18.1.1", 22},
		{"the /16 alone: its own length", static, "198.18.1.1", 16},
		{"inside the /24 itself", Combine(static, bgp), "198.18.7.9", 24},
		{"next to the /24, last bit differs", Combine(static, bgp), "198.18.6.1", 24},
		{"far side of the /16", Combine(static, bgp), "198.18.200.1", 17},
		{"three levels across layers, /8", Combine(static, bgp), "10.200.0.1", 9},
		{"three levels, shared /16", Combine(static, bgp), "10.1.200.1", 17},
		{"three levels, shared /16 near the /24", Combine(static, bgp), "10.1.3.1", 24},
		{"leaf /24", Combine(static, bgp), "10.1.2.77", 24},
		{"no route: first differing bit with 192.0.2.0 and 198.18", Combine(static, bgp), "193.0.0.1", 8},
		{"no route next to a /25", Combine(static, bgp), "203.0.113.1", 25},
		{"no route, empty table", Combine(nil, nil), "203.0.113.1", 0},
		{"no route, no route of this family", mkTable("2001:db8::/32"), "203.0.113.1", 0},
		{"IPv4-mapped client", mkTable("198.18.0.0/16", "198.18.7.0/24"), "::ffff:198.18.1.1", 22},
		{"IPv6 /32 with a /48 from BGP", Combine(static, bgp), "2001:db8:2::1", 47},
		{"IPv6 /32 with a /48 and a /56", Combine(static, bgp), "2001:db8:0:ff01::1", 56},
		{"IPv6 inside the /48", Combine(static, bgp), "2001:db8:1::1", 48},
		{"IPv6 no route", Combine(static, bgp), "2001:db9::1", 32},
		{"IPv6 no route, far", Combine(static, bgp), "3fff::1", 4},
		{"host route next to client", mkTable("10.0.0.0/8", "10.0.0.1/32"), "10.0.0.0", 32},
		{"nil table", nil, "10.0.0.1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			m, ok := tc.t.Lookup(a)
			if got := tc.t.RouteScope(a, m, ok); got != tc.scope {
				t.Errorf("RouteScope(%s) = %d, want %d (match %v %v)", a, got, tc.scope, m.Prefix, ok)
			}
			if tc.t != nil {
				if n := naiveScope(tc.t, a); n != tc.scope {
					t.Errorf("naive scope %d, want %d: the case is wrong", n, tc.scope)
				}
			}
		})
	}
}

// randomNested returns n prefixes crowded into few /8s (IPv4) and a /32
// (IPv6) so that they nest and neighbour each other often.
func randomNested(rng *rand.Rand, n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for range n {
		if rng.IntN(4) == 0 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			a[4], a[5], a[15] = byte(rng.IntN(4)), byte(rng.Uint32()), byte(rng.Uint32())
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 28+rng.IntN(101)).Masked())
			continue
		}
		a := [4]byte{byte(10 + rng.IntN(3)), byte(rng.IntN(4)), byte(rng.Uint32()), byte(rng.Uint32())}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 4+rng.IntN(29)).Masked())
	}
	return out
}

// randomClient returns an address near the prefixes of randomNested.
func randomClient(rng *rand.Rand) netip.Addr {
	if rng.IntN(4) == 0 {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, byte(0xb8^rng.IntN(2))
		a[4], a[5], a[15] = byte(rng.IntN(4)), byte(rng.Uint32()), byte(rng.Uint32())
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{byte(9 + rng.IntN(5)), byte(rng.IntN(5)), byte(rng.Uint32()), byte(rng.Uint32())})
}

func TestRouteScopeMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 200 {
		sa, sb := randomNested(rng, rng.IntN(40)), randomNested(rng, rng.IntN(40))
		ma, mb := map[netip.Prefix][]Reach{}, map[netip.Prefix][]Reach{}
		for _, p := range sa {
			ma[p] = []Reach{{Datacenter: "ams"}}
		}
		for _, p := range sb {
			mb[p] = []Reach{{Datacenter: "fra"}}
		}
		if round%3 == 0 { // share some prefixes between the layers
			for _, p := range sa[:len(sa)/2] {
				mb[p] = []Reach{{Datacenter: "fra"}}
			}
		}
		for _, tbl := range []*Table{NewTable(ma), Combine(NewTable(ma), NewTable(mb))} {
			for range 200 {
				a := randomClient(rng)
				m, ok := tbl.Lookup(a)
				if got, want := tbl.RouteScope(a, m, ok), naiveScope(tbl, a); got != want {
					t.Fatalf("round %d: RouteScope(%s) = %d, naive %d; static %v bgp %v", round, a, got, want, sa, sb)
				}
			}
		}
	}
}

// TestRouteScopeRIB checks that the index of the BGP layer follows the
// RIB through persistent updates and rebuilds.
func TestRouteScopeRIB(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pa := &peerInfo{addr: netip.MustParseAddr("127.0.0.2"), cfg: PeerConfig{Datacenter: "ams"}, src: "bgp 127.0.0.2"}
	pb := &peerInfo{addr: netip.MustParseAddr("127.0.0.3"), cfg: PeerConfig{Datacenter: "fra"}, src: "bgp 127.0.0.3"}
	pool := randomNested(rng, 3000)
	r := newRIB()
	for _, p := range pool[:2000] {
		r.update(pa, p, 1)
	}
	tbl := r.publish()
	persisted := 0
	for step := range 60 {
		k := 1 + rng.IntN(20)
		if step%10 == 9 {
			k = 500 // a large batch: rebuild
		}
		if k*persistRatio < r.paths.len() {
			persisted++
		}
		for range k {
			p := pool[rng.IntN(len(pool))]
			switch rng.IntN(3) {
			case 0:
				r.update(pa, p, 1+rng.IntN(3))
			case 1:
				r.update(pb, p, 2)
			default:
				r.withdraw(pa.addr, p)
				r.withdraw(pb.addr, p)
			}
		}
		if nt := r.publish(); nt != nil {
			tbl = nt
		}
		want := buildIndex(tbl.a)
		if !slices.Equal(tbl.ia.v4, want.v4) || !slices.Equal(tbl.ia.v6, want.v6) {
			t.Fatalf("step %d: index differs from the trie's: %d/%d v4, %d/%d v6 entries",
				step, len(tbl.ia.v4), len(want.v4), len(tbl.ia.v6), len(want.v6))
		}
		static := mkTable("10.0.0.0/8", "11.1.0.0/16", "2001:db8::/32")
		c := Combine(static, tbl)
		for range 100 {
			a := randomClient(rng)
			m, ok := c.Lookup(a)
			if got, want := c.RouteScope(a, m, ok), naiveScope(c, a); got != want {
				t.Fatalf("step %d: RouteScope(%s) = %d, naive %d", step, a, got, want)
			}
		}
	}
	if persisted == 0 {
		t.Error("no batch took the persistent path")
	}
}

func TestRouteScopeUnfinished(t *testing.T) {
	tbl := NewTable(nil)
	tbl.insert(netip.MustParsePrefix("10.0.0.0/8"), []Reach{{Datacenter: "ams"}})
	a := netip.MustParseAddr("10.1.1.1")
	m, ok := tbl.Lookup(a)
	if got := tbl.RouteScope(a, m, ok); got != 32 {
		t.Errorf("unindexed table: scope %d, want the safe 32", got)
	}
	tbl.finish()
	if got := tbl.RouteScope(a, m, ok); got != 8 {
		t.Errorf("after finish: scope %d, want 8", got)
	}
}

func TestRouteScopeAllocs(t *testing.T) {
	static := mkTable("198.18.0.0/16", "10.0.0.0/8", "2001:db8::/32", "2001:db8:0:ff00::/56")
	bgp := mkTable("198.18.7.0/24", "10.1.2.0/24", "2001:db8:1::/48")
	c := Combine(static, bgp)
	addrs := []netip.Addr{
		netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("10.1.3.4"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.1.1.1"),
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("192.0.2.1"),
	}
	sink := 0
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			m, ok := c.Lookup(a)
			sink += c.RouteScope(a, m, ok)
		}
	}); n != 0 {
		t.Errorf("RouteScope allocates %v times per run", n)
	}
	if sink == 0 {
		t.Error("every scope was 0")
	}
}

func BenchmarkRouteScope(b *testing.B) {
	pfx := randomPrefixes(1_000_000, 100_000)
	static := buildBig(pfx)
	bgpPfx := append(randomPrefixes(1_100_000, 0)[1_000_000:], pfx[:1000]...)
	c := Combine(static, buildBig(bgpPfx))
	addrs := randomAddrs(pfx, 1<<16)
	for _, bc := range []struct {
		name string
		t    *Table
	}{{"1M+100k/one-layer", static}, {"1M+100k/combined", c}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			sum, i := 0, 0
			for b.Loop() {
				a := addrs[i&(len(addrs)-1)]
				m, ok := bc.t.Lookup(a)
				sum += bc.t.RouteScope(a, m, ok)
				i++
			}
			b.ReportMetric(float64(sum)/float64(i), "avg-scope")
		})
	}
	b.Run("apply-100-changes-1M+100k", func(b *testing.B) {
		x := static.ia
		changed := map[netip.Prefix]struct{}{}
		for _, p := range bgpPfx[:100] {
			changed[p] = struct{}{}
		}
		b.ReportAllocs()
		for b.Loop() {
			x.apply(maps.Keys(changed), func(netip.Prefix) bool { return true })
		}
	})
	b.Run("build-index-1M+100k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buildIndex(static.a)
		}
	})
}

func ExampleTable_RouteScope() {
	p := netip.MustParsePrefix
	t := NewTable(map[netip.Prefix][]Reach{
		p("198.18.0.0/16"): {{Datacenter: "ams"}},
		p("198.18.7.0/24"): {{Datacenter: "fra"}},
	})
	a := netip.MustParseAddr("198.18.1.1")
	m, ok := t.Lookup(a)
	fmt.Println(m.Prefix, t.RouteScope(a, m, ok))
	// Output: 198.18.0.0/16 22
}
