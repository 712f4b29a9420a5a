package dns

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/zones"
)

// demoSet compiles the built-in demo's zones and services (the zones the
// dig acceptance suite asks about).
func demoSet(t testing.TB) *zones.Set {
	t.Helper()
	const dir = "../cmd/godwit/demo"
	zs, err := zones.LoadDir(filepath.Join(dir, "zones"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Service    []zones.ServiceConfig    `toml:"service"`
		Datacenter []zones.DatacenterConfig `toml:"datacenter"`
	}
	if _, err := toml.DecodeFile(filepath.Join(dir, "godwit.toml"), &cfg); err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, s := range cfg.Service {
		if s.Check != "" {
			checks = append(checks, s.Check)
		}
		for _, tg := range s.Targets {
			if tg.Check != "" {
				checks = append(checks, tg.Check)
			}
		}
	}
	svcs, err := zones.CompileServices(cfg.Service, cfg.Datacenter, checks)
	if err != nil {
		t.Fatal(err)
	}
	set, err := zones.NewSet(zs, svcs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// selectAddrs is a deterministic service selection over zones.Select (no
// proximity data, a fixed sequence number); with ECS its scope depends on
// the client so that the echo's scope is checked.
func selectAddrs(r *zones.Result, qtype uint16, c *ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
	env := zones.Env{Seq: 7}
	sel := zones.Select(r.Service, qtype, zones.Client{Addr: c.Source, SourceBits: -1}, &env, buf, nil)
	scope := sel.Scope
	if c.ECS {
		scope = c.ECSPrefix.Bits()/2 + 3 // may exceed the source prefix: fine
	}
	return sel.Addrs, sel.TTL, scope
}

func demoHandler(t testing.TB) *Handler {
	set := demoSet(t)
	cfg := DefaultConfig()
	cfg.NSID = "ns1"
	cfg.Identity = "ns1"
	h := NewHandler(cfg, &testAnswers{zones: set, pick: selectAddrs}, nil)
	h.UseECS = true
	return h
}

// digQuery turns the arguments of a dig line of an acceptance case into a
// query, as dig would send it (EDNS 1232 with a cookie unless told
// otherwise); ok false for TCP and for what it does not understand.
func digQuery(args []string) (*mdns.Msg, bool) {
	if len(args) < 1 {
		return nil, false
	}
	m := query(mdns.Fqdn(args[0]), mdns.TypeA)
	m.RecursionDesired = true
	edns, size, version, do := true, uint16(1232), uint8(0), false
	opts := []mdns.EDNS0{&mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"}}
	for _, a := range args[1:] {
		switch {
		case a == "CH":
			m.Question[0].Qclass = mdns.ClassCHAOS
		case mdns.StringToType[a] != 0:
			m.Question[0].Qtype = mdns.StringToType[a]
		case a == "+tcp":
			return nil, false
		case a == "+noedns":
			edns = false
		case a == "+dnssec":
			do = true
		case a == "+nsid":
			opts = append(opts, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
		case strings.HasPrefix(a, "+bufsize="):
			n, _ := strconv.Atoi(strings.TrimPrefix(a, "+bufsize="))
			size = uint16(n)
		case strings.HasPrefix(a, "+edns="):
			n, _ := strconv.Atoi(strings.TrimPrefix(a, "+edns="))
			version = uint8(n)
		case strings.HasPrefix(a, "+opcode="):
			n, _ := strconv.Atoi(strings.TrimPrefix(a, "+opcode="))
			m.Opcode = n
		case strings.HasPrefix(a, "+ednsopt="):
			code, data, _ := strings.Cut(strings.TrimPrefix(a, "+ednsopt="), ":")
			n, _ := strconv.Atoi(code)
			b, _ := hexBytes(data)
			opts = append(opts, &mdns.EDNS0_LOCAL{Code: uint16(n), Data: b})
		case strings.HasPrefix(a, "+subnet="):
			p, err := netip.ParsePrefix(strings.TrimPrefix(a, "+subnet="))
			if err != nil {
				return nil, false
			}
			opts = append(opts, ecsOpt(p))
		case strings.HasPrefix(a, "+"):
		default:
			return nil, false
		}
	}
	if edns {
		withEDNS(m, size, do, opts...)
		m.Extra[0].(*mdns.OPT).SetVersion(version)
	}
	return m, true
}

func hexBytes(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

func ecsOpt(p netip.Prefix) *mdns.EDNS0_SUBNET {
	o := &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()),
		Address: net.IP(p.Masked().Addr().AsSlice())}
	if p.Addr().Is6() {
		o.Family = 2
	}
	return o
}

// digCases reads the dig lines of every acceptance case file.
func digCases(t *testing.T) []*mdns.Msg {
	t.Helper()
	files, _ := filepath.Glob("../testdata/acceptance/*.case")
	more, _ := filepath.Glob("../testdata/acceptance/*/*.case")
	var out []*mdns.Msg
	for _, f := range append(files, more...) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "dig:")
			if !ok {
				continue
			}
			if m, ok := digQuery(strings.Fields(line)); ok {
				out = append(out, m)
			}
		}
		fh.Close()
	}
	if len(out) < 20 {
		t.Fatalf("only %d dig questions found in the acceptance cases", len(out))
	}
	return out
}

// generated are queries for every demo name and common type, in random
// case, with EDNS variants.
func generated(rng *rand.Rand) []*mdns.Msg {
	names := []string{"example.test.", "www.example.test.", "mail.example.test.", "ns1.example.test.",
		"_sip._udp.example.test.", "ftp.example.test.", "alias.example.test.", "external.example.test.",
		"x.wild.example.test.", "host.wild.example.test.", "a.cdn.example.test.", "b.example.test.",
		"a.b.example.test.", "sub.example.test.", "www.sub.example.test.", "nope.example.test.",
		"gslb.example.test.", "app.example.test.", "big.example.test.", "example.org.", ".",
		"geo.gslb.example.test.", "rr.gslb.example.test.", "weighted.gslb.example.test.",
		"failover.gslb.example.test.", "nope.gslb.example.test.", "ns1.gslb.example.test."}
	types := []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeMX, mdns.TypeTXT, mdns.TypeSOA, mdns.TypeNS,
		mdns.TypeCNAME, mdns.TypeSRV, mdns.TypePTR, mdns.TypeCAA, mdns.TypeDS, mdns.TypeANY, mdns.TypeHINFO}
	ecs := []netip.Prefix{netip.MustParsePrefix("81.2.69.142/32"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8:1::/56"), netip.MustParsePrefix("10.0.0.0/9")}
	randCase := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if 'a' <= c && c <= 'z' && rng.IntN(2) == 0 {
				b[i] = c - 'a' + 'A'
			}
		}
		return string(b)
	}
	var out []*mdns.Msg
	for _, n := range names {
		for _, t := range types {
			for v := range 7 {
				name := n
				if v%2 == 1 {
					name = randCase(n)
				}
				m := query(name, t)
				m.Id = uint16(rng.Uint32())
				m.RecursionDesired = rng.IntN(2) == 0
				m.CheckingDisabled = rng.IntN(4) == 0
				switch v {
				case 1:
					withEDNS(m, 512, false)
				case 2:
					withEDNS(m, 1232, true, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
				case 3:
					withEDNS(m, 4096, false, ecsOpt(ecs[rng.IntN(len(ecs))]))
				case 4:
					withEDNS(m, 1232, rng.IntN(2) == 0, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"},
						ecsOpt(ecs[rng.IntN(len(ecs))]), &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
				case 5:
					withEDNS(m, uint16(rng.IntN(700)), false, ecsOpt(ecs[rng.IntN(len(ecs))]))
				}
				out = append(out, m)
			}
		}
	}
	return out
}

// sameReply answers pkt on both paths and reports a difference: when the
// fast path answers, the slow path's reply must unpack to the same message
// (header, question, every section, OPT with NSID and ECS scope).
func sameReply(t testing.TB, h *Handler, sc *fastScratch, pkt []byte) (fast bool) {
	t.Helper()
	fast = sameReplyOn(t, h, sc, pkt, false)
	sameReplyOn(t, h, sc, pkt, true)
	return fast
}

// sameReplyOn is sameReply for UDP or TCP.
func sameReplyOn(t testing.TB, h *Handler, sc *fastScratch, pkt []byte, tcp bool) (fast bool) {
	t.Helper()
	src := netip.MustParseAddr("192.0.2.99")
	fb, ok := h.answerFastOn(make([]byte, replyBufSize), pkt, src, sc, tcp)
	if !ok {
		return false
	}
	sb := h.handleSlow(make([]byte, replyBufSize), pkt, src, tcp)
	fm, sm := new(mdns.Msg), new(mdns.Msg)
	if err := fm.Unpack(fb); err != nil {
		t.Fatalf("fast reply does not unpack: %v\nquery %x\nreply %x", err, pkt, fb)
	}
	if sb == nil {
		t.Fatalf("fast path answered, slow path did not\nquery %x\nfast:\n%v", pkt, fm)
	}
	if err := sm.Unpack(sb); err != nil {
		t.Fatalf("slow reply does not unpack: %v", err)
	}
	if fm.String() != sm.String() {
		t.Fatalf("replies differ (tcp %v)\nquery %x\nfast:\n%v\nslow:\n%v", tcp, pkt, fm, sm)
	}
	return true
}

func TestFastPathMatchesSlowPath(t *testing.T) {
	h := demoHandler(t)
	sc := newFastScratch()
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := append(digCases(t), generated(rng)...)
	fast := 0
	for _, m := range msgs {
		pkt, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if sameReply(t, h, sc, pkt) {
			fast++
		}
	}
	t.Logf("%d of %d queries answered by the fast path", fast, len(msgs))
	if fast < len(msgs)/2 {
		t.Errorf("the fast path answered only %d of %d queries", fast, len(msgs))
	}
}

// TestFastPathTakesOrDeclines pins which queries the fast path answers
// itself and which it leaves to the slow path.
func TestFastPathTakesOrDeclines(t *testing.T) {
	h := demoHandler(t)
	sc := newFastScratch()
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	chaos := query("id.server.", mdns.TypeTXT)
	chaos.Question[0].Qclass = mdns.ClassCHAOS
	notify := query("example.test.", mdns.TypeSOA)
	notify.Opcode = mdns.OpcodeNotify
	badvers := withEDNS(query("www.example.test.", mdns.TypeA), 1232, false)
	badvers.Extra[0].(*mdns.OPT).SetVersion(1)
	escaped := query(`w\.w.example.test.`, mdns.TypeA)
	tests := []struct {
		name string
		m    *mdns.Msg
		fast bool
	}{
		{"static A", query("www.example.test.", mdns.TypeA), true},
		{"static A with EDNS", withEDNS(query("WwW.example.test.", mdns.TypeA), 1232, true), true},
		{"MX with additional", withEDNS(query("example.test.", mdns.TypeMX), 1232, false), true},
		{"NXDOMAIN", query("nope.example.test.", mdns.TypeA), true},
		{"NODATA", query("www.example.test.", mdns.TypeMX), true},
		{"REFUSED", query("example.org.", mdns.TypeA), true},
		{"CNAME chain", query("alias.example.test.", mdns.TypeA), true},
		{"wildcard", query("x.wild.example.test.", mdns.TypeA), true},
		{"referral", query("www.sub.example.test.", mdns.TypeA), true},
		{"service", query("geo.gslb.example.test.", mdns.TypeA), true},
		{"service with ECS and NSID", withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs,
			&mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}), true},
		{"service NODATA", query("rr.gslb.example.test.", mdns.TypeAAAA), true},
		{"truncated", query("big.example.test.", mdns.TypeA), false},
		{"ANY", query("www.example.test.", mdns.TypeANY), false},
		{"AXFR", query("example.test.", mdns.TypeAXFR), false},
		{"CHAOS", chaos, false},
		{"NOTIFY", notify, false},
		{"BADVERS", badvers, false},
		{"unknown option", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false,
			&mdns.EDNS0_LOCAL{Code: 65001, Data: []byte{1}}), false},
		{"escaped name", escaped, false},
		{"ECS with scope", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false, rawECS(1, 24, 8, 192, 0, 2)), false},
		{"ECS with host bits", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false, rawECS(1, 23, 0, 192, 0, 3)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameReply(t, h, sc, mustPack(t, tt.m)); got != tt.fast {
				t.Errorf("fast path answered: %v, want %v", got, tt.fast)
			}
		})
	}
}

