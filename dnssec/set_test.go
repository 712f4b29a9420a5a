package dnssec

import (
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestSet(t *testing.T) {
	kr, err := LoadDir("testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(kr, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"example.test.":         "example.test.",
		"A.b.EXAMPLE.test.":     "example.test.",
		"www.csk.test.":         "csk.test.",
		"other.test.":           "",
		"notexample.test.":      "",
		"a\\.example.test.":     "",
		"x.a\\.b.example.test.": "example.test.",
	} {
		got := ""
		if sg := set.For(name); sg != nil {
			got = sg.Zone()
		}
		if got != want {
			t.Errorf("For(%q) = %q, want %q", name, got, want)
		}
	}
	if set.Zone("example.test.") == nil || set.Zone("www.example.test.") != nil {
		t.Fatal("Zone is not an exact apex match")
	}

	// A CNAME in one zone to a name in the other, then an unsigned name:
	// each RRset gets the signatures of its own zone.
	in := rrs(t,
		"www.example.test. 60 IN CNAME www.csk.test.",
		"www.csk.test. 30 IN A 192.0.2.1",
		"www.csk.test. 30 IN A 192.0.2.2",
		"www.other.test. 30 IN A 192.0.2.3",
	)
	out, err := set.AppendSigned(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range out {
		s := mdns.TypeToString[r.Header().Rrtype]
		if sig, ok := r.(*mdns.RRSIG); ok {
			s += "/" + sig.SignerName
		}
		types = append(types, s)
	}
	want := []string{"CNAME", "RRSIG/example.test.", "A", "A", "RRSIG/csk.test.", "A"}
	if len(types) != len(want) {
		t.Fatalf("got %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("got %v, want %v", types, want)
		}
	}
	now := time.Now()
	if verify(t, set.Zone("csk.test."), &Signatures{RRSIG: out[4:5]}, in[1:3], now) != 1 {
		t.Fatal("the csk.test. RRset does not verify")
	}
}
