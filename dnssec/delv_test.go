package dnssec

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
)

// testZone is a tiny authoritative server that answers from a map of
// RRsets the way the Godwit handler is meant to with this package: signed
// answers, compact denial for NXDOMAIN and NODATA, wildcards signed as
// exact matches, DNSKEY at the apex. It is the integration plan in
// miniature and what delv validates below.
type testZone struct {
	apex  string
	set   *Set
	data  map[string]map[uint16][]mdns.RR // owner -> type -> RRset
	negTT uint32
	// tamper makes the server flip a bit in every RRSIG it sends.
	tamper atomic.Bool
}

func (z *testZone) soa() []mdns.RR { return z.data[z.apex][mdns.TypeSOA] }

func (z *testZone) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	opt := r.IsEdns0()
	do := opt != nil && opt.Do()
	co := opt != nil && opt.Hdr.Ttl&0x4000 != 0
	if opt != nil {
		m.SetEdns0(1232, do)
	}
	name := mdns.CanonicalName(q.Name)
	sg := z.set.For(name)
	sign := func(sec []mdns.RR) []mdns.RR {
		if !do {
			return sec
		}
		out, err := z.set.AppendSigned(nil, sec)
		if err != nil {
			m.Rcode = mdns.RcodeServerFailure
		}
		if z.tamper.Load() {
			for i, r := range out {
				if sig, ok := r.(*mdns.RRSIG); ok {
					c := mdns.Copy(sig).(*mdns.RRSIG) // the cached one is shared
					c.Signature = flipSig(c.Signature)
					out[i] = c
				}
			}
		}
		return out
	}
	if q.Qtype == TypeNXNAME { // RFC 9824 section 3.5
		m.Rcode = mdns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	if q.Qtype == mdns.TypeDNSKEY && name == z.apex {
		keys, sigs, err := sg.DNSKEY()
		if err != nil {
			m.Rcode = mdns.RcodeServerFailure
		} else {
			m.Answer = append(m.Answer, keys...)
			if do {
				m.Answer = append(m.Answer, sigs.RRSIG...)
			}
		}
		w.WriteMsg(m)
		return
	}
	node, exists := z.data[name]
	owner := q.Name
	if !exists { // a wildcard one label up (enough for this test)
		if _, rest, ok := strings.Cut(name, "."); ok {
			if wn, ok := z.data["*."+rest]; ok {
				node, exists = wn, true
			}
		}
	}
	negative := func(types []uint16, nx bool) {
		m.Ns = sign(z.soa())
		if !do {
			if nx {
				m.Rcode = mdns.RcodeNameError
			}
			return
		}
		var sigs *Signatures
		var err error
		if nx {
			sigs, err = sg.NXName(name, z.negTT)
			if co { // RFC 9824 section 5.1
				m.Rcode = mdns.RcodeNameError
				m.IsEdns0().Hdr.Ttl |= 0x4000
			}
		} else {
			sigs, err = sg.NoData(name, q.Qtype, types, z.negTT)
		}
		if err != nil {
			m.Rcode = mdns.RcodeServerFailure
			return
		}
		m.Ns = append(m.Ns, sigs.NSEC)
		m.Ns = append(m.Ns, sigs.RRSIG...)
	}
	switch {
	case !exists:
		negative(nil, true)
	case node[q.Qtype] != nil:
		set := node[q.Qtype]
		if owner != set[0].Header().Name { // wildcard synthesis
			syn := make([]mdns.RR, len(set))
			for i, rr := range set {
				syn[i] = mdns.Copy(rr)
				syn[i].Header().Name = owner
			}
			set = syn
		}
		m.Answer = sign(set)
	default:
		var types []uint16
		for t := range node {
			types = append(types, t)
		}
		negative(types, false)
	}
	w.WriteMsg(m)
}

// startZone runs z on 127.0.0.1:0 (UDP and TCP) and returns the port.
func startZone(t *testing.T, z *testZone) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		pc.Close()
		t.Skipf("tcp port %d: %v", port, err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return port
}

