package zones

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// The negative-answer SOAs: TTL min(SOA TTL, MINIMUM) (RFC 2308).
const (
	exSOA    = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 3600 600 604800 300"
	gslbSOA  = "gslb.example.test. 60 IN SOA ns1.gslb.example.test. hostmaster.example.test. 2026112201 3600 600 604800 60"
	otherSOA = "other.test. 600 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 604800 900"
)

// testSet loads testdata/zones with two services in gslb.example.test.
func testSet(t testing.TB) *Set {
	t.Helper()
	zs, err := LoadDir("../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(zs, []*Service{{Name: "geo.gslb.example.test."}, {Name: "rr.gslb.example.test."}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLookup(t *testing.T) {
	s := testSet(t)
	const (
		ok   = mdns.RcodeSuccess
		nx   = mdns.RcodeNameError
		refd = mdns.RcodeRefused
	)
	referral := []string{"sub.example.test. 3600 IN NS ns.sub.example.test."}
	glue := []string{"ns.sub.example.test. 3600 IN A 203.0.113.53", "ns.sub.example.test. 3600 IN AAAA 2001:db8:53::53"}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		aa     bool
		answer []string
		ns     []string
		extra  []string
		svc    string // ServiceOwner
		zone   string
	}{
		// The apex and plain data.
		{name: "SOA at apex", qname: "example.test.", qtype: mdns.TypeSOA, rcode: ok, aa: true,
			answer: []string{"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 3600 600 604800 300"}},
		{name: "NS at apex with addresses", qname: "example.test.", qtype: mdns.TypeNS, rcode: ok, aa: true,
			answer: []string{"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."},
			extra:  []string{"ns1.example.test. 3600 IN A 127.0.0.1", "ns1.example.test. 3600 IN AAAA ::1", "ns2.example.test. 3600 IN A 127.0.0.2"}},
		{name: "A", qname: "www.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"www.example.test. 3600 IN A 192.0.2.1"}},
		{name: "AAAA", qname: "www.example.test.", qtype: mdns.TypeAAAA, rcode: ok, aa: true,
			answer: []string{"www.example.test. 3600 IN AAAA 2001:db8::1"}},
		{name: "mixed-case qname", qname: "WwW.ExAmPlE.TeSt.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"www.example.test. 3600 IN A 192.0.2.1"}},
		{name: "MX with addresses", qname: "example.test.", qtype: mdns.TypeMX, rcode: ok, aa: true,
			answer: []string{"example.test. 3600 IN MX 10 mail.example.test."},
			extra:  []string{"mail.example.test. 3600 IN A 192.0.2.25", "mail.example.test. 3600 IN AAAA 2001:db8::25"}},
		{name: "TXT", qname: "example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true,
			answer: []string{`example.test. 3600 IN TXT "v=spf1 mx -all"`}},
		{name: "SRV with addresses", qname: "_sip._udp.example.test.", qtype: mdns.TypeSRV, rcode: ok, aa: true,
			answer: []string{"_sip._udp.example.test. 3600 IN SRV 10 60 5060 sip.example.test."},
			extra:  []string{"sip.example.test. 3600 IN A 192.0.2.50"}},

		// Negative answers.
		{name: "NXDOMAIN", qname: "nope.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, ns: []string{exSOA}},
		{name: "NODATA", qname: "www.example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true, ns: []string{exSOA}},
		{name: "empty non-terminal is NODATA", qname: "b.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true, ns: []string{exSOA}},
		{name: "below an empty non-terminal", qname: "c.b.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, ns: []string{exSOA}},
		{name: "below a leaf", qname: "x.www.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, ns: []string{exSOA}},

		// CNAMEs.
		{name: "CNAME chain in zone", qname: "alias.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"alias.example.test. 3600 IN CNAME ftp.example.test.", "ftp.example.test. 3600 IN CNAME www.example.test.", "www.example.test. 3600 IN A 192.0.2.1"}},
		{name: "CNAME chain to NODATA", qname: "ftp.example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true,
			answer: []string{"ftp.example.test. 3600 IN CNAME www.example.test."}, ns: []string{exSOA}},
		{name: "qtype CNAME is not chased", qname: "alias.example.test.", qtype: mdns.TypeCNAME, rcode: ok, aa: true,
			answer: []string{"alias.example.test. 3600 IN CNAME ftp.example.test."}},
		{name: "CNAME out of our zones", qname: "external.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"external.example.test. 3600 IN CNAME www.example.net."}},
		{name: "CNAME across zones", qname: "to-www.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true, zone: "other.test.",
			answer: []string{"to-www.other.test. 600 IN CNAME www.example.test.", "www.example.test. 3600 IN A 192.0.2.1"}},
		{name: "CNAME to NXDOMAIN across zones (RFC 6604)", qname: "to-nx.other.test.", qtype: mdns.TypeA, rcode: nx, aa: true,
			answer: []string{"to-nx.other.test. 600 IN CNAME nope.example.test."}, ns: []string{exSOA}},
		{name: "CNAME to a referral", qname: "to-sub.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"to-sub.other.test. 600 IN CNAME host.sub.example.test."}, ns: referral, extra: glue},
		{name: "CNAME loop", qname: "loop1.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"loop1.other.test. 600 IN CNAME loop2.other.test.", "loop2.other.test. 600 IN CNAME loop1.other.test."}},
		{name: "CNAME chain is bounded", qname: "c1.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{
				"c1.other.test. 600 IN CNAME c2.other.test.", "c2.other.test. 600 IN CNAME c3.other.test.",
				"c3.other.test. 600 IN CNAME c4.other.test.", "c4.other.test. 600 IN CNAME c5.other.test.",
				"c5.other.test. 600 IN CNAME c6.other.test.", "c6.other.test. 600 IN CNAME c7.other.test.",
				"c7.other.test. 600 IN CNAME c8.other.test.", "c8.other.test. 600 IN CNAME c9.other.test.",
			}},

		// Wildcards (RFC 4592).
		{name: "wildcard", qname: "x.wild.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"x.wild.example.test. 3600 IN A 198.51.100.7"}},
		{name: "wildcard keeps the qname's case", qname: "X.Wild.example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true,
			answer: []string{`X.Wild.example.test. 3600 IN TXT "synthesized from *.wild.example.test"`}},
		{name: "wildcard matches several labels", qname: "y.x.wild.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"y.x.wild.example.test. 3600 IN A 198.51.100.7"}},
		{name: "wildcard NODATA", qname: "x.wild.example.test.", qtype: mdns.TypeMX, rcode: ok, aa: true, ns: []string{exSOA}},
		{name: "existing name beats the wildcard", qname: "host.wild.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"host.wild.example.test. 3600 IN A 198.51.100.8"}},
		{name: "existing name blocks the wildcard below it", qname: "a.host.wild.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, ns: []string{exSOA}},
		{name: "existing name NODATA, not the wildcard's data", qname: "host.wild.example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true, ns: []string{exSOA}},
		{name: "the wildcard name itself", qname: "*.wild.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"*.wild.example.test. 3600 IN A 198.51.100.7"}},
		{name: "wildcard CNAME is chased", qname: "img.cdn.example.test.", qtype: mdns.TypeAAAA, rcode: ok, aa: true,
			answer: []string{"img.cdn.example.test. 3600 IN CNAME www.example.test.", "www.example.test. 3600 IN AAAA 2001:db8::1"}},

		// Delegation.
		{name: "referral at the cut", qname: "sub.example.test.", qtype: mdns.TypeA, rcode: ok, aa: false, ns: referral, extra: glue},
		{name: "referral below the cut", qname: "deep.host.sub.example.test.", qtype: mdns.TypeMX, rcode: ok, aa: false, ns: referral, extra: glue},
		{name: "glue is not an answer", qname: "ns.sub.example.test.", qtype: mdns.TypeA, rcode: ok, aa: false, ns: referral, extra: glue},
		{name: "NS at the cut is a referral", qname: "sub.example.test.", qtype: mdns.TypeNS, rcode: ok, aa: false, ns: referral, extra: glue},
		{name: "DS at the cut from the parent", qname: "sub.example.test.", qtype: mdns.TypeDS, rcode: ok, aa: true, ns: []string{exSOA}},

		// Outside our zones: no upward referral.
		{name: "REFUSED", qname: "www.example.com.", qtype: mdns.TypeA, rcode: refd, aa: false, zone: "-"},
		{name: "REFUSED at the root", qname: ".", qtype: mdns.TypeNS, rcode: refd, aa: false, zone: "-"},
		{name: "REFUSED for a parent of a zone", qname: "test.", qtype: mdns.TypeSOA, rcode: refd, aa: false, zone: "-"},

		// ANY (RFC 8482).
		{name: "ANY", qname: "www.example.test.", qtype: mdns.TypeANY, rcode: ok, aa: true,
			answer: []string{`www.example.test. 300 IN HINFO "RFC8482" ""`}},
		{name: "ANY at a CNAME", qname: "ftp.example.test.", qtype: mdns.TypeANY, rcode: ok, aa: true,
			answer: []string{"ftp.example.test. 3600 IN CNAME www.example.test."}},
		{name: "ANY NXDOMAIN", qname: "nope.example.test.", qtype: mdns.TypeANY, rcode: nx, aa: true, ns: []string{exSOA}},
		{name: "ANY at an empty non-terminal", qname: "b.example.test.", qtype: mdns.TypeANY, rcode: ok, aa: true, ns: []string{exSOA}},
		{name: "ANY at a wildcard", qname: "q.wild.example.test.", qtype: mdns.TypeANY, rcode: ok, aa: true,
			answer: []string{`q.wild.example.test. 300 IN HINFO "RFC8482" ""`}},

		// Nested zones: the child answers for its names.
		{name: "child zone answers", qname: "ns1.gslb.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true, zone: "gslb.example.test.",
			answer: []string{"ns1.gslb.example.test. 3600 IN A 127.0.0.1"}},
		{name: "child zone NXDOMAIN", qname: "nope.gslb.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, zone: "gslb.example.test.", ns: []string{gslbSOA}},
		{name: "child apex NS", qname: "gslb.example.test.", qtype: mdns.TypeNS, rcode: ok, aa: true, zone: "gslb.example.test.",
			answer: []string{"gslb.example.test. 3600 IN NS ns1.gslb.example.test.", "gslb.example.test. 3600 IN NS ns2.gslb.example.test."},
			extra:  []string{"ns1.gslb.example.test. 3600 IN A 127.0.0.1", "ns2.gslb.example.test. 3600 IN A 127.0.0.1"}},
		{name: "DS at a child apex from the parent", qname: "gslb.example.test.", qtype: mdns.TypeDS, rcode: ok, aa: true, zone: "example.test.", ns: []string{exSOA}},

		// Services.
		{name: "service A", qname: "geo.gslb.example.test.", qtype: mdns.TypeA, rcode: ok, aa: true, svc: "geo.gslb.example.test.", zone: "gslb.example.test."},
		{name: "service AAAA, mixed case", qname: "GEO.Gslb.Example.Test.", qtype: mdns.TypeAAAA, rcode: ok, aa: true, svc: "geo.gslb.example.test."},
		{name: "TXT at a service name", qname: "geo.gslb.example.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true,
			answer: []string{`geo.gslb.example.test. 3600 IN TXT "nearest healthy datacenter"`}},
		{name: "other type at a service name", qname: "rr.gslb.example.test.", qtype: mdns.TypeMX, rcode: ok, aa: true, ns: []string{gslbSOA}},
		{name: "ANY at a service name", qname: "rr.gslb.example.test.", qtype: mdns.TypeANY, rcode: ok, aa: true,
			answer: []string{`rr.gslb.example.test. 60 IN HINFO "RFC8482" ""`}},
		{name: "below a service name", qname: "x.rr.gslb.example.test.", qtype: mdns.TypeA, rcode: nx, aa: true, ns: []string{gslbSOA}},
		{name: "CNAME to a service across zones", qname: "to-geo.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true, svc: "geo.gslb.example.test.", zone: "other.test.",
			answer: []string{"to-geo.other.test. 600 IN CNAME geo.gslb.example.test."}},
		{name: "CNAME to a service, TXT", qname: "to-geo.other.test.", qtype: mdns.TypeTXT, rcode: ok, aa: true,
			answer: []string{"to-geo.other.test. 600 IN CNAME geo.gslb.example.test.", `geo.gslb.example.test. 3600 IN TXT "nearest healthy datacenter"`}},

		// $INCLUDEd data.
		{name: "included record", qname: "included.other.test.", qtype: mdns.TypeA, rcode: ok, aa: true,
			answer: []string{"included.other.test. 600 IN A 192.0.2.200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Lookup(tt.qname, tt.qtype)
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
			}
			if r.Authoritative != tt.aa {
				t.Errorf("AA %v, want %v", r.Authoritative, tt.aa)
			}
			compare(t, "answer", r.Answer, tt.answer)
			compare(t, "authority", r.Ns, tt.ns)
			compare(t, "additional", r.Extra, tt.extra)
			if r.ServiceOwner != tt.svc || (r.Service != nil) != (tt.svc != "") {
				t.Errorf("service %v %q, want %q", r.Service, r.ServiceOwner, tt.svc)
			}
			if r.Service != nil && r.Service.Name != tt.svc {
				t.Errorf("service %q, want %q", r.Service.Name, tt.svc)
			}
			switch tt.zone {
			case "":
			case "-":
				if r.Zone != "" {
					t.Errorf("zone %q, want none", r.Zone)
				}
			default:
				if r.Zone != tt.zone {
					t.Errorf("zone %q, want %q", r.Zone, tt.zone)
				}
			}
		})
	}
}

// compare checks a section against records in zone-file syntax, in order.
func compare(t *testing.T, section string, got []mdns.RR, want []string) {
	t.Helper()
	var g, w []string
	for _, rr := range got {
		g = append(g, rr.String())
	}
	for _, s := range want {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expectation %q: %v", s, err)
		}
		w = append(w, rr.String())
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s:\n got %s\nwant %s", section, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}

// Lookup never changes the snapshot: wildcard answers are copies.
func TestLookupDoesNotMutate(t *testing.T) {
	s := testSet(t)
	before := s.Lookup("*.wild.example.test.", mdns.TypeA).Answer[0].String()
	s.Lookup("Changed.wild.example.test.", mdns.TypeA)
	s.Lookup("x.cdn.example.test.", mdns.TypeA)
	if after := s.Lookup("*.wild.example.test.", mdns.TypeA).Answer[0].String(); after != before {
		t.Errorf("snapshot changed: %s -> %s", before, after)
	}
	// Appending to a shared section copies instead of writing into the Set.
	r := s.Lookup("www.example.test.", mdns.TypeA)
	_ = append(r.Answer, &mdns.A{})
	if got := s.Lookup("www.example.test.", mdns.TypeA).Answer; len(got) != 1 || cap(got) != 1 {
		t.Errorf("shared answer has len %d cap %d", len(got), cap(got))
	}
}

func TestNewSetServices(t *testing.T) {
	zs, err := LoadDir("../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
	}{
		{"www.example.org.", "service www.example.org. is not inside any zone"},
		{"x.sub.example.test.", "service x.sub.example.test. is at or below the delegation sub.example.test."},
		{"sub.example.test.", "at or below the delegation sub.example.test."},
		{"www.example.test.", "service www.example.test.: zone example.test. has A records at that name"},
		{"ns1.example.test.", "has A records"},
		{"ftp.example.test.", "has CNAME records"},
		{"*.gslb.example.test.", "wildcard service names are not supported"},
		{"geo.gslb.example.test.", "service geo.gslb.example.test. is defined twice"},
	}
	for _, tt := range tests {
		svcs := []*Service{{Name: "geo.gslb.example.test."}, {Name: tt.name}}
		if _, err := NewSet(zs, svcs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("service %s: error %v, want %q", tt.name, err, tt.want)
		}
	}

	// A service name exists: it makes its ancestors empty non-terminals,
	// which a wildcard no longer matches.
	s, err := NewSet(zs, []*Service{{Name: "a.svc.wild.example.test."}})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Lookup("svc.wild.example.test.", mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("ancestor of a service: %+v, want NODATA", r)
	}
	if r := s.Lookup("a.svc.wild.example.test.", mdns.TypeA); r.ServiceOwner != "a.svc.wild.example.test." {
		t.Errorf("service below a wildcard: %+v", r)
	}

	if _, err := NewSet(append(zs, zs[0]), nil); err == nil || !strings.Contains(err.Error(), "loaded twice") {
		t.Errorf("duplicate zone: %v", err)
	}
}

func TestZones(t *testing.T) {
	s := testSet(t)
	var got []string
	for _, zi := range s.Zones() {
		got = append(got, zi.Origin)
	}
	if strings.Join(got, " ") != "example.test. gslb.example.test. other.test." {
		t.Errorf("zones %v", got)
	}
	zi, ok := s.Zone("Example.Test")
	if !ok || zi.Serial != 2026112201 || zi.Records != 99 || !strings.HasSuffix(zi.File, "example.test.zone") {
		t.Errorf("Zone: %+v %v", zi, ok)
	}
	if _, ok := s.Zone("example.com."); ok {
		t.Error("unknown zone found")
	}
}

// A root zone and names with escaped dots walk labels correctly.
func TestLookupRootAndEscapes(t *testing.T) {
	root, err := ParseZone(strings.NewReader(`$TTL 60
@ SOA a.root-servers.test. h. 1 2 3 4 5
  NS a.root-servers.test.
a\.b.test. A 192.0.2.1
*.c.test. A 192.0.2.2
`), ".", "root.zone")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet([]*Zone{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		qname string
		rcode int
		n     int
	}{
		{`a\.b.test.`, mdns.RcodeSuccess, 1},
		{"b.test.", mdns.RcodeNameError, 0},
		{`x\.y.c.test.`, mdns.RcodeSuccess, 1},
		{"test.", mdns.RcodeSuccess, 0}, // empty non-terminal
		{".", mdns.RcodeSuccess, 0},     // NODATA for A at the apex
		{"nope.", mdns.RcodeNameError, 0},
	}
	for _, tt := range tests {
		r := s.Lookup(tt.qname, mdns.TypeA)
		if r.Rcode != tt.rcode || len(r.Answer) != tt.n || !r.Authoritative || r.Zone != "." {
			t.Errorf("%s: %+v", tt.qname, r)
		}
	}
}

// The exact-match, NXDOMAIN, referral and service paths allocate nothing.
func TestLookupAllocs(t *testing.T) {
	s := testSet(t)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", mdns.TypeA},
		{"WWW.Example.Test.", mdns.TypeA},
		{"nope.example.test.", mdns.TypeA},
		{"b.example.test.", mdns.TypeA},
		{"host.sub.example.test.", mdns.TypeA},
		{"geo.gslb.example.test.", mdns.TypeA},
		{"example.test.", mdns.TypeNS},
		{"www.example.com.", mdns.TypeA},
	} {
		if n := testing.AllocsPerRun(100, func() { s.Lookup(q.name, q.qtype) }); n != 0 {
			t.Errorf("%s %s: %.0f allocations", q.name, mdns.Type(q.qtype), n)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	s := testSet(b)
	for _, q := range []struct {
		bench, name string
		qtype       uint16
	}{
		{"exact", "www.example.test.", mdns.TypeA},
		{"exact-mixed-case", "WwW.ExAmPlE.TeSt.", mdns.TypeA},
		{"nxdomain", "nope.example.test.", mdns.TypeA},
		{"wildcard", "x.wild.example.test.", mdns.TypeA},
		{"cname-chain", "alias.example.test.", mdns.TypeA},
		{"referral", "host.sub.example.test.", mdns.TypeA},
		{"service", "geo.gslb.example.test.", mdns.TypeA},
	} {
		b.Run(q.bench, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Lookup(q.name, q.qtype)
			}
		})
	}
}

func TestNextLabel(t *testing.T) {
	for _, name := range []string{".", "a.", "www.example.test.", `a\.b.test.`, `a\\.b.`, `a\\\.b.c.`, "x", "a..", ""} {
		for off := 0; off <= len(name); off++ {
			wi, we := mdns.NextLabel(name, off)
			gi, ge := nextLabel([]byte(name), off)
			if wi != gi || we != ge {
				t.Errorf("nextLabel(%q, %d) = %d %v, want %d %v", name, off, gi, ge, wi, we)
			}
		}
	}
}
