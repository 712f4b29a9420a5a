//go:build linux

package dns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestWildcardRepliesFromQueriedAddress listens on 0.0.0.0:0 (and [::]:0)
// with the engine and with the portable loop, queries two of the host's
// addresses from one unconnected socket, and checks each reply comes from
// the address its query was sent to and answers it.
func TestWildcardRepliesFromQueriedAddress(t *testing.T) {
	type listener struct {
		listen string
		to     []netip.Addr
	}
	ls := []listener{{"0.0.0.0:0", []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}}}
	if hasIPv6Loopback() {
		ls = append(ls, listener{"[::]:0", []netip.Addr{netip.MustParseAddr("::1")}})
	}
	for _, io := range []string{IOAuto, IOPortable} {
		for _, l := range ls {
			t.Run(io+" "+l.listen, func(t *testing.T) {
				env := newTestEnv(nil)
				var s *Server
				if io == IOAuto {
					s = startEngine(t, env.h, l.listen)
				} else {
					cfg := DefaultConfig()
					cfg.Listen = []string{l.listen}
					cfg.IO = IOPortable
					s = startWith(t, cfg, env.h)
				}
				port := s.Addrs()[0].Port()
				network := "udp4"
				if l.to[0].Is6() {
					network = "udp6"
				}
				c, err := net.ListenUDP(network, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				buf := make([]byte, 1500)
				for i, to := range l.to {
					m := query("www.example.test.", mdns.TypeA)
					m.Id = uint16(7 + i)
					dst := netip.AddrPortFrom(to, port)
					if _, err := c.WriteToUDPAddrPort(mustPack(t, m), dst); err != nil {
						t.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("query to %s: %v", dst, err)
					}
					if from.Addr().Unmap() != to || from.Port() != port {
						t.Errorf("query to %s answered from %s", dst, from)
					}
					r := new(mdns.Msg)
					if err := r.Unpack(buf[:n]); err != nil || r.Id != m.Id || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
						t.Errorf("query to %s: reply %v (%v)", dst, r, err)
					}
				}
			})
		}
	}
}
