package zones

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	mdns "github.com/miekg/dns"
)

// Records scattered over a file are grouped by name and type, each record
// keeping its line, and answers list an RRset in file order.
func TestRecordsGrouped(t *testing.T) {
	const text = `$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 60
www IN A 192.0.2.1
@ IN NS ns1
mail IN MX 10 www
www IN TXT "t"
ns1 IN A 192.0.2.53
www IN A 192.0.2.2
@ IN NS ns2
ns2 IN A 192.0.2.54
`
	z, err := ParseZone(strings.NewReader(text), "g.test.", "mem")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, rr := range z.Records() {
		_, line := z.Position(i)
		got = append(got, strings.TrimSuffix(rr.Header().Name, ".g.test.")+"/"+mdns.Type(rr.Header().Rrtype).String()+"@"+strconv.Itoa(line))
	}
	want := "g.test./SOA@2 g.test./NS@4 g.test./NS@9 www/A@3 www/A@8 www/TXT@6 mail/MX@5 ns1/A@7 ns2/A@10"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("records\n got %s\nwant %s", s, want)
	}
	s, err := NewSet([]*Zone{z}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Lookup("www.g.test.", mdns.TypeA)
	if len(r.Answer) != 2 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.1" || r.Answer[1].(*mdns.A).A.String() != "192.0.2.2" {
		t.Errorf("www A: %v", r.Answer)
	}
	r = s.Lookup("g.test.", mdns.TypeNS)
	if len(r.Answer) != 2 || len(r.Extra) != 2 {
		t.Errorf("NS: answer %v extra %v", r.Answer, r.Extra)
	}
}

