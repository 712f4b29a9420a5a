package dns

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
)

// FuzzHandle feeds raw packets to the handler: it must never panic (a
// recovered panic counts as a failure here), and any reply must unpack, be
// a response to the same id and fit the UDP limit.
func FuzzHandle(f *testing.F) {
	seeds := []*mdns.Msg{
		query("www.example.test.", mdns.TypeA),
		query("svc.example.test.", mdns.TypeAAAA),
		query("alias.example.test.", mdns.TypeA),
		withEDNS(query("big.example.test.", mdns.TypeTXT), 1232, true, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}),
		withEDNS(query("svc.example.test.", mdns.TypeA), 4096, false,
			&mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("192.0.2.0")}),
		withEDNS(query("svc.example.test.", mdns.TypeA), 4096, false, rawECS(1, 24, 0, 192, 0, 2, 0)),
		withEDNS(query("svc.example.test.", mdns.TypeA), 4096, false,
			&mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 2, SourceNetmask: 48, Address: net.ParseIP("2001:db8:1::")}),
		func() *mdns.Msg {
			m := query("id.server.", mdns.TypeTXT)
			m.Question[0].Qclass = mdns.ClassCHAOS
			return m
		}(),
		func() *mdns.Msg { m := query("example.test.", mdns.TypeSOA); m.Opcode = mdns.OpcodeNotify; return m }(),
		func() *mdns.Msg {
			m := withEDNS(query("www.example.test.", mdns.TypeA), 512, false)
			m.Extra[0].(*mdns.OPT).SetVersion(1)
			return m
		}(),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	env := newTestEnv(nil)
	env.z.record = false
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		if len(pkt) > 65535 {
			return
		}
		dst := make([]byte, replyBufSize)
		panics := testsupport.CounterValue(env.h.m.panics)
		out := env.h.Handle(dst, pkt, testClient, tcp)
		if testsupport.CounterValue(env.h.m.panics) != panics {
			// The fake zones panic on purpose for panic.example.test. only.
			r := new(mdns.Msg)
			if r.Unpack(pkt) != nil || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, "panic.example.test.") {
				t.Fatalf("handler panicked on %x", pkt)
			}
		}
		if out == nil {
			return
		}
		r := new(mdns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not unpack: %v\nreply %x", err, out)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(pkt) {
			t.Fatalf("reply qr %v id %#x to id %#x", r.Response, r.Id, binary.BigEndian.Uint16(pkt))
		}
		if !tcp && len(out) > 1232 {
			t.Fatalf("UDP reply of %d octets", len(out))
		}
	})
}