func TestFastPathServiceWithoutAddresses(t *testing.T) {
	set := demoSet(t)
	h := NewHandler(DefaultConfig(), &testAnswers{zones: set}, nil)
	slow := NewHandler(DefaultConfig(), &testAnswers{zones: set}, nil)
	pkt := mustPack(t, query("geo.gslb.example.test.", mdns.TypeA))
	out, ok := h.answerFast(make([]byte, replyBufSize), pkt, testClient, newFastScratch())
	if !ok {
		t.Fatal("the fast path declined a service NODATA")
	}
	r, want := new(mdns.Msg), new(mdns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if err := want.Unpack(slow.handleSlow(make([]byte, replyBufSize), pkt, testClient, false)); err != nil {
		t.Fatal(err)
	}
	if r.String() != want.String() {
		t.Errorf("fast reply differs from the slow path's:\nfast %v\nslow %v", r, want)
	}
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
		t.Errorf("reply %v, want NODATA with the SOA", r)
	}
}

// TestFastPathAllocations pins the fast path's budget: nothing for exact
// matches, negative answers, services and ECS.
func TestFastPathAllocations(t *testing.T) {
	h := demoHandler(t)
	sc := newFastScratch()
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	tests := []struct {
		name string
		m    *mdns.Msg
		max  float64
	}{
		{"static", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false), 0},
		{"static, mixed case", query("wWw.Example.TEST.", mdns.TypeAAAA), 0},
		{"NXDOMAIN", withEDNS(query("nope.example.test.", mdns.TypeA), 1232, false), 0},
		{"service", query("geo.gslb.example.test.", mdns.TypeA), 0},
		{"service with ECS", withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs), 0},
		{"service NODATA", query("rr.gslb.example.test.", mdns.TypeAAAA), 0},
		{"CNAME to a service", query("app.example.test.", mdns.TypeA), 1}, // the chain's slice in zones
	}
	dst := make([]byte, replyBufSize)
	for _, tt := range tests {
		pkt := mustPack(t, tt.m)
		allocs := testing.AllocsPerRun(200, func() {
			if _, ok := h.answerFast(dst, pkt, testClient, sc); !ok {
				t.Fatal("not answered by the fast path")
			}
		})
		if allocs > tt.max {
			t.Errorf("%s: %.1f allocations per query, budget %.0f", tt.name, allocs, tt.max)
		}
	}
}

