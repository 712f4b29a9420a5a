package dns

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/zones"
)

// signedAnswers is testAnswers over a zones.Set with DNSSEC signers.
type signedAnswers struct {
	testAnswers
	set  *zones.Set
	sigs *dnssec.Set
}

func (a *signedAnswers) Signers() *dnssec.Set { return a.sigs }
func (a *signedAnswers) TypesAt(name string, qtype uint16) ([]uint16, bool) {
	return a.set.TypesAt(name, qtype)
}
func (a *signedAnswers) CutDS(cut string) []mdns.RR { return a.set.CutDS(cut) }
func (a *signedAnswers) Answers() Answers           { return a }
func (a *signedAnswers) ServiceAddrs(r *zones.Result, qtype uint16, c *ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
	return a.testAnswers.ServiceAddrs(r, qtype, c, buf)
}

// signedHandler serves testdata/zones with example.test signed by the
// keys in dnssec/testdata/keys (a KSK and a ZSK, ECDSA P-256).
func signedHandler(t *testing.T) (*Handler, []*mdns.DNSKEY) {
	t.Helper()
	zs, err := zones.LoadDir("../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	set, err := zones.NewSet(zs, nil)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := dnssec.LoadDir("../dnssec/testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := dnssec.NewSet(kr, dnssec.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []*mdns.DNSKEY
	for _, k := range kr.Keys("example.test.") {
		keys = append(keys, k.DNSKEY)
	}
	a := &signedAnswers{testAnswers: testAnswers{zones: set}, set: set, sigs: sigs}
	return NewHandler(DefaultConfig(), a, nil), keys
}

// ask sends m through h (fast path first, as a UDP read loop does).
func ask(t *testing.T, h *Handler, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := h.Handle(make([]byte, 4096), pkt, netip.MustParseAddr("192.0.2.99"), false)
	r := new(mdns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return r
}

// verifySigned checks every RRSIG in the answer and authority sections
// against keys, and that every RRset there has one, except a referral's
// NS RRset. It returns the RRSIGs by covered type.
func verifySigned(t *testing.T, r *mdns.Msg, keys []*mdns.DNSKEY) map[uint16]*mdns.RRSIG {
	t.Helper()
	got := map[uint16]*mdns.RRSIG{}
	for si, sec := range [][]mdns.RR{r.Answer, r.Ns, r.Extra} {
		type key struct {
			name string
			typ  uint16
		}
		sets := map[key][]mdns.RR{}
		var order []key
		var sigs []*mdns.RRSIG
		for _, rr := range sec {
			h := rr.Header()
			switch s := rr.(type) {
			case *mdns.RRSIG:
				sigs = append(sigs, s)
			case *mdns.OPT:
			default:
				k := key{strings.ToLower(h.Name), h.Rrtype}
				if sets[k] == nil {
					order = append(order, k)
				}
				sets[k] = append(sets[k], rr)
			}
		}
		signed := map[key]bool{}
		for _, s := range sigs {
			k := key{strings.ToLower(s.Hdr.Name), s.TypeCovered}
			rrset := sets[k]
			if rrset == nil {
				t.Errorf("RRSIG over nothing: %v", s)
				continue
			}
			i := slices.IndexFunc(keys, func(dk *mdns.DNSKEY) bool { return dk.KeyTag() == s.KeyTag })
			if i < 0 {
				t.Errorf("RRSIG by unknown key %d: %v", s.KeyTag, s)
				continue
			}
			if err := s.Verify(keys[i], rrset); err != nil || !s.ValidityPeriod(time.Now()) {
				t.Errorf("RRSIG does not verify (%v): %v over %v", err, s, rrset)
				continue
			}
			if s.OrigTtl != rrset[0].Header().Ttl || s.Hdr.Ttl != rrset[0].Header().Ttl {
				t.Errorf("RRSIG TTLs %d/%d, RRset %d", s.Hdr.Ttl, s.OrigTtl, rrset[0].Header().Ttl)
			}
			signed[k] = true
			got[s.TypeCovered] = s
		}
		for _, k := range order {
			referral := !r.Authoritative && len(r.Ns) > 0 && r.Ns[0].Header().Rrtype == mdns.TypeNS
			if !signed[k] && !(referral && (k.typ == mdns.TypeNS || si == 2)) {
				t.Errorf("RRset %s %s has no RRSIG", k.name, mdns.TypeToString[k.typ])
			}
		}
	}
	return got
}

func nsecOf(r *mdns.Msg) *mdns.NSEC {
	for _, rr := range r.Ns {
		if n, ok := rr.(*mdns.NSEC); ok {
			return n
		}
	}
	return nil
}

// TestSignedAnswers asks a signed zone every kind of question with DO and
// verifies every RRSIG with miekg/dns against the zone's DNSKEYs.
// TestDNSKEYWithoutDO: a DNSKEY question at a signed apex gets the keys
// without DO too (unsigned), over UDP, TCP and EDNS-less; not the NODATA the
// zones alone would give.
func TestDNSKEYWithoutDO(t *testing.T) {
	h, keys := signedHandler(t)
	for _, m := range []*mdns.Msg{
		query("example.test.", mdns.TypeDNSKEY),
		withEDNS(query("example.test.", mdns.TypeDNSKEY), 1232, false),
		withEDNS(query("EXAMPLE.test.", mdns.TypeDNSKEY), 1232, false),
	} {
		r := ask(t, h, m)
		if r.Rcode != mdns.RcodeSuccess || hasRR(r.Answer, mdns.TypeRRSIG) || len(r.Ns) != 0 {
			t.Errorf("%s DNSKEY: rcode %d, answer %v, authority %v", m.Question[0].Name, r.Rcode, r.Answer, r.Ns)
		}
		if n := len(r.Answer); n != len(keys) || !hasRR(r.Answer, mdns.TypeDNSKEY) {
			t.Errorf("%s DNSKEY: %d records, want the zone's %d keys: %v", m.Question[0].Name, n, len(keys), r.Answer)
		}
	}
	// Below the apex there are no keys: NODATA.
	if r := ask(t, h, query("www.example.test.", mdns.TypeDNSKEY)); len(r.Answer) != 0 || r.Rcode != mdns.RcodeSuccess {
		t.Errorf("www DNSKEY: rcode %d, answer %v", r.Rcode, r.Answer)
	}
}

func TestSignedAnswers(t *testing.T) {
	h, keys := signedHandler(t)
	do := func(name string, qtype uint16) *mdns.Msg { return withEDNS(query(name, qtype), 1232, true) }
	tests := []struct {
		name  string
		req   *mdns.Msg
		rcode int
		check func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG)
	}{
		{"A", do("www.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if sigs[mdns.TypeA] == nil || len(r.Answer) != 2 {
				t.Errorf("answer %v", r.Answer)
			}
		}},
		{"DNSKEY at the apex", do("example.test.", mdns.TypeDNSKEY), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if sigs[mdns.TypeDNSKEY] == nil || !hasRR(r.Answer, mdns.TypeDNSKEY) {
				t.Errorf("answer %v", r.Answer)
			}
		}},
		{"NXDOMAIN: NOERROR with NXNAME", do("nope.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			n := nsecOf(r)
			if n == nil || !slices.Contains(n.TypeBitMap, dnssec.TypeNXNAME) || sigs[mdns.TypeSOA] == nil || sigs[mdns.TypeNSEC] == nil {
				t.Errorf("authority %v", r.Ns)
			}
		}},
		{"NXDOMAIN with CO", withCO(do("nope.example.test.", mdns.TypeA)), mdns.RcodeNameError, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if o := r.IsEdns0(); o == nil || o.Hdr.Ttl&coBit == 0 {
				t.Errorf("reply OPT %v: CO not set", o)
			}
		}},
		{"NODATA", do("www.example.test.", mdns.TypeTXT), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			n := nsecOf(r)
			if n == nil || slices.Contains(n.TypeBitMap, mdns.TypeTXT) || !slices.Contains(n.TypeBitMap, mdns.TypeA) ||
				slices.Contains(n.TypeBitMap, dnssec.TypeNXNAME) {
				t.Errorf("authority %v", r.Ns)
			}
		}},
		{"NODATA at an empty non-terminal", do("b.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if n := nsecOf(r); n == nil || slices.Contains(n.TypeBitMap, dnssec.TypeNXNAME) || slices.Contains(n.TypeBitMap, mdns.TypeA) {
				t.Errorf("authority %v", r.Ns)
			}
		}},
		{"wildcard", do("x.wild.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if s := sigs[mdns.TypeA]; s == nil || s.Labels != 4 {
				t.Errorf("RRSIG %v: want labels 4 (signed as the query name)", s)
			}
		}},
		{"wildcard NODATA", do("x.wild.example.test.", mdns.TypeMX), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if n := nsecOf(r); n == nil || !slices.Contains(n.TypeBitMap, mdns.TypeTXT) || n.Hdr.Name != "x.wild.example.test." {
				t.Errorf("authority %v", r.Ns)
			}
		}},
		{"CNAME chain", do("alias.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if sigs[mdns.TypeCNAME] == nil || sigs[mdns.TypeA] == nil {
				t.Errorf("answer %v", r.Answer)
			}
		}},
		{"referral without DS", do("www.sub.example.test.", mdns.TypeA), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			n := nsecOf(r)
			if n == nil || n.Hdr.Name != "sub.example.test." || !slices.Contains(n.TypeBitMap, mdns.TypeNS) || slices.Contains(n.TypeBitMap, mdns.TypeDS) {
				t.Errorf("authority %v", r.Ns)
			}
			if hasRR(r.Extra, mdns.TypeRRSIG) {
				t.Errorf("glue signed: %v", r.Extra)
			}
		}},
		{"DS at a nested zone's apex: the parent's proof", do("gslb.example.test.", mdns.TypeDS), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			n := nsecOf(r)
			if n == nil || !slices.Contains(n.TypeBitMap, mdns.TypeNS) || slices.Contains(n.TypeBitMap, mdns.TypeSOA) {
				t.Errorf("authority %v", r.Ns)
			}
			if s := sigs[mdns.TypeNSEC]; s == nil || s.SignerName != "example.test." {
				t.Errorf("NSEC signed by %v, want example.test.", s)
			}
		}},
		{"MX with signed additional data", do("example.test.", mdns.TypeMX), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if !hasRR(r.Extra, mdns.TypeRRSIG) {
				t.Errorf("additional %v: no RRSIG", r.Extra)
			}
		}},
		{"ANY", do("www.example.test.", mdns.TypeANY), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, sigs map[uint16]*mdns.RRSIG) {
			if sigs[mdns.TypeHINFO] == nil {
				t.Errorf("answer %v", r.Answer)
			}
		}},
		{"NXNAME query: FORMERR", do("www.example.test.", dnssec.TypeNXNAME), mdns.RcodeFormatError, nil},
		{"unsigned zone stays unsigned", do("www.other.test.", mdns.TypeA), -1, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if hasRR(r.Answer, mdns.TypeRRSIG) || hasRR(r.Ns, mdns.TypeRRSIG) {
				t.Errorf("signed: %v", r)
			}
		}},
		{"no DO: no RRSIG", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if hasRR(r.Answer, mdns.TypeRRSIG) {
				t.Errorf("signed without DO: %v", r.Answer)
			}
		}},
		{"no DO: NXDOMAIN", query("nope.example.test.", mdns.TypeA), mdns.RcodeNameError, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if nsecOf(r) != nil {
				t.Errorf("NSEC without DO: %v", r.Ns)
			}
		}},
		{"too large for UDP: TC", do("big.example.test.", mdns.TypeTXT), mdns.RcodeSuccess, func(t *testing.T, r *mdns.Msg, _ map[uint16]*mdns.RRSIG) {
			if !r.Truncated || len(r.Answer)+len(r.Ns) != 0 {
				t.Errorf("tc %v, answer %d ns %d", r.Truncated, len(r.Answer), len(r.Ns))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(t, h, tt.req)
			if tt.rcode >= 0 && r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s\n%v", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode], r)
			}
			sigs := map[uint16]*mdns.RRSIG{}
			if tt.name != "unsigned zone stays unsigned" && !strings.HasPrefix(tt.name, "no DO") {
				sigs = verifySigned(t, r, keys)
			}
			if tt.check != nil {
				tt.check(t, r, sigs)
			}
		})
	}
}

func withCO(m *mdns.Msg) *mdns.Msg {
	m.IsEdns0().Hdr.Ttl |= coBit
	return m
}

func hasRR(rrs []mdns.RR, t uint16) bool {
	return slices.ContainsFunc(rrs, func(rr mdns.RR) bool { return rr.Header().Rrtype == t })
}
