package dns

import (
	"bytes"
	"strings"
	"testing"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
)

// TestSlipSameOnEveryPath limits a client that asks for a 128-octet NSID
// and checks that the fast path and the slow path slip alike: the same
// octets, never larger than the query, counted the same way in
// godwit_dns_responses_total (issue #19 item 9).
func TestSlipSameOnEveryPath(t *testing.T) {
	type path struct {
		name   string
		handle func(h *Handler, pkt []byte) []byte
	}
	paths := []path{
		{"fast", func(h *Handler, pkt []byte) []byte {
			return h.Handle(make([]byte, replyBufSize), pkt, testClient, false)
		}},
		{"slow", func(h *Handler, pkt []byte) []byte {
			return h.handleSlow(make([]byte, replyBufSize), pkt, testClient, false)
		}},
	}
	nsid := &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}
	for _, q := range []struct {
		name  string
		m     *mdns.Msg
		rcode int
	}{
		{"answer", withEDNS(query("www.example.test.", mdns.TypeA), 1232, false, nsid), mdns.RcodeSuccess},
		{"NXDOMAIN", withEDNS(query("nope.example.test.", mdns.TypeA), 1232, true, nsid), mdns.RcodeNameError},
	} {
		pkt := mustPack(t, q.m)
		slips := map[string][]byte{}
		counted := map[string]float64{}
		for _, p := range paths {
			env := newTestEnv(func(c *Config) { c.NSID = strings.Repeat("n", 128) })
			env.h.RRL = newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1; c.Slip = 1 })
			before := testsupport.CounterValue(env.h.m.rcode[q.rcode])
			const n = 6
			var slip []byte
			for range n {
				out := p.handle(env.h, pkt)
				if out == nil {
					t.Fatalf("%s %s: dropped with slip = 1", q.name, p.name)
				}
				if out[2]&0x02 == 0 { // not TC: the full reply
					continue
				}
				if len(out) > len(pkt) {
					t.Errorf("%s %s: slip of %d octets to a query of %d", q.name, p.name, len(out), len(pkt))
				}
				slip = out
			}
			if slip == nil {
				t.Fatalf("%s %s: no slip in %d limited queries", q.name, p.name, n)
			}
			m := new(mdns.Msg)
			if err := m.Unpack(slip); err != nil || !m.Truncated || m.Rcode != q.rcode || len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 {
				t.Errorf("%s %s: slip %v (%v)", q.name, p.name, m, err)
			}
			slips[p.name] = slip
			counted[p.name] = testsupport.CounterValue(env.h.m.rcode[q.rcode]) - before
			if counted[p.name] != n {
				t.Errorf("%s %s: %v responses counted for %d sent", q.name, p.name, counted[p.name], n)
			}
		}
		if !bytes.Equal(slips["fast"], slips["slow"]) {
			t.Errorf("%s: fast-path slip %x, slow-path slip %x", q.name, slips["fast"], slips["slow"])
		}
	}
}
