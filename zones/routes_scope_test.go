package zones

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/routes"
)

// The real route table makes the ECS scope exact through RouteScoper.
var _ RouteScoper = (*routes.Table)(nil)

// TestRealRouteTableScope runs Select with a routes.Table published the way
// cmd/godwit does (Routes.Snapshot over a static and a BGP layer) and checks
// that the scope never covers a more specific route going elsewhere.
func TestRealRouteTableScope(t *testing.T) {
	p := netip.MustParsePrefix
	static := routes.NewTable(map[netip.Prefix][]routes.Reach{
		p("198.18.0.0/16"): {{Datacenter: "ams", PathLen: 1}},
		p("2001:db8::/32"): {{Datacenter: "ams", PathLen: 1}},
	})
	bgp := routes.NewTable(map[netip.Prefix][]routes.Reach{
		p("198.18.7.0/24"):   {{Datacenter: "fra", PathLen: 1}},
		p("2001:db8:1::/48"): {{Datacenter: "fra", PathLen: 1}},
	})
	rt := routes.New()
	rt.SetStatic(static)
	rt.SetBGP(bgp)
	tbl := rt.Snapshot()
	s := routesService(t, "failover")
	tests := []struct {
		client string
		dc     string
		policy string
		scope  int
	}{
		{"198.18.1.1", "ams", "routes", 22},   // the /16, minus the /24 at 198.18.7.0
		{"198.18.7.9", "fra", "routes", 24},   // the /24 itself
		{"198.18.200.1", "ams", "routes", 17}, // far side of the /16
		{"192.0.2.7", "ams", "failover", 6},   // no route: 192 and 198 share 5 bits
		{"2001:db8:2::1", "ams", "routes", 47},
	}
	for _, tc := range tests {
		c := client(tc.client, 24)
		if !c.Addr.Is4() {
			c.SourceBits = 56
		}
		var tr Trace
		qtype := mdns.TypeA
		sel := Select(s, qtype, c, &Env{Routes: tbl}, nil, &tr)
		if sel.Datacenter != tc.dc || sel.Policy != tc.policy || sel.Scope != tc.scope {
			t.Errorf("%s: %s %s /%d, want %s %s /%d (%s)", tc.client, sel.Datacenter, sel.Policy, sel.Scope,
				tc.dc, tc.policy, tc.scope, tr.ScopeReason)
		}
		// Every address the scope covers matches the client's route.
		m, ok := tbl.Lookup(c.Addr)
		around := netip.PrefixFrom(c.Addr, sel.Scope).Masked()
		for _, probe := range []netip.Addr{around.Addr(), lastAddr(around)} {
			pm, pok := tbl.Lookup(probe)
			if pok != ok || pm.Prefix != m.Prefix {
				t.Errorf("%s scope /%d covers %s, which matches %v (client: %v)", tc.client, sel.Scope, probe, pm.Prefix, m.Prefix)
			}
		}
	}
	sink := 0
	buf := make([]netip.Addr, 0, 8)
	if n := testing.AllocsPerRun(100, func() {
		sel := Select(s, mdns.TypeA, client("198.18.1.1", 24), &Env{Routes: tbl}, buf, nil)
		sink += sel.Scope
	}); n != 0 {
		t.Errorf("Select with a routes.Table allocates %v times", n)
	}
	if sink == 0 {
		t.Error("scope 0")
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		if rest := p.Bits() - 8*i; rest < 8 {
			b[i] |= 0xff >> max(rest, 0)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
