package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestRRLEndToEnd floods the real binary from one /24 and checks that
// response rate limiting holds it to the limit (plus TC=1 slips) while a
// client in another /24 is answered in full.
func TestRRLEndToEnd(t *testing.T) {
	zonesDir, err := filepath.Abs("../../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "godwit.toml")
	err = os.WriteFile(cfg, []byte(`
[server]
listen = ["127.0.0.1:5353"]
[server.rrl]
responses_per_second = 5
slip = 2
[zones]
dir = "`+zonesDir+`"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s := startGodwit(t, "-config", cfg)
	server, err := net.ResolveUDPAddr("udp", s.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}

	// flood sends n queries for www.example.test from src, one at a time,
	// and counts full answers, TC=1 slips and silences.
	flood := func(src string, n int) (answered, slipped, dropped int) {
		conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, server)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		for i := 0; i < n; i++ {
			q := new(mdns.Msg)
			q.SetQuestion("www.example.test.", mdns.TypeA)
			pkt, _ := q.Pack()
			if _, err := conn.Write(pkt); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			m, err := conn.Read(buf)
			if err != nil {
				dropped++
				continue
			}
			r := new(mdns.Msg)
			if err := r.Unpack(buf[:m]); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			switch {
			case r.Truncated && len(r.Answer) == 0:
				slipped++
			case len(r.Answer) == 1:
				answered++
			default:
				t.Fatalf("unexpected reply %v", r)
			}
		}
		return
	}

	answered, slipped, dropped := flood("127.0.0.1", 40)
	t.Logf("flood from 127.0.0.0/24: %d answered, %d slipped, %d dropped", answered, slipped, dropped)
	if answered > 15 || slipped == 0 || dropped == 0 {
		t.Errorf("flood not limited: %d answered, %d slipped, %d dropped of 40", answered, slipped, dropped)
	}
	// Another /24 has its own allowance.
	answered, _, _ = flood("127.0.1.1", 5)
	if answered != 5 {
		t.Errorf("client in 127.0.1.0/24 got %d of 5 answers", answered)
	}
}