// largeZone is a zone of about n records shaped like
// testdata/bench/large/gen's: per 6 names, A on the 5 that are not CNAMEs,
// AAAA on 2, TXT and MX on 1.
func largeZone(n int) string {
	var b strings.Builder
	b.WriteString("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n")
	for i := 0; b.Len() < n*28; i++ {
		h := "h" + strconv.Itoa(i)
		switch i % 6 {
		case 5:
			b.WriteString(h + " IN CNAME h" + strconv.Itoa(i-1) + "\n")
			continue
		case 0, 3:
			b.WriteString(h + " IN AAAA 2001:db8::" + strconv.FormatInt(int64(i%65536), 16) + "\n")
		case 1:
			b.WriteString(h + " IN TXT \"t" + strconv.Itoa(i) + "\"\n" + h + " IN MX 10 mail\n")
		}
		b.WriteString(h + " IN A 10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + "\n")
	}
	return b.String()
}

// BenchmarkLargeZone loads a zone of 100k records and reports the live
// heap it keeps (Zone and Set) per record, then times exact lookups in it.
func BenchmarkLargeZone(b *testing.B) {
	text := largeZone(100_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	z, err := ParseZone(strings.NewReader(text), "big.test.", "mem")
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSet([]*Zone{z}, nil)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perRecord := float64(after.HeapAlloc-before.HeapAlloc) / float64(z.Len())
	names := []string{"h1.big.test.", "h4.big.test.", "h100.big.test.", "nope.big.test."}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Lookup(names[i%len(names)], mdns.TypeA)
	}
	b.ReportMetric(perRecord, "heapB/record")
	runtime.KeepAlive(z)
}

// The store copies records into chunks without changing what they say:
// the same text and wire form, an owner name stored once.
func TestCompactKeepsRecords(t *testing.T) {
	lines := []string{
		"c.test. 300 IN SOA ns1.c.test. hostmaster.c.test. 1 3600 600 604800 60",
		"c.test. 300 IN NS ns1.c.test.",
		"c.test. 300 IN NS ns2.c.test.",
		"c.test. 300 IN MX 10 mail.c.test.",
		"www.c.test. 300 IN A 192.0.2.1",
		"www.c.test. 300 IN A 192.0.2.2",
		"www.c.test. 300 IN AAAA 2001:db8::1",
		"www.c.test. 300 IN TXT \"a b\" \"c\"",
		"www.c.test. 300 IN TXT \"\"",
		"alias.c.test. 60 IN CNAME www.c.test.",
		"_sip._udp.c.test. 300 IN SRV 1 2 5060 www.c.test.",
		"1.2.0.192.c.test. 300 IN PTR www.c.test.",
		"www.c.test. 300 IN CAA 0 issue \"ca.test\"",
		"v4.c.test. 300 IN AAAA ::ffff:192.0.2.9",
	}
	var rrs []mdns.RR
	for _, l := range lines {
		rr, err := mdns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	before := make([]mdns.RR, len(rrs))
	copy(before, rrs)
	var text []string
	var wire [][]byte
	for _, rr := range rrs {
		text = append(text, rr.String())
		buf := make([]byte, 512)
		n, err := mdns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, buf[:n])
	}
	var st store
	owners := map[string]string{}
	for i, rr := range rrs {
		h := rr.Header()
		if owners[h.Name] == "" {
			owners[h.Name] = st.string(h.Name)
		}
		rrs[i] = st.record(rr, owners[h.Name])
	}
	for i, rr := range rrs {
		if rr.String() != text[i] {
			t.Errorf("record %d: %q, was %q", i, rr.String(), text[i])
		}
		buf := make([]byte, 512)
		n, err := mdns.PackRR(rr, buf, 0, nil, false)
		if err != nil || string(buf[:n]) != string(wire[i]) {
			t.Errorf("record %d (%s): wire form changed (%v)", i, rr, err)
		}
		switch rr.(type) {
		case *mdns.SOA, *mdns.CAA:
			if rr != before[i] {
				t.Errorf("record %d (%s) was copied", i, rr)
			}
		default:
			if rr == before[i] {
				t.Errorf("record %d (%s) was not moved", i, rr)
			}
		}
	}
	// One copy of each owner name; addresses cut from the store.
	for i := 1; i < len(rrs); i++ {
		a, b := rrs[i-1].Header().Name, rrs[i].Header().Name
		if a == b && unsafe.StringData(a) != unsafe.StringData(b) {
			t.Errorf("records %d and %d: owner %s stored twice", i-1, i, a)
		}
	}
	if a := rrs[4].(*mdns.A).A; len(a) != 4 || cap(a) != 4 {
		t.Errorf("A address: %d bytes, capacity %d; want 4", len(a), cap(a))
	}
	if a := rrs[6].(*mdns.AAAA).AAAA; len(a) != 16 || cap(a) != 16 {
		t.Errorf("AAAA address: %d bytes, capacity %d; want 16", len(a), cap(a))
	}
}

// Names in a compacted zone are still found, and answers carry the
// records' data.
func TestCompactedZoneAnswers(t *testing.T) {
	z, err := ParseZone(strings.NewReader(largeZone(2000)), "big.test.", "mem")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet([]*Zone{z}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range z.Records() {
		h := rr.Header()
		r := s.Lookup(h.Name, h.Rrtype)
		found := false
		for _, a := range r.Answer {
			found = found || a.String() == rr.String()
		}
		if !found {
			t.Fatalf("%s %s: answer %v lacks %s", h.Name, mdns.Type(h.Rrtype), r.Answer, rr)
		}
	}
}

// A name in RDATA that is an owner of the zone shares the owner's string,
// and an RRset whose records share a target lists its addresses once.
func TestRDATANamesShared(t *testing.T) {
	const text = `$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.1
alias IN CNAME www
@ IN MX 10 www
@ IN MX 20 WWW
`
	z, err := ParseZone(strings.NewReader(text), "r.test.", "mem")
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	var cname *mdns.CNAME
	var mx []*mdns.MX
	for _, rr := range z.Records() {
		owners[rr.Header().Name] = rr.Header().Name
		switch rr := rr.(type) {
		case *mdns.CNAME:
			cname = rr
		case *mdns.MX:
			mx = append(mx, rr)
		}
	}
	if w := owners["www.r.test."]; unsafe.StringData(cname.Target) != unsafe.StringData(w) || unsafe.StringData(mx[0].Mx) != unsafe.StringData(w) {
		t.Errorf("CNAME and MX targets are not the owner's string")
	}
	s, err := NewSet([]*Zone{z}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Lookup("r.test.", mdns.TypeMX); len(r.Answer) != 2 || len(r.Extra) != 1 {
		t.Errorf("MX: answer %v extra %v; want 2 and 1", r.Answer, r.Extra)
	}
	if r := s.Lookup("alias.r.test.", mdns.TypeA); len(r.Answer) != 2 {
		t.Errorf("alias A: %v", r.Answer)
	}
}

// TestRecordsGroupedManyNames has more names than the validator's name
// table starts with, each name's records apart in the file: names are
// found again after the table grows, duplicates at them are dropped, and
// each name's records come out together.
func TestRecordsGroupedManyNames(t *testing.T) {
	const names = 3000
	var b strings.Builder
	b.WriteString("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n")
	for i := range names {
		fmt.Fprintf(&b, "n%d IN A 192.0.2.1\n", i)
	}
	for i := range names {
		fmt.Fprintf(&b, "N%d IN TXT \"t%d\"\nn%d IN A 192.0.2.1\n", i, i, i)
	}
	z, err := ParseZone(strings.NewReader(b.String()), "g.test.", "mem")
	if err != nil {
		t.Fatal(err)
	}
	if z.Len() != 3+2*names {
		t.Fatalf("%d records, want %d (duplicates dropped)", z.Len(), 3+2*names)
	}
	rrs := z.Records()
	for i := range names {
		a, txt := rrs[3+2*i], rrs[3+2*i+1]
		name := fmt.Sprintf("n%d.g.test.", i)
		_, la := z.Position(3 + 2*i)
		_, lt := z.Position(3 + 2*i + 1)
		if a.Header().Name != name || a.Header().Rrtype != mdns.TypeA || la != 5+i ||
			txt.Header().Name != name || txt.Header().Rrtype != mdns.TypeTXT || lt != 5+names+2*i {
			t.Fatalf("name %d: %v at %d, %v at %d", i, a, la, txt, lt)
		}
	}
}
