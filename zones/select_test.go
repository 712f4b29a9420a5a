package zones

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
)

// fakeGeo answers from a list of city networks, longest match first, like
// a MaxMind database: a location without Network gets its entry's prefix,
// and an address no entry covers gets the largest prefix around it that
// holds no entry, with no data. Entries with an ASN also form the ASN
// database (network: ASNNetwork if set, else the entry's prefix), looked
// up the same way.
type fakeGeo []geoEntry

type geoEntry struct {
	p   netip.Prefix
	loc geo.Location
}

func (g fakeGeo) Lookup(a netip.Addr) geo.Location {
	best, bestASN := -1, -1
	var asnNet netip.Prefix
	cityGap, asnGap := 0, 0 // largest prefix lengths around a free of entries
	for i, e := range g {
		if e.p.Addr().Is4() != a.Is4() {
			continue
		}
		if !e.p.Contains(a) {
			cityGap = max(cityGap, commonBits(a, e.p.Addr())+1)
		} else if best < 0 || e.p.Bits() > g[best].p.Bits() {
			best = i
		}
		if e.loc.ASN == 0 {
			continue
		}
		n := e.loc.ASNNetwork
		if !n.IsValid() {
			n = e.p
		}
		if !n.Contains(a) {
			asnGap = max(asnGap, commonBits(a, n.Addr())+1)
		} else if bestASN < 0 || n.Bits() > asnNet.Bits() {
			bestASN, asnNet = i, n
		}
	}
	var l geo.Location
	if best >= 0 {
		l = g[best].loc
		l.Network = g[best].p
	} else {
		l.Network = netip.PrefixFrom(a, cityGap).Masked()
	}
	l.ASN, l.ASNNetwork = 0, netip.PrefixFrom(a, asnGap).Masked()
	if bestASN >= 0 {
		l.ASN, l.ASNNetwork = g[bestASN].loc.ASN, asnNet
	}
	return l
}

type fakeRouter []routes.Match

