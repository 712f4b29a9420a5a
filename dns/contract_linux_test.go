//go:build linux

package dns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// contractCases are crafted queries that every path must answer the same
// way (docs/hardening.md): FORMERR with the query's id.
func contractCases() []struct {
	name string
	pkt  []byte
} {
	q := cat(wireName("www", "example", "test"), qtail)
	return []struct {
		name string
		pkt  []byte
	}{
		{"arcount 3, no records", cat(rawHeader(31, 1, 0, 0, 3), q)},
		{"arcount 1, no records", cat(rawHeader(32, 1, 0, 0, 1), q)},
		{"ancount 1, no records", cat(rawHeader(33, 1, 1, 0, 0), q)},
		{"nscount 65535, no records", cat(rawHeader(34, 1, 0, 65535, 0), q)},
		{"question cut after the name", cat(rawHeader(35, 1, 0, 0, 0), wireName("www", "example", "test"))},
		{"question cut in the class", cat(rawHeader(36, 1, 0, 0, 0), wireName("www", "example", "test"), qtail[:3])},
		{"forward compression pointer", cat(rawHeader(37, 1, 0, 0, 0), []byte{0xc0, 18}, qtail, wireName("www", "example", "test"))},
		{"pointer into the header", cat(rawHeader(38, 1, 0, 0, 0), []byte{0xc0, 4}, qtail)},
	}
}

// TestParserContractOnEveryPath runs each crafted query through every
// path: Handle over UDP (fast path first) and TCP, the slow path alone,
// and real servers: the engine and the portable loop on a specific and a
// wildcard address, and TCP.
func TestParserContractOnEveryPath(t *testing.T) {
	env := newTestEnv(nil)
	type path struct {
		name     string
		exchange func(pkt []byte) ([]byte, error)
	}
	paths := []path{
		{"Handle udp", func(pkt []byte) ([]byte, error) {
			return env.h.Handle(make([]byte, replyBufSize), pkt, testClient, false), nil
		}},
		{"slow udp", func(pkt []byte) ([]byte, error) {
			return env.h.handleSlow(make([]byte, replyBufSize), pkt, testClient, false), nil
		}},
		{"Handle tcp", func(pkt []byte) ([]byte, error) {
			return env.h.Handle(make([]byte, replyBufSize), pkt, testClient, true), nil
		}},
	}
	for _, pathCase := range []struct{ name, io, listen, dial string }{
		{"engine 127.0.0.1", IOAuto, "127.0.0.1:0", "127.0.0.1"},
		{"engine 0.0.0.0", IOAuto, "0.0.0.0:0", "127.0.0.2"},
		{"portable 127.0.0.1", IOPortable, "127.0.0.1:0", "127.0.0.1"},
		{"portable 0.0.0.0", IOPortable, "0.0.0.0:0", "127.0.0.2"},
	} {
		paths = append(paths, path{pathCase.name, func(pkt []byte) ([]byte, error) {
			var s *Server
			if pathCase.io == IOAuto {
				s = startEngine(t, env.h, pathCase.listen)
			} else {
				cfg := DefaultConfig()
				cfg.Listen = []string{pathCase.listen}
				cfg.IO = IOPortable
				s = startWith(t, cfg, env.h)
			}
			defer s.Shutdown(t.Context())
			addr := netip.AddrPortFrom(netip.MustParseAddr(pathCase.dial), s.Addrs()[0].Port())
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
			if err != nil {
				return nil, err
			}
			defer c.Close()
			if _, err := c.Write(pkt); err != nil {
				return nil, err
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			b := make([]byte, 4096)
			n, err := c.Read(b)
			return b[:n], err
		}})
	}
	paths = append(paths, path{"tcp server", func(pkt []byte) ([]byte, error) {
		s, _ := startServer(t, nil)
		defer s.Shutdown(t.Context())
		c, err := net.Dial("tcp", s.Addrs()[0].String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)); err != nil {
			return nil, err
		}
		m, err := readTCP(c)
		if err != nil {
			return nil, err
		}
		return m.Pack()
	}})

	for _, tc := range contractCases() {
		for _, p := range paths {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				out, err := p.exchange(tc.pkt)
				if err != nil {
					t.Fatal(err)
				}
				r := new(mdns.Msg)
				if err := r.Unpack(out); err != nil {
					t.Fatalf("reply %x does not unpack: %v", out, err)
				}
				if r.Rcode != mdns.RcodeFormatError || r.Id != binary.BigEndian.Uint16(tc.pkt) || len(r.Answer) != 0 {
					t.Errorf("reply %v, want FORMERR to id %d", r, binary.BigEndian.Uint16(tc.pkt))
				}
			})
		}
	}
}
