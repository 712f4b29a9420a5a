package dns

import (
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/zones"
)

// TestRealZones answers from testdata/zones through zones.Set, over UDP and
// TCP on loopback.
func TestRealZones(t *testing.T) {
	zs, err := zones.LoadDir("../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) == 0 {
		t.Skip("zones.LoadDir loads nothing yet")
	}
	set, err := zones.NewSet(zs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := set.Lookup("www.example.test.", mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
		t.Skip("zones.Set.Lookup does not answer yet")
	}
	h := NewHandler(DefaultConfig(), &testAnswers{zones: set}, nil)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 2
	s := startWith(t, cfg, h)
	addr := s.Addrs()[0]

	tests := []struct {
		name    string
		net     string
		req     *mdns.Msg
		rcode   int
		aa, tc  bool
		answers int
		check   func(t *testing.T, r *mdns.Msg)
	}{
		{name: "A", net: "udp", req: query("www.example.test.", mdns.TypeA), aa: true, answers: 1,
			check: func(t *testing.T, r *mdns.Msg) {
				if a, ok := r.Answer[0].(*mdns.A); !ok || a.A.String() != "192.0.2.1" {
					t.Errorf("answer %v", r.Answer)
				}
			}},
		{name: "case preserved", net: "udp", req: query("wWw.EXAMPLE.test.", mdns.TypeAAAA), aa: true, answers: 1,
			check: func(t *testing.T, r *mdns.Msg) {
				if r.Question[0].Name != "wWw.EXAMPLE.test." {
					t.Errorf("question %q", r.Question[0].Name)
				}
			}},
		{name: "NXDOMAIN with the negative-TTL SOA", net: "udp", req: query("nope.example.test.", mdns.TypeA),
			rcode: mdns.RcodeNameError, aa: true, check: func(t *testing.T, r *mdns.Msg) {
				if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA || r.Ns[0].Header().Ttl != 300 {
					t.Errorf("authority %v, want the SOA with TTL 300", r.Ns)
				}
			}},
		{name: "refused outside", net: "udp", req: query("example.org.", mdns.TypeA), rcode: mdns.RcodeRefused},
		{name: "40 A over 512: TC", net: "udp", req: query("big.example.test.", mdns.TypeA), aa: true, tc: true},
		{name: "40 A with EDNS 1232", net: "udp", req: withEDNS(query("big.example.test.", mdns.TypeA), 1232, false),
			aa: true, answers: 40},
		{name: "30 TXT over 1232: TC", net: "udp", req: withEDNS(query("big.example.test.", mdns.TypeTXT), 4096, false),
			aa: true, tc: true},
		{name: "30 TXT over TCP", net: "tcp", req: query("big.example.test.", mdns.TypeTXT), aa: true, answers: 30},
		{name: "AXFR over TCP", net: "tcp", req: query("example.test.", mdns.TypeAXFR), rcode: mdns.RcodeRefused},
		{name: "referral", net: "udp", req: query("www.sub.example.test.", mdns.TypeA),
			check: func(t *testing.T, r *mdns.Msg) {
				if len(r.Ns) == 0 || r.Ns[0].Header().Rrtype != mdns.TypeNS || len(r.Extra) == 0 {
					t.Errorf("referral: authority %v additional %v", r.Ns, r.Extra)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchangeNet(t, tt.net, addr, tt.req)
			if r.Rcode != tt.rcode || r.Authoritative != tt.aa || r.Truncated != tt.tc || len(r.Answer) != tt.answers {
				t.Fatalf("rcode %s aa %v tc %v answers %d, want %s %v %v %d\n%v", mdns.RcodeToString[r.Rcode],
					r.Authoritative, r.Truncated, len(r.Answer), mdns.RcodeToString[tt.rcode], tt.aa, tt.tc, tt.answers, r)
			}
			if r.RecursionAvailable || !slices.Equal(r.Question, tt.req.Question) {
				t.Errorf("ra %v question %v", r.RecursionAvailable, r.Question)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}