func (r fakeRouter) Lookup(a netip.Addr) (routes.Match, bool) {
	best := -1
	for i, m := range r {
		if m.Prefix.Contains(a) && (best < 0 || m.Prefix.Bits() > r[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return routes.Match{}, false
	}
	return r[best], true
}

// fakeHealth: addresses not listed are up and stable.
type fakeHealth map[netip.Addr]health.Status

func (h fakeHealth) Lookup(_, _ string, a netip.Addr) health.Status {
	if st, ok := h[a]; ok {
		return st
	}
	return health.Status{Up: true}
}

var (
	down      = health.Status{Up: false, Settle: 3 * time.Second}
	downAdmin = health.Status{Up: false, Drained: true}
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func client(s string, bits int) Client { return Client{Addr: ip(s), SourceBits: bits} }

// threeDC: ams (2 IPv4, 1 IPv6), fra (1 + 1), iad (2 IPv4, no IPv6).
func threeDC(policy string, answers int) ServiceConfig {
	return ServiceConfig{
		Name:    "svc.example.test.",
		Policy:  policy,
		Answers: ptr(answers),
		Check:   "web",
		Targets: []TargetConfig{
			tgt("ams", 0, "192.0.2.1", "192.0.2.2", "2001:db8::1"),
			tgt("fra", 0, "198.51.100.1", "2001:db8:1::1"),
			tgt("iad", 0, "203.0.113.1", "203.0.113.2"),
		},
	}
}

func TestFailover(t *testing.T) {
	allV4Down := fakeHealth{}
	for _, a := range addrs("192.0.2.1", "192.0.2.2", "198.51.100.1", "203.0.113.1", "203.0.113.2") {
		allV4Down[a] = down
	}
	tests := []struct {
		name     string
		answers  int
		qtype    uint16
		health   fakeHealth
		want     []string
		dc       string
		failOpen bool
	}{
		{"first datacenter serves", 1, mdns.TypeA, nil, []string{"192.0.2.1"}, "ams", false},
		{"answers caps per reply", 2, mdns.TypeA, nil, []string{"192.0.2.1", "192.0.2.2"}, "ams", false},
		{"next datacenter only while short", 3, mdns.TypeA, nil, []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"}, "ams", false},
		{"down address skipped", 1, mdns.TypeA, fakeHealth{ip("192.0.2.1"): down}, []string{"192.0.2.2"}, "ams", false},
		{"down address fills from next", 2, mdns.TypeA, fakeHealth{ip("192.0.2.1"): down}, []string{"192.0.2.2", "198.51.100.1"}, "ams", false},
		{"datacenter down", 1, mdns.TypeA, fakeHealth{ip("192.0.2.1"): down, ip("192.0.2.2"): downAdmin}, []string{"198.51.100.1"}, "fra", false},
		{"two datacenters down", 2, mdns.TypeA,
			fakeHealth{ip("192.0.2.1"): down, ip("192.0.2.2"): down, ip("198.51.100.1"): down},
			[]string{"203.0.113.1", "203.0.113.2"}, "iad", false},
		{"fail open: all, in ranked order, beyond answers", 1, mdns.TypeA, allV4Down,
			[]string{"192.0.2.1", "192.0.2.2", "198.51.100.1", "203.0.113.1", "203.0.113.2"}, "ams", true},
		{"AAAA unaffected by IPv4 health", 1, mdns.TypeAAAA, allV4Down, []string{"2001:db8::1"}, "ams", false},
		{"AAAA skips datacenter without healthy IPv6", 1, mdns.TypeAAAA, fakeHealth{ip("2001:db8::1"): down}, []string{"2001:db8:1::1"}, "fra", false},
		{"AAAA fail open", 5, mdns.TypeAAAA, fakeHealth{ip("2001:db8::1"): down, ip("2001:db8:1::1"): down},
			[]string{"2001:db8::1", "2001:db8:1::1"}, "ams", true},
		{"other qtype gets nothing", 1, mdns.TypeMX, nil, nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := compile(t, threeDC("failover", tc.answers))
			env := &Env{}
			if tc.health != nil {
				env.Health = tc.health
			}
			sel := Select(s, tc.qtype, client("192.0.2.99", -1), env, nil, nil)
			if !slices.Equal(sel.Addrs, addrs(tc.want...)) {
				t.Errorf("Addrs = %v, want %v", sel.Addrs, tc.want)
			}
			if sel.Datacenter != tc.dc || sel.FailOpen != tc.failOpen {
				t.Errorf("Datacenter %q FailOpen %v, want %q %v", sel.Datacenter, sel.FailOpen, tc.dc, tc.failOpen)
			}
			if tc.qtype != mdns.TypeMX && (sel.Policy != "failover" || sel.Scope != 0) {
				t.Errorf("Policy %q Scope %d, want failover 0", sel.Policy, sel.Scope)
			}
		})
	}
}

func TestNilHealthViewIsAllUp(t *testing.T) {
	s := compile(t, threeDC("failover", 1))
	var v *health.View
	sel := Select(s, mdns.TypeA, client("192.0.2.99", -1), &Env{Health: v}, nil, nil)
	if !slices.Equal(sel.Addrs, addrs("192.0.2.1")) || sel.TTL != 30 {
		t.Errorf("nil *health.View: %v ttl %d", sel.Addrs, sel.TTL)
	}
	sel = Select(s, mdns.TypeA, client("192.0.2.99", -1), nil, nil, nil)
	if !slices.Equal(sel.Addrs, addrs("192.0.2.1")) {
		t.Errorf("nil Env: %v", sel.Addrs)
	}
}

// TestHealthViewMemo: the health pass remembered for one view is never
// served for another. (A view with an address in doubt is not remembered:
// its TTL depends on the time; the TTL tests cover that path.)
func TestHealthViewMemo(t *testing.T) {
	s := compile(t, threeDC("failover", 1))
	drained := health.OverrideView(nil, map[string]health.OverrideState{"ams": health.OverrideDrain})
	clean := health.OverrideView(nil, nil)
	c := client("192.0.2.99", -1)
	for i, tc := range []struct {
		v    *health.View
		want string
	}{
		{drained, "198.51.100.1"}, {drained, "198.51.100.1"}, // the second from the memo
		{clean, "192.0.2.1"}, {clean, "192.0.2.1"},
		{drained, "198.51.100.1"},
	} {
		sel := Select(s, mdns.TypeA, c, &Env{Health: tc.v}, nil, nil)
		if !slices.Equal(sel.Addrs, addrs(tc.want)) || sel.TTL != 30 {
			t.Errorf("query %d: %v ttl %d, want %s ttl 30", i, sel.Addrs, sel.TTL, tc.want)
		}
	}
	if m := s.stable.Load(); m == nil || m.view != drained {
		t.Errorf("memo %+v, want the last stable view", m)
	}
	buf := make([]netip.Addr, 0, 8)
	if n := testing.AllocsPerRun(100, func() { Select(s, mdns.TypeA, c, &Env{Health: drained}, buf, nil) }); n != 0 {
		t.Errorf("Select with a remembered view: %v allocs", n)
	}
}

func TestRoundRobin(t *testing.T) {
	s := compile(t, threeDC("round-robin", 1))
	// Consecutive queries start at consecutive datacenters.
	for seq, want := range []string{"ams", "fra", "iad", "ams"} {
		sel := Select(s, mdns.TypeA, client("192.0.2.99", 24), &Env{Seq: uint64(seq)}, nil, nil)
		if sel.Datacenter != want || sel.Scope != 0 || sel.Policy != "round-robin" {
			t.Errorf("seq %d: %s scope %d policy %s, want %s 0 round-robin", seq, sel.Datacenter, sel.Scope, sel.Policy, want)
		}
	}
	// Over many queries every datacenter, and every address within it,
	// comes first equally often.
	first := map[netip.Addr]int{}
	const n = 1200
	for seq := range uint64(n) {
		sel := Select(s, mdns.TypeA, client("192.0.2.99", -1), &Env{Seq: seq}, nil, nil)
		first[sel.Addrs[0]]++
	}
	want := map[netip.Addr]int{
		ip("192.0.2.1"): n / 6, ip("192.0.2.2"): n / 6, ip("198.51.100.1"): n / 3,
		ip("203.0.113.1"): n / 6, ip("203.0.113.2"): n / 6,
	}
	for a, c := range want {
		if first[a] != c {
			t.Errorf("%s first %d times, want %d (all: %v)", a, first[a], c, first)
		}
	}
	// answers 2: both of the first datacenter's addresses, rotated.
	s2 := compile(t, threeDC("round-robin", 2))
	got := Select(s2, mdns.TypeA, client("192.0.2.99", -1), &Env{Seq: 3}, nil, nil).Addrs
	if !slices.Equal(got, addrs("192.0.2.2", "192.0.2.1")) {
		t.Errorf("seq 3, answers 2: %v", got)
	}
	// A down datacenter hands its turn to the next one.
	sel := Select(s, mdns.TypeA, client("192.0.2.99", -1), &Env{Seq: 1, Health: fakeHealth{ip("198.51.100.1"): down}}, nil, nil)
	if sel.Datacenter != "iad" {
		t.Errorf("fra down at its turn: got %s, want iad", sel.Datacenter)
	}
}

func TestWeightedShares(t *testing.T) {
	cfg := threeDC("weighted", 1)
	cfg.Targets[0].Weight, cfg.Targets[1].Weight, cfg.Targets[2].Weight = ptr(1), ptr(2), ptr(7)
	s := compile(t, cfg)
	tests := []struct {
		name   string
		health fakeHealth
		want   map[string]float64
	}{
		{"by weight", nil, map[string]float64{"ams": 0.1, "fra": 0.2, "iad": 0.7}},
		{"renormalised without iad", fakeHealth{ip("203.0.113.1"): down, ip("203.0.113.2"): down},
			map[string]float64{"ams": 1.0 / 3, "fra": 2.0 / 3, "iad": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Rand: rand.New(rand.NewPCG(1, 2))}
			if tc.health != nil {
				env.Health = tc.health
			}
			const n = 10000
			count := map[string]int{}
			firstAddr := map[netip.Addr]int{}
			var buf [8]netip.Addr
			for seq := range uint64(n) {
				env.Seq = seq
				sel := Select(s, mdns.TypeA, client("192.0.2.99", 24), env, buf[:0], nil)
				count[sel.Datacenter]++
				firstAddr[sel.Addrs[0]]++
				if sel.Scope != 0 || sel.Policy != "weighted" {
					t.Fatalf("scope %d policy %s", sel.Scope, sel.Policy)
				}
			}
			for dc, share := range tc.want {
				got := float64(count[dc]) / n
				if math.Abs(got-share) > 0.02 {
					t.Errorf("%s first in %.3f of draws, want %.3f ± 0.02", dc, got, share)
				}
			}
			if tc.health == nil {
				// iad's two addresses alternate at random: each near 35%.
				for _, a := range addrs("203.0.113.1", "203.0.113.2") {
					if got := float64(firstAddr[a]) / n; math.Abs(got-0.35) > 0.03 {
						t.Errorf("%s first in %.3f of draws, want 0.35 ± 0.03", a, got)
					}
				}
			}
		})
	}
	// Second place follows the remaining weights: with answers 3 and one
	// address per datacenter... here iad has two, so ask for 3 and check
	// that a full ranking always contains each datacenter once.
	cfg.Answers = ptr(5)
	s5 := compile(t, cfg)
	sel := Select(s5, mdns.TypeA, client("192.0.2.99", -1), &Env{Rand: rand.New(rand.NewPCG(3, 4))}, nil, nil)
	if len(sel.Addrs) != 5 {
		t.Errorf("answers 5: got %v", sel.Addrs)
	}
}

// geoService is a geo service with map entries of every kind.
func geoService(t testing.TB, answers int) *Service {
	return compile(t, ServiceConfig{
		Name:    "geo.example.test.",
		Policy:  "geo",
		Answers: ptr(answers),
		Map: map[string][]string{
			"net:10.0.0.0/8":        {"sin"},
			"net:10.1.2.0/24":       {"fra"},
			"net:100.96.0.128/25":   {"sin"},
			"asn:64500":             {"iad"},
			"subdivision:US-WA":     {"sin"},
			"country:US":            {"iad", "ams"},
			"continent:EU":          {"fra"},
			"net:2001:db8:aa::/48":  {"ams"},
			"country:JP":            {"sin", "iad", "fra", "ams"},
			"subdivision:GB-ENG":    {"ams"},
			"continent:OC":          {"sin"},
			"net:100.160.255.0/24":  {"ams"},
			"net:100.160.254.0/24":  {"ams"},
			"net:2001:db8:bb::/126": {"fra"},
		},
		Targets: []TargetConfig{
			tgt("ams", 0, "192.0.2.1", "2001:db8::1"),
			tgt("fra", 0, "198.51.100.1", "2001:db8:1::1"),
			tgt("iad", 0, "203.0.113.1", "203.0.113.2"),
			tgt("sin", 0, "203.0.113.100"),
		},
	})
}

var (
	seattle = geo.Location{Continent: "NA", Country: "US", Subdivision: "US-WA", Lat: 47.6, Lon: -122.3, HasCoords: true}
	testGeo = fakeGeo{
		{netip.MustParsePrefix("10.1.2.0/24"), geo.Location{Continent: "NA", Country: "US", Subdivision: "US-WA", ASN: 64500}},
		{netip.MustParsePrefix("10.9.0.0/16"), geo.Location{Country: "US", ASN: 64500}},
		{netip.MustParsePrefix("100.64.0.0/16"), withASN(seattle, 64500, "100.64.0.0/12")},
		{netip.MustParsePrefix("100.80.0.0/16"), withASN(seattle, 1, "100.80.0.0/20")},
		{netip.MustParsePrefix("100.96.0.0/16"), geo.Location{Continent: "NA", Country: "US", Subdivision: "US-CA"}},
		{netip.MustParsePrefix("100.112.0.0/16"), geo.Location{Continent: "EU", Country: "DE"}},
		{netip.MustParsePrefix("100.128.0.0/16"), geo.Location{Continent: "AS", Country: "KR", Lat: 37.5, Lon: 127, HasCoords: true}},
		{netip.MustParsePrefix("100.144.0.0/20"), geo.Location{}}, // network without data
		{netip.MustParsePrefix("100.160.0.0/16"), geo.Location{Continent: "SA", Country: "BR"}},
		{netip.MustParsePrefix("2001:db8:aa::/48"), geo.Location{Continent: "AS", Country: "JP"}},
		{netip.MustParsePrefix("2001:db8:bb::/48"), geo.Location{Continent: "AS", Country: "JP"}},
	}
)

func withASN(l geo.Location, asn uint32, net string) geo.Location {
	l.ASN = asn
	l.ASNNetwork = netip.MustParsePrefix(net)
	return l
}

func TestGeo(t *testing.T) {
	tests := []struct {
		name    string
		answers int
		client  Client
		env     *Env
		entry   string
		want    []netip.Addr
		policy  string
		scope   int
	}{
		{"longest net: entry wins over everything", 1, client("10.1.2.3", 32), nil,
			"net:10.1.2.0/24", addrs("198.51.100.1"), "geo", 24},
		{"shorter net: entry; scope excludes the /24 inside it", 1, client("10.9.0.1", 24), nil,
			"net:10.0.0.0/8", addrs("203.0.113.100"), "geo", 13},
		{"asn: beats subdivision and country; scope is the ASN network", 1, client("100.64.0.1", 24), nil,
			"asn:64500", addrs("203.0.113.1"), "geo", 12},
		{"subdivision: beats country; scope max(city /16, ASN /20)", 1, client("100.80.0.1", 24), nil,
			"subdivision:US-WA", addrs("203.0.113.100"), "geo", 20},
		{"country: entry; listed order then the rest", 3, client("100.96.0.1", 24), nil,
			"country:US", addrs("203.0.113.1", "203.0.113.2", "192.0.2.1"), "geo", 25},
		{"continent: entry", 1, client("100.112.0.1", 24), nil,
			"continent:EU", addrs("198.51.100.1"), "geo", 16},
		{"no entry: nearest by distance", 4, client("100.128.0.1", 24), nil,
			"", addrs("203.0.113.100", "198.51.100.1", "192.0.2.1", "203.0.113.1"), "geo", 16}, // from Seoul: sin, fra, ams, iad
		{"network without data: fallback, scope is that network", 1, client("100.144.0.1", 24), nil,
			"", nil, "weighted", 20},
		{"no location at all: fallback, scope only from net: entries", 1, client("100.200.0.1", 24), nil,
			"", nil, "weighted", 10},
		{"no GeoIP database: net: entries still work", 1, client("10.1.2.3", 24), &Env{},
			"net:10.1.2.0/24", addrs("198.51.100.1"), "geo", 24},
		{"no GeoIP database: fallback", 1, client("100.112.0.1", 24), &Env{},
			"", nil, "weighted", 12},
		{"two adjacent net: entries both excluded", 1, client("100.160.253.1", 24), nil,
			"", nil, "weighted", 23},
		{"IPv6 net: entry", 1, client("2001:db8:aa::1", 56), nil,
			"net:2001:db8:aa::/48", addrs("2001:db8::1"), "geo", 48},
		{"IPv6 client near a tiny net: entry", 1, client("2001:db8:bb::8", 128), nil,
			"country:JP", addrs("203.0.113.100"), "geo", 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := geoService(t, tc.answers)
			env := tc.env
			if env == nil {
				env = &Env{Geo: testGeo}
			}
			env.Rand = rand.New(rand.NewPCG(5, 6))
			qtype := mdns.TypeA
			if len(tc.want) > 0 && !tc.want[0].Is4() {
				qtype = mdns.TypeAAAA
			}
			var tr Trace
			sel := Select(s, qtype, tc.client, env, nil, &tr)
			if tc.want != nil && !slices.Equal(sel.Addrs, tc.want) {
				t.Errorf("Addrs = %v, want %v", sel.Addrs, tc.want)
			}
			if sel.Policy != tc.policy {
				t.Errorf("Policy = %s, want %s (fallbacks %v)", sel.Policy, tc.policy, tr.Fallbacks)
			}
			if tr.MapEntry != tc.entry {
				t.Errorf("map entry %q, want %q", tr.MapEntry, tc.entry)
			}
			if sel.Scope != tc.scope {
				t.Errorf("Scope = %d, want %d (%s)", sel.Scope, tc.scope, tr.ScopeReason)
			}
			// The untraced call agrees with the traced one.
			env.Rand = rand.New(rand.NewPCG(5, 6))
			if sel2 := Select(s, qtype, tc.client, env, nil, nil); !slices.Equal(sel.Addrs, sel2.Addrs) || sel.Scope != sel2.Scope {
				t.Errorf("untraced: %v /%d, traced %v /%d", sel2.Addrs, sel2.Scope, sel.Addrs, sel.Scope)
			}
		})
	}
}

// TestGeoScopeNeverCoversOtherAnswers checks the scope rule by brute
// force: every address inside the returned scope prefix around the client
// gets the same ranking.
func TestGeoScopeNeverCoversOtherAnswers(t *testing.T) {
	s := geoService(t, 4)
	env := &Env{Geo: testGeo, Seq: 1}
	ranking := func(a netip.Addr) string {
		var tr Trace
		env.Rand = rand.New(rand.NewPCG(1, 1))
		Select(s, mdns.TypeA, Client{Addr: a, SourceBits: 32}, env, nil, &tr)
		var b strings.Builder
		for _, r := range tr.Ranking {
			b.WriteString(r.Datacenter + " ")
		}
		return b.String()
	}
	for _, c := range []string{"10.9.0.1", "10.1.3.4", "100.96.0.1", "100.96.0.200", "100.160.253.1", "100.200.0.1", "100.144.0.9"} {
		a := ip(c)
		sel := Select(s, mdns.TypeA, Client{Addr: a, SourceBits: 32}, env, nil, nil)
		want := ranking(a)
		// probe the scope prefix at its edges and across it
		p := netip.PrefixFrom(a, sel.Scope).Masked()
		for _, probe := range samplePrefix(p) {
			if got := ranking(probe); got != want {
				t.Errorf("client %s scope /%d: %s ranks %q, client ranks %q", a, sel.Scope, probe, got, want)
			}
		}
	}
}

// FuzzGeoScope checks the scope rule for arbitrary IPv4 clients: every
// sampled address inside the scope around the client ranks the same.
func FuzzGeoScope(f *testing.F) {
	for _, seed := range []uint32{0x0a090001, 0x0a010304, 0x64600001, 0x646000c8, 0x64a0fd01, 0x64c80001, 0xc6120001} {
		f.Add(seed)
	}
	s := geoService(f, 4)
	f.Fuzz(func(t *testing.T, v uint32) {
		env := &Env{Geo: testGeo, Seq: 1}
		ranking := func(a netip.Addr) string {
			var tr Trace
			env.Rand = rand.New(rand.NewPCG(1, 1))
			Select(s, mdns.TypeA, Client{Addr: a, SourceBits: 32}, env, nil, &tr)
			var b strings.Builder
			for _, r := range tr.Ranking {
				b.WriteString(r.Datacenter + " ")
			}
			return b.String()
		}
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		sel := Select(s, mdns.TypeA, Client{Addr: a, SourceBits: 32}, env, nil, nil)
		if sel.Scope < 0 || sel.Scope > 32 {
			t.Fatalf("scope %d", sel.Scope)
		}
		want := ranking(a)
		for _, probe := range samplePrefix(netip.PrefixFrom(a, sel.Scope).Masked()) {
			if got := ranking(probe); got != want {
				t.Errorf("client %s scope /%d: %s ranks %q, client ranks %q", a, sel.Scope, probe, got, want)
			}
		}
	})
}

// samplePrefix returns some addresses of p: its first and last, and a
// spread between them.
func samplePrefix(p netip.Prefix) []netip.Addr {
	a := p.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	size := uint64(1) << (32 - p.Bits())
	var out []netip.Addr
	for _, off := range []uint64{0, size - 1, size / 2, size / 3, size / 5, size / 7, size * 3 / 4, size / 17, size / 255, size / 256 * 255} {
		v := base + uint32(off)
		out = append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

func TestGeoTailWidensScope(t *testing.T) {
	// asn:64500 lists only iad. While iad serves, the answer does not
	// depend on the city database: scope is the ASN network /12. When iad
	// is down the answer comes from the distance-ordered rest, so the
	// city network /16 joins the scope.
	s := geoService(t, 2)
	env := &Env{Geo: testGeo}
	sel := Select(s, mdns.TypeA, client("100.64.0.1", 24), env, nil, nil)
	slices.SortFunc(sel.Addrs, netip.Addr.Compare)
	if !slices.Equal(sel.Addrs, addrs("203.0.113.1", "203.0.113.2")) || sel.Scope != 12 {
		t.Errorf("iad up: %v /%d, want iad's two /12", sel.Addrs, sel.Scope)
	}
	env.Health = fakeHealth{ip("203.0.113.1"): down, ip("203.0.113.2"): down}
	sel = Select(s, mdns.TypeA, client("100.64.0.1", 24), env, nil, nil)
	// From Seattle: ams (7,800 km) before fra (8,200 km) before sin.
	if !slices.Equal(sel.Addrs, addrs("192.0.2.1", "198.51.100.1")) || sel.Scope != 16 {
		t.Errorf("iad down: %v /%d, want ams, fra /16", sel.Addrs, sel.Scope)
	}
}

func TestGeoTolerance(t *testing.T) {
	// A client in Brussels: ams ~175 km, fra ~320 km.
	brussels := fakeGeo{{netip.MustParsePrefix("192.0.2.0/24"), geo.Location{Lat: 50.85, Lon: 4.35, HasCoords: true}}}
	cfg := ServiceConfig{
		Name:   "geo.example.test.",
		Policy: "geo",
		Targets: []TargetConfig{
			tgt("ams", 1, "192.0.2.1"),
			tgt("fra", 3, "198.51.100.1"),
			tgt("iad", 100, "203.0.113.1"),
		},
	}
	tests := []struct {
		tolerance float64
		amsShare  float64
	}{
		{0.05, 1},     // ams is clearly nearest
		{0.5, 1},      // fra is 80% further: still outside 50%
		{1.0, 0.25},   // within 100%: ams and fra share by weight 1:3; iad never
		{10, 0.25},    // iad, 35 times further, still does not share
		{0.0, 1.0},    // strict
		{0.85, 0.25},  // boundary region
		{0.75, 1.0},   // boundary region
		{0.825, 0.25}, // fra/ams ratio is about 1.82
	}
	for _, tc := range tests {
		c := cfg
		c.Tolerance = ptr(tc.tolerance)
		s := compile(t, c)
		var tr Trace
		Select(s, mdns.TypeA, client("192.0.2.10", 24), &Env{Geo: brussels}, nil, &tr)
		km := map[string]float64{}
		for _, r := range tr.Ranking {
			km[r.Datacenter] = r.DistanceKm
		}
		ratio := km["fra"] / km["ams"]
		want := tc.amsShare
		if tc.tolerance == 0.85 || tc.tolerance == 0.75 || tc.tolerance == 0.825 {
			if ratio <= 1+tc.tolerance {
				want = 0.25
			} else {
				want = 1
			}
		}
		env := &Env{Geo: brussels, Rand: rand.New(rand.NewPCG(7, 8))}
		const n = 10000
		ams := 0
		for range n {
			sel := Select(s, mdns.TypeA, client("192.0.2.10", 24), env, nil, nil)
			if sel.Datacenter == "ams" {
				ams++
			}
			if sel.Datacenter == "iad" && tc.tolerance < 100 {
				t.Fatalf("tolerance %v: iad first", tc.tolerance)
			}
			if sel.Scope != 24 {
				t.Fatalf("scope %d, want the city network /24", sel.Scope)
			}
		}
		if got := float64(ams) / n; math.Abs(got-want) > 0.02 {
			t.Errorf("tolerance %v (distance ratio %.2f): ams first in %.3f, want %.3f ± 0.02", tc.tolerance, ratio, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	// Against geo.Distance (haversine).
	pts := [][2]float64{{52.37, 4.90}, {50.11, 8.68}, {38.95, -77.45}, {1.35, 103.82}, {-33.9, 151.2}, {0, 0}, {0, 180}, {52.3701, 4.9001}, {90, 0}, {-90, 0}}
	for _, a := range pts {
		for _, b := range pts {
			u, v := geo.UnitVector(a[0], a[1]), geo.UnitVector(b[0], b[1])
			got := arcKm(u[0]*v[0] + u[1]*v[1] + u[2]*v[2])
			want := geo.Distance(a[0], a[1], b[0], b[1])
			if math.Abs(got-want) > 1e-3 { // a metre
				t.Errorf("%v-%v: %f km, geo.Distance %f", a, b, got, want)
			}
		}
	}
}

func routesService(t testing.TB, fallback string) *Service {
	return compile(t, ServiceConfig{
		Name:     "rt.example.test.",
		Policy:   "routes",
		Fallback: fallback,
		Targets: []TargetConfig{
			tgt("ams", 1, "192.0.2.1"),
			tgt("fra", 1, "198.51.100.1"),
			tgt("iad", 3, "203.0.113.1"),
			tgt("sin", 1, "203.0.113.100"),
		},
	})
}

var testRoutes = fakeRouter{
	{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Reach: []routes.Reach{
		{Datacenter: "fra", PathLen: 3}, {Datacenter: "ams", PathLen: 1}, {Datacenter: "AS65003", PathLen: 1},
		{Datacenter: "zzz", PathLen: 0}, {Datacenter: "ams", PathLen: 9},
	}},
	{Prefix: netip.MustParsePrefix("198.18.128.0/17"), Reach: []routes.Reach{{Datacenter: "fra", PathLen: 2}}},
	{Prefix: netip.MustParsePrefix("198.20.0.0/16"), Reach: []routes.Reach{{Datacenter: "zzz", PathLen: 1}}},
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name     string
		fallback string
		client   Client
		env      *Env
		rank     []string // full ranking
		policy   string
		scope    int
	}{
		{"by path length, ASN names a datacenter, unknown ignored", "failover", client("198.18.0.1", 24), nil,
			[]string{"iad", "ams", "fra", "sin"}, "routes", 15},
		{"more specific route", "failover", client("198.18.200.1", 24), nil,
			[]string{"fra", "ams", "iad", "sin"}, "routes", 17},
		{"route names no target: fallback, scope is the route", "failover", client("198.20.0.1", 24), nil,
			[]string{"ams", "fra", "iad", "sin"}, "failover", 16},
		{"no route: fallback, scope is the ECS source", "failover", client("192.0.2.7", 24), nil,
			[]string{"ams", "fra", "iad", "sin"}, "failover", 24},
		{"no route, no ECS: scope 0", "failover", client("192.0.2.7", -1), nil,
			[]string{"ams", "fra", "iad", "sin"}, "failover", 0},
		{"no route table", "failover", client("198.18.0.1", 24), &Env{},
			[]string{"ams", "fra", "iad", "sin"}, "failover", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := routesService(t, tc.fallback)
			env := tc.env
			if env == nil {
				env = &Env{Routes: testRoutes}
			}
			// iad (weight 3) ties ams (weight 1) at path length 1: pin the
			// draw so that iad wins; shares are tested below.
			env.Rand = rand.New(rand.NewPCG(1, 1))
			var tr Trace
			sel := Select(s, mdns.TypeA, tc.client, env, nil, &tr)
			var rank []string
			for _, r := range tr.Ranking {
				rank = append(rank, r.Datacenter)
			}
			if tc.name == "by path length, ASN names a datacenter, unknown ignored" && rank[0] == "ams" {
				rank[0], rank[1] = rank[1], rank[0] // either order is a valid tie
			}
			if !slices.Equal(rank, tc.rank) {
				t.Errorf("ranking %v, want %v", rank, tc.rank)
			}
			if sel.Policy != tc.policy || sel.Scope != tc.scope {
				t.Errorf("policy %s scope %d, want %s %d (%s)", sel.Policy, sel.Scope, tc.policy, tc.scope, tr.ScopeReason)
			}
		})
	}

	// Ties share first place by weight: iad 3 : ams 1.
	s := routesService(t, "weighted")
	env := &Env{Routes: testRoutes, Rand: rand.New(rand.NewPCG(9, 9))}
	iad := 0
	const n = 10000
	for range n {
		sel := Select(s, mdns.TypeA, client("198.18.0.1", 24), env, nil, nil)
		switch sel.Datacenter {
		case "iad":
			iad++
		case "ams":
		default:
			t.Fatalf("%s first; want ams or iad", sel.Datacenter)
		}
	}
	if got := float64(iad) / n; math.Abs(got-0.75) > 0.02 {
		t.Errorf("iad first in %.3f of ties, want 0.75 ± 0.02", got)
	}
}

// scopedRouter answers RouteScope by brute force over its routes.
type scopedRouter struct{ fakeRouter }

func (r scopedRouter) RouteScope(a netip.Addr, m routes.Match, ok bool) int {
	l := 0
	for _, x := range r.fakeRouter {
		p := x.Prefix
		if p.Contains(a) || (ok && !m.Prefix.Overlaps(p)) || p.Addr().Is4() != a.Is4() {
			continue
		}
		l = max(l, commonBits(a, p.Addr())+1)
	}
	return l
}

func TestRouteScoper(t *testing.T) {
	s := routesService(t, "failover")
	env := &Env{Routes: scopedRouter{testRoutes}}
	tests := []struct {
		client string
		scope  int
	}{
		{"198.18.0.1", 17},   // matched /15; the /17 at 198.18.128.0 is excluded
		{"198.18.200.1", 17}, // the /17 itself
		{"198.19.0.1", 16},   // matched /15, the /17 is excluded at bit 15 -> 16
		{"192.0.2.1", 6},     // no route: 192 vs 198 share 5 bits
	}
	for _, tc := range tests {
		sel := Select(s, mdns.TypeA, client(tc.client, 24), env, nil, nil)
		if sel.Scope != tc.scope {
			t.Errorf("%s: scope %d, want %d", tc.client, sel.Scope, tc.scope)
		}
	}
}

func TestZeroClient(t *testing.T) {
	for name, c := range allocEnvs(t) {
		sel := Select(c.s, mdns.TypeA, Client{SourceBits: -1}, c.env, nil, nil)
		if len(sel.Addrs) == 0 {
			t.Errorf("%s: no addresses for an unknown client", name)
		}
	}
}

func TestGeoFallsBackToRoutes(t *testing.T) {
	cfg := ServiceConfig{
		Name:     "x.example.test.",
		Policy:   "geo",
		Fallback: "routes",
		Map:      map[string][]string{"net:10.0.0.0/8": {"sin"}},
		Targets: []TargetConfig{
			tgt("ams", 0, "192.0.2.1"), tgt("fra", 0, "198.51.100.1"),
			tgt("iad", 0, "203.0.113.1"), tgt("sin", 0, "203.0.113.100"),
		},
	}
	s := compile(t, cfg)
	env := &Env{Geo: testGeo, Routes: testRoutes}
	// 198.18.200.1: geo knows nothing (scope from the net: entry's
	// neighbourhood: 1), routes match /17 -> fra.
	sel := Select(s, mdns.TypeA, client("198.18.200.1", 24), env, nil, nil)
	if sel.Datacenter != "fra" || sel.Policy != "routes" || sel.Scope != 17 {
		t.Errorf("geo->routes: %s %s /%d, want fra routes /17", sel.Datacenter, sel.Policy, sel.Scope)
	}
	// Neither knows: the chain ends in weighted.
	sel = Select(s, mdns.TypeA, client("192.0.2.7", -1), env, nil, nil)
	if sel.Policy != "weighted" {
		t.Errorf("geo->routes->?: policy %s, want weighted", sel.Policy)
	}
}

func TestTTL(t *testing.T) {
	cfg := threeDC("failover", 1)
	cfg.TTL, cfg.MinTTL = ptr(30), ptr(5)
	s := compile(t, cfg)
	tests := []struct {
		name   string
		health fakeHealth
		ttl    uint32
	}{
		{"all up and stable", nil, 30},
		{"an address may change in 12s", fakeHealth{ip("203.0.113.2"): {Up: true, Settle: 12500 * time.Millisecond}}, 12},
		{"shortest settle wins", fakeHealth{ip("203.0.113.2"): {Up: true, Settle: 20 * time.Second}, ip("192.0.2.2"): {Up: false, Settle: 8 * time.Second}}, 8},
		{"clamped to min_ttl", fakeHealth{ip("198.51.100.1"): {Up: false, Settle: 2 * time.Second}}, 5},
		{"clamped to ttl", fakeHealth{ip("198.51.100.1"): {Up: true, Settle: 10 * time.Minute}}, 30},
		{"down but stable does not shorten", fakeHealth{ip("198.51.100.1"): downAdmin}, 30},
		{"other family counts too", fakeHealth{ip("2001:db8:1::1"): {Up: true, Settle: 7 * time.Second}}, 7},
		{"fail open keeps the rule", fakeHealth{
			ip("192.0.2.1"): down, ip("192.0.2.2"): down, ip("198.51.100.1"): down, ip("203.0.113.1"): down, ip("203.0.113.2"): down,
		}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{}
			if tc.health != nil {
				env.Health = tc.health
			}
			var tr Trace
			sel := Select(s, mdns.TypeA, client("192.0.2.99", -1), env, nil, &tr)
			if sel.TTL != tc.ttl {
				t.Errorf("TTL %d, want %d (%s)", sel.TTL, tc.ttl, tr.TTLReason)
			}
			if tr.TTL != sel.TTL || tr.TTLReason == "" {
				t.Errorf("trace TTL %d %q", tr.TTL, tr.TTLReason)
			}
		})
	}
	// min_ttl 0 lets a flapping answer be uncached.
	cfg.MinTTL = ptr(0)
	s0 := compile(t, cfg)
	if ttl, _ := answerTTL(s0, 300*time.Millisecond, 1, false); ttl != 0 {
		t.Errorf("min_ttl 0, settle 0.3s: ttl %d, want 0", ttl)
	}
}

func TestSelectUsesCallerBuffer(t *testing.T) {
	s := compile(t, threeDC("failover", 2))
	buf := make([]netip.Addr, 0, 8)
	sel := Select(s, mdns.TypeA, client("192.0.2.99", -1), &Env{}, buf, nil)
	if &sel.Addrs[:1][0] != &buf[:1][0] {
		t.Errorf("Addrs does not alias buf")
	}
}

func allocEnvs(t testing.TB) map[string]struct {
	s   *Service
	env *Env
	c   Client
} {
	h := fakeHealth{ip("192.0.2.1"): down, ip("198.51.100.1"): {Up: true, Settle: 9 * time.Second}}
	rnd := rand.New(rand.NewPCG(1, 2))
	weighted := threeDC("weighted", 2)
	return map[string]struct {
		s   *Service
		env *Env
		c   Client
	}{
		"round-robin":      {compile(t, threeDC("round-robin", 2)), &Env{Health: h, Seq: 7}, client("192.0.2.99", 24)},
		"weighted":         {compile(t, weighted), &Env{Health: h, Rand: rnd}, client("192.0.2.99", 24)},
		"failover":         {compile(t, threeDC("failover", 2)), &Env{Health: h}, client("192.0.2.99", 24)},
		"geo-distance":     {geoService(t, 2), &Env{Geo: testGeo, Health: h, Rand: rnd}, client("100.128.0.1", 24)},
		"geo-map":          {geoService(t, 2), &Env{Geo: testGeo, Health: h, Rand: rnd}, client("100.64.0.1", 24)},
		"geo-net":          {geoService(t, 2), &Env{Geo: testGeo, Health: h, Rand: rnd}, client("10.9.0.1", 24)},
		"geo-fallback":     {geoService(t, 2), &Env{Geo: testGeo, Health: h, Rand: rnd}, client("100.144.0.1", 24)},
		"routes":           {routesService(t, "weighted"), &Env{Routes: testRoutes, Health: h, Rand: rnd}, client("198.18.0.1", 24)},
		"routes-fallback":  {routesService(t, "weighted"), &Env{Routes: testRoutes, Health: h, Rand: rnd}, client("192.0.2.99", 24)},
		"weighted-no-rand": {compile(t, weighted), &Env{Health: h, Seq: 3}, client("192.0.2.99", 24)},
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	for name, c := range allocEnvs(t) {
		t.Run(name, func(t *testing.T) {
			buf := make([]netip.Addr, 0, 16)
			n := testing.AllocsPerRun(200, func() {
				c.env.Seq++
				Select(c.s, mdns.TypeA, c.c, c.env, buf, nil)
			})
			if n != 0 {
				t.Errorf("%v allocations per Select, want 0", n)
			}
		})
	}
}

func BenchmarkSelect(b *testing.B) {
	envs := allocEnvs(b)
	for _, name := range []string{"round-robin", "weighted", "failover", "geo-distance", "geo-map", "geo-net", "geo-fallback", "routes", "routes-fallback"} {
		c := envs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]netip.Addr, 0, 16)
			for b.Loop() {
				c.env.Seq++
				Select(c.s, mdns.TypeA, c.c, c.env, buf, nil)
			}
		})
	}
}
