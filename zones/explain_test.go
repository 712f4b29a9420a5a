package zones

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/health"
)

func TestTraceString(t *testing.T) {
	s := geoService(t, 2)
	env := &Env{
		Geo:  testGeo,
		Rand: rand.New(rand.NewPCG(1, 2)),
		Health: fakeHealth{ip("203.0.113.1"): {Up: false, Settle: 4 * time.Second},
			ip("203.0.113.2"): {Up: false, Drained: true, Override: health.OverrideDrain}},
	}
	var tr Trace
	sel := Select(s, mdns.TypeA, client("100.64.0.1", 24), env, nil, &tr)
	out := tr.String()
	for _, want := range []string{
		"service geo.example.test. A",
		"client      100.64.0.1 (ECS /24)",
		"location    continent NA, country US, subdivision US-WA, at 47.60,-122.30, AS64500 (network 100.64.0.0/16, ASN network 100.64.0.0/12)",
		"map entry   asn:64500",
		"policy      geo",
		"1. iad          map entry asn:64500, position 1",
		"2. ams          distance 7",
		"203.0.113.1              down, may change in 4s (no check)",
		"203.0.113.2              drained by admin override (no check)",
		"* ams          192.0.2.1",
		"answer      192.0.2.1 198.51.100.1",
		"ttl         5: an address may change state in 4s; clamped to [min_ttl 5, ttl 30]",
		"ecs scope   16: the longest of ",
		"/12 from ASN network 100.64.0.0/12",
		"/16 from city network (the answer reached datacenters ranked by distance)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	if tr.TTL != sel.TTL || tr.Scope != sel.Scope || len(tr.Addresses) != len(sel.Addrs) || tr.Datacenter != "ams" {
		t.Errorf("trace disagrees with selection: %+v vs %+v", tr, sel)
	}

	// JSON for the API: names from the tags, addresses as text.
	b, err := json.Marshal(&tr)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"service", "policy_used", "location", "map_entry", "ranking", "health", "addresses", "ttl", "ttl_reason", "scope", "scope_reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if !strings.Contains(string(b), `"network":"100.64.0.0/16"`) {
		t.Errorf("JSON location network not as text: %s", b)
	}

	// A fallback is explained.
	tr = Trace{}
	Select(s, mdns.TypeA, client("100.144.0.1", -1), &Env{Geo: testGeo}, nil, &tr)
	if out := tr.String(); !strings.Contains(out, "policy      geo, fell back to weighted") ||
		!strings.Contains(out, "geo: no map entry matched and the client's location is unknown") ||
		!strings.Contains(out, "(no ECS)") {
		t.Errorf("fallback not explained:\n%s", out)
	}
	// Fail open is explained.
	tr = Trace{}
	all := fakeHealth{}
	for _, tg := range s.Targets {
		for _, a := range tg.Addrs[0] {
			all[a] = health.Status{}
		}
	}
	Select(s, mdns.TypeA, client("100.64.0.1", 24), &Env{Geo: testGeo, Health: all}, nil, &tr)
	if !tr.FailOpen || !strings.Contains(tr.String(), "FAIL OPEN") {
		t.Errorf("fail open not explained:\n%s", tr.String())
	}
}

const explainZone = `
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 1 3600 600 86400 60
@       IN NS  ns1
ns1     IN A   192.0.2.53
alias   IN CNAME svc
`

func TestExplain(t *testing.T) {
	z, err := ParseZone(strings.NewReader(explainZone), "example.test.", "example.test.zone")
	if err != nil {
		t.Fatal(err)
	}
	svc := compile(t, threeDC("failover", 1)) // svc.example.test.
	set, err := NewSet([]*Zone{z}, []*Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Health: fakeHealth{ip("192.0.2.1"): down}}
	tests := []struct {
		qname  string
		qtype  uint16
		rcode  string
		answer []string // fragments, in order
		svc    bool
	}{
		{"svc.example.test.", mdns.TypeA, "NOERROR", []string{"svc.example.test.\t5\tIN\tA\t192.0.2.2"}, true},
		{"alias.example.test.", mdns.TypeA, "NOERROR", []string{"alias.example.test.\t3600\tIN\tCNAME\tsvc.example.test.", "svc.example.test.\t5\tIN\tA\t192.0.2.2"}, true},
		{"ns1.example.test.", mdns.TypeA, "NOERROR", []string{"ns1.example.test.\t3600\tIN\tA\t192.0.2.53"}, false},
		{"elsewhere.test.", mdns.TypeA, "REFUSED", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.qname, func(t *testing.T) {
			e := Explain(set, tc.qname, tc.qtype, client("192.0.2.99", -1), env)
			if e.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", e.Rcode, tc.rcode)
			}
			if len(e.Answer) != len(tc.answer) {
				t.Fatalf("answer %q, want %q", e.Answer, tc.answer)
			}
			for i, want := range tc.answer {
				if e.Answer[i] != want {
					t.Errorf("answer[%d] = %q, want %q", i, e.Answer[i], want)
				}
			}
			if (e.Service != nil) != tc.svc {
				t.Errorf("service trace present = %v, want %v", e.Service != nil, tc.svc)
			}
			out := e.String()
			if !strings.HasPrefix(out, tc.qname+" A from 192.0.2.99 (no ECS)\n") {
				t.Errorf("String:\n%s", out)
			}
			if tc.svc && !strings.Contains(out, "policy      failover") {
				t.Errorf("String lacks the service trace:\n%s", out)
			}
		})
	}
	// NODATA for a family the service lacks: the trace says so.
	noV6 := compile(t, ServiceConfig{Name: "v4.example.test.", Policy: "failover", Targets: []TargetConfig{tgt("ams", 0, "192.0.2.1")}})
	set, err = NewSet([]*Zone{z}, []*Service{noV6})
	if err != nil {
		t.Fatal(err)
	}
	e := Explain(set, "v4.example.test.", mdns.TypeAAAA, Client{Addr: netip.MustParseAddr("2001:db8::9"), SourceBits: 48}, nil)
	if len(e.Answer) != 0 || e.Service == nil || !strings.Contains(e.String(), "no AAAA address in this service") {
		t.Errorf("NODATA explain:\n%s", e.String())
	}
}
