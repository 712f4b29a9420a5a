package dnssec

import (
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// nsecText is the NSEC in presentation format with NXNAME named (miekg/dns
// prints it as TYPE128).
func nsecText(n *mdns.NSEC) string {
	return strings.ReplaceAll(n.String(), "TYPE128", "NXNAME")
}

func TestCompactNSECMatchesRFC9824(t *testing.T) {
	for _, tc := range []struct {
		qname string
		types []uint16
		want  string
	}{
		// RFC 9824 section 3.1: a query for the nonexistent a.example.com.
		{"a.example.com.", []uint16{TypeNXNAME}, "a.example.com.\t3600\tIN\tNSEC\t\\000.a.example.com. RRSIG NSEC NXNAME"},
		// Section 3.2: the name exists, not the type; the bitmap lists what is there.
		{"A.Example.com.", []uint16{mdns.TypeMX, mdns.TypeA, mdns.TypeA}, "a.example.com.\t3600\tIN\tNSEC\t\\000.a.example.com. A MX RRSIG NSEC"},
		// Section 3, an empty non-terminal: RRSIG and NSEC only.
		{"ent.example.com.", nil, "ent.example.com.\t3600\tIN\tNSEC\t\\000.ent.example.com. RRSIG NSEC"},
	} {
		n, err := CompactNSEC(tc.qname, 3600, tc.types)
		if err != nil {
			t.Fatal(err)
		}
		if got := nsecText(n); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.qname, got, tc.want)
		}
		// It packs and unpacks (the bitmap with type 128 included).
		buf := make([]byte, 512)
		off, err := mdns.PackRR(n, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := mdns.UnpackRR(buf[:off], 0)
		if err != nil || back.String() != n.String() {
			t.Fatalf("round trip: %v %v", back, err)
		}
	}
	// A name of 255 octets has no room for \000: the successor increments
	// the last octet of the first label (RFC 4471), skipping A-Z and
	// dropping 0xff octets.
	rest := "." + strings.Repeat(strings.Repeat("a", 63)+".", 2) + strings.Repeat("b", 61) + "."
	for first, want := range map[string]string{
		strings.Repeat("a", 63):            strings.Repeat("a", 62) + "b",
		strings.Repeat("a", 62) + "@":      strings.Repeat("a", 62) + "[",
		strings.Repeat("a", 61) + "q\\255": strings.Repeat("a", 61) + "r",
		strings.Repeat("\\255", 63):        "",
	} {
		n, err := CompactNSEC(first+rest, 60, nil)
		if want == "" {
			if err == nil {
				t.Errorf("%s: successor %s, want none", first, n.NextDomain)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n.NextDomain != want+rest {
			t.Errorf("successor of %s...:\n got %s\nwant %s", first[:8], n.NextDomain, want+rest)
		}
	}
}

func TestDenialSigned(t *testing.T) {
	c := newClock(time.Now())
	s := fixtureSigner(t, "example.test.", c)

	nx, err := s.NXName("Nope.example.test.", 300)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nsecText(nx.NSEC), "nope.example.test.\t300\tIN\tNSEC\t\\000.nope.example.test. RRSIG NSEC NXNAME"; got != want {
		t.Fatalf("NXName:\n got %s\nwant %s", got, want)
	}
	if verify(t, s, nx, []mdns.RR{nx.NSEC}, c.now()) != 1 {
		t.Fatal("NXName NSEC signature does not verify")
	}
	if again, _ := s.NXName("nope.EXAMPLE.test.", 300); again != nx {
		t.Fatal("NXName not cached")
	}

	nd, err := s.NoData("www.example.test.", mdns.TypeAAAA, []uint16{mdns.TypeAAAA, mdns.TypeA, mdns.TypeTXT}, 300)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nsecText(nd.NSEC), "www.example.test.\t300\tIN\tNSEC\t\\000.www.example.test. A TXT RRSIG NSEC"; got != want {
		t.Fatalf("NoData:\n got %s\nwant %s", got, want)
	}
	if verify(t, s, nd, []mdns.RR{nd.NSEC}, c.now()) != 1 {
		t.Fatal("NoData NSEC signature does not verify")
	}
	// Types in another order are the same proof.
	if again, _ := s.NoData("www.example.test.", mdns.TypeAAAA, []uint16{mdns.TypeTXT, mdns.TypeA}, 300); again != nd {
		t.Fatal("NoData not cached across type order")
	}

	apex, _ := s.NoData("example.test.", mdns.TypeTXT, []uint16{mdns.TypeSOA, mdns.TypeNS}, 300)
	if got, want := nsecText(apex.NSEC), "example.test.\t300\tIN\tNSEC\t\\000.example.test. NS SOA RRSIG NSEC DNSKEY"; got != want {
		t.Fatalf("apex NoData:\n got %s\nwant %s", got, want)
	}
	// The proof that a delegation has no DS: NS in the bitmap, no DS, no SOA.
	cut, _ := s.NoData("child.example.test.", mdns.TypeDS, []uint16{mdns.TypeNS}, 300)
	if got, want := nsecText(cut.NSEC), "child.example.test.\t300\tIN\tNSEC\t\\000.child.example.test. NS RRSIG NSEC"; got != want {
		t.Fatalf("no-DS proof:\n got %s\nwant %s", got, want)
	}
	// An NXNAME passed as a present type for NODATA is dropped.
	nd2, _ := s.NoData("x.example.test.", mdns.TypeA, []uint16{TypeNXNAME}, 300)
	if strings.Contains(nsecText(nd2.NSEC), "NXNAME") {
		t.Fatal("NoData bitmap carries NXNAME")
	}
}
