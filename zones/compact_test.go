package zones

import (
	"strconv"
	"strings"
	"testing"

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
