package server

import (
	"log/slog"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkHandle runs whole UDP queries (parse, select, metrics, reply)
// through the handler, as the packet engine does, of a server started from the side-by-side bench
// config (testdata/bench/godwit.toml), without the sockets: the user-space
// share of what `make bench` measures per query.
func BenchmarkHandle(b *testing.B) {
	cfg, err := LoadConfig("../testdata/bench/godwit.toml", Flags{Listen: []string{"127.0.0.1:0"}, StatusListen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	s, err := Start(b.Context(), cfg, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Shutdown)
	ecs := func(p string) *mdns.EDNS0_SUBNET {
		pfx := netip.MustParsePrefix(p)
		return &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(pfx.Bits()), Address: pfx.Addr().AsSlice()}
	}
	for _, bc := range []struct {
		name, qname string
		ecs         *mdns.EDNS0_SUBNET
	}{
		{"static", "www.example.test.", nil},
		{"geo", "geo.gslb.test.", nil},
		{"geo-ecs", "geo.gslb.test.", ecs("81.2.69.142/32")},
		{"weighted", "weighted.gslb.test.", nil},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(bc.qname, mdns.TypeA)
		m.SetEdns0(1232, false)
		if bc.ecs != nil {
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, bc.ecs)
		}
		pkt, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, 4096)
		src := netip.MustParseAddr("127.0.0.1")
		b.Run(bc.name, func(b *testing.B) {
			a := s.handler.Answerer()
			out := a.AnswerUDP(dst, pkt, src)
			var r mdns.Msg
			if err := r.Unpack(out); err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
				b.Fatalf("reply %v: %v", err, &r)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.AnswerUDP(dst, pkt, src)
			}
		})
	}
}