func TestFastScratchInternBounded(t *testing.T) {
	sc := newFastScratch()
	for i := range maxInterned + 10 {
		s := sc.intern([]byte(fmt.Sprintf("n%d.example.test.", i)))
		if s != fmt.Sprintf("n%d.example.test.", i) {
			t.Fatalf("intern returned %q", s)
		}
	}
	if len(sc.names) > maxInterned {
		t.Errorf("%d names interned, bound %d", len(sc.names), maxInterned)
	}
}

// FuzzFastPath: whenever the fast path answers a packet, the slow path
// must answer it the same way.
func FuzzFastPath(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i, m := range generated(rng) {
		if i%5 != 0 {
			continue
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(mustPackF(f, withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, rawECS(1, 24, 0, 192, 0, 2, 0))))
	h := demoHandler(f)
	sc := newFastScratch()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) > udpReadSize {
			return
		}
		sameReply(t, h, sc, pkt)
	})
}

func mustPackF(f *testing.F, m *mdns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func BenchmarkFastPath(b *testing.B) {
	h := demoHandler(b)
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	for _, bc := range []struct {
		name string
		m    *mdns.Msg
	}{
		{"static", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false)},
		{"nxdomain", withEDNS(query("nope.example.test.", mdns.TypeA), 1232, false)},
		{"service+ecs", withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs)},
	} {
		pkt, err := bc.m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, replyBufSize)
		b.Run("fast/"+bc.name, func(b *testing.B) {
			sc := newFastScratch()
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := h.answerFast(dst, pkt, testClient, sc); !ok {
					b.Fatal("slow path")
				}
			}
		})
		b.Run("slow/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.handleSlow(dst, pkt, testClient, false)
			}
		})
	}
}

// TestUDPLoopAnswers runs the read loops (two sockets) and checks the fast
// path's replies on the wire, id and question included.
func TestUDPLoopAnswers(t *testing.T) {
	h := demoHandler(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 2
	cfg.IO = IOPortable // the engine has its own test
	s := startWith(t, cfg, h)
	addr := s.Addrs()[0]
	for i, m := range []*mdns.Msg{
		query("WWW.example.test.", mdns.TypeA),
		withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecsOpt(netip.MustParsePrefix("81.2.69.0/24"))),
		query("big.example.test.", mdns.TypeA), // slow path: truncated
	} {
		m.Id = uint16(100 + i)
		r := exchangeNet(t, "udp", addr, m)
		if r.Id != m.Id || r.Question[0] != m.Question[0] || r.Rcode != mdns.RcodeSuccess {
			t.Errorf("query %d: reply %v", i, r)
		}
		if i == 1 {
			if e := ecsOf(r); e == nil || e.SourceScope != 24/2+3 {
				t.Errorf("ECS echo %v, want scope 15", e)
			}
		}
		if i == 2 && !r.Truncated {
			t.Errorf("big answer not truncated: %v", r)
		}
	}
}