func TestDelvValidatesLiveAnswers(t *testing.T) {
	delv := testsupport.NeedTool(t, "delv")
	dir := t.TempDir()
	apex := "signed.test."
	ksk := writeKey(t, dir, apex, mdns.ECDSAP256SHA256, FlagsKSK, "")
	writeKey(t, dir, apex, mdns.ED25519, FlagsZSK, "")
	writeKey(t, dir, apex, mdns.ED25519, FlagsKSK, "")
	writeKey(t, dir, apex, mdns.ECDSAP256SHA256, FlagsZSK, "")
	kr, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(kr, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := &testZone{apex: apex, set: set, negTT: 300, data: map[string]map[uint16][]mdns.RR{}}
	for _, s := range []string{
		apex + " 3600 IN SOA ns1." + apex + " host." + apex + " 1 7200 3600 1209600 300",
		apex + " 3600 IN NS ns1." + apex,
		"ns1." + apex + " 3600 IN A 127.0.0.1",
		"www." + apex + " 30 IN A 192.0.2.1",
		"www." + apex + " 30 IN A 192.0.2.2",
		"www." + apex + " 30 IN TXT \"geo answer\"",
		"*.wild." + apex + " 60 IN A 192.0.2.9",
	} {
		r := rr(t, s)
		h := r.Header()
		if z.data[h.Name] == nil {
			z.data[h.Name] = map[uint16][]mdns.RR{}
		}
		z.data[h.Name][h.Rrtype] = append(z.data[h.Name][h.Rrtype], r)
	}
	port := startZone(t, z)

	anchor := filepath.Join(dir, "anchor.conf")
	a := fmt.Sprintf("trust-anchors {\n  %s static-key %d %d %d \"%s\";\n};\n", apex, ksk.Flags, ksk.Protocol, ksk.Algorithm, ksk.PublicKey)
	if err := os.WriteFile(anchor, []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name, qtype string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, delv, "@127.0.0.1", "-p", strconv.Itoa(port), "-a", anchor,
			"+root="+strings.TrimSuffix(apex, "."), name, qtype).CombinedOutput()
		return string(out)
	}
	for _, tc := range []struct{ name, qtype, want, record string }{
		{"www." + apex, "A", "; fully validated", "192.0.2.1"},
		{"WWW." + apex, "TXT", "; fully validated", "geo answer"},
		{"a.wild." + apex, "A", "; fully validated", "192.0.2.9"},
		{"nope." + apex, "A", "; negative response, fully validated", "NXNAME"},
		{"www." + apex, "AAAA", "; negative response, fully validated", "A TXT RRSIG NSEC"},
		{"a.wild." + apex, "MX", "; negative response, fully validated", "A RRSIG NSEC"},
		{apex, "TXT", "; negative response, fully validated", "NS SOA RRSIG NSEC DNSKEY"},
	} {
		out := run(tc.name, tc.qtype)
		t.Logf("delv %s %s:\n%s", tc.name, tc.qtype, out)
		if !strings.Contains(out, tc.want) || !strings.Contains(strings.ReplaceAll(out, "TYPE128", "NXNAME"), tc.record) {
			t.Errorf("delv %s %s: want %q and %q in:\n%s", tc.name, tc.qtype, tc.want, tc.record, out)
		}
	}

	// The response code and the DO and CO bits (RFC 9824 section 5).
	c := &mdns.Client{Timeout: 5 * time.Second}
	ask := func(name string, qtype uint16, do, co bool) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, do)
		if co {
			m.IsEdns0().Hdr.Ttl |= 0x4000
		}
		r, _, err := c.Exchange(m, "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask("nope."+apex, mdns.TypeA, false, false); r.Rcode != mdns.RcodeNameError || len(r.Ns) != 1 {
		t.Errorf("no DO: rcode %s, %d authority records; want NXDOMAIN and the SOA alone", mdns.RcodeToString[r.Rcode], len(r.Ns))
	}
	if r := ask("nope."+apex, mdns.TypeA, true, false); r.Rcode != mdns.RcodeSuccess || len(r.Ns) != 6 {
		t.Errorf("DO: rcode %s, %d authority records; want NOERROR, SOA, NSEC and their RRSIGs", mdns.RcodeToString[r.Rcode], len(r.Ns))
	}
	if r := ask("nope."+apex, mdns.TypeA, true, true); r.Rcode != mdns.RcodeNameError || r.IsEdns0().Hdr.Ttl&0x4000 == 0 {
		t.Errorf("DO+CO: rcode %s; want NXDOMAIN with CO set", mdns.RcodeToString[r.Rcode])
	}
	if r := ask("www."+apex, TypeNXNAME, true, false); r.Rcode != mdns.RcodeFormatError {
		t.Errorf("NXNAME query: rcode %s, want FORMERR", mdns.RcodeToString[r.Rcode])
	}

	// A tampered signature must fail validation.
	z.tamper.Store(true)
	if out := run("www."+apex, "A"); strings.Contains(out, "fully validated") || !strings.Contains(out, "resolution failed") {
		t.Errorf("a tampered signature validated:\n%s", out)
	}
}

// flipSig changes one bit of a base64 signature's decoded bytes.
func flipSig(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := []byte(s)
	i := strings.IndexByte(alphabet, b[0])
	b[0] = alphabet[i^1]
	return string(b)
}
