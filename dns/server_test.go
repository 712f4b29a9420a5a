package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// hasIPv6Loopback reports whether [::1] can be bound here.
func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startServer starts a server on loopback port 0 and stops it at cleanup.
func startServer(t *testing.T, mod func(*Config)) (*Server, *testEnv) {
	t.Helper()
	env := newTestEnv(mod)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 2
	if mod != nil {
		mod(&cfg)
	}
	return startWith(t, cfg, env.h), env
}

// startWith starts a server for h and stops it at cleanup.
func startWith(t *testing.T, cfg Config, h *Handler) *Server {
	t.Helper()
	s := NewServer(cfg, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func exchangeNet(t *testing.T, network string, addr netip.AddrPort, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("%s %s: %v", network, addr, err)
	}
	return r
}

func TestServerUDPAndTCP(t *testing.T) {
	listen := []string{"127.0.0.1:0"}
	if hasIPv6Loopback() {
		listen = append(listen, "[::1]:0")
	} else {
		t.Log("no IPv6 loopback: testing IPv4 only")
	}
	s, _ := startServer(t, func(c *Config) { c.Listen = listen })
	addrs := s.Addrs()
	if len(addrs) != len(listen) {
		t.Fatalf("Addrs = %v, want %d", addrs, len(listen))
	}
	for _, a := range addrs {
		if a.Port() == 0 || !a.Addr().IsLoopback() {
			t.Fatalf("bad address %v", a)
		}
		t.Run(a.String(), func(t *testing.T) {
			r := exchangeNet(t, "udp", a, query("www.example.test.", mdns.TypeA))
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
				t.Errorf("udp: %v", r)
			}
			// Too big for 512 octets over UDP: TC; the same over TCP: whole.
			r = exchangeNet(t, "udp", a, query("big.example.test.", mdns.TypeTXT))
			if !r.Truncated || len(r.Answer) != 0 {
				t.Errorf("udp big: tc %v, %d answers", r.Truncated, len(r.Answer))
			}
			r = exchangeNet(t, "tcp", a, query("big.example.test.", mdns.TypeTXT))
			if r.Truncated || len(r.Answer) != 6 {
				t.Errorf("tcp big: tc %v, %d answers", r.Truncated, len(r.Answer))
			}
			r = exchangeNet(t, "tcp", a, query("example.test.", mdns.TypeAXFR))
			if r.Rcode != mdns.RcodeRefused {
				t.Errorf("tcp AXFR: %s", mdns.RcodeToString[r.Rcode])
			}
		})
	}
}

func TestServerStartTwice(t *testing.T) {
	s, _ := startServer(t, nil)
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestServerShutdownClosesListeners(t *testing.T) {
	env := newTestEnv(nil)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	s := NewServer(cfg, env.h, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := s.Addrs()[0]
	// An idle TCP connection must not hold the shutdown up.
	c, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if c2, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
		c2.Close()
		t.Error("TCP still accepting after Shutdown")
	}
}

func TestServerBadListen(t *testing.T) {
	env := newTestEnv(nil)
	// Bind a port, then ask the server for the same one without SO_REUSEPORT.
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0", l.LocalAddr().String()}
	cfg.UDPSockets = 1
	s := NewServer(cfg, env.h, nil)
	if err := s.Start(context.Background()); err == nil {
		s.Shutdown(context.Background())
		t.Fatal("Start succeeded on a port in use")
	}
	if len(s.Addrs()) != 0 {
		t.Errorf("addresses left bound: %v", s.Addrs())
	}
}

// writeTCP sends length-prefixed messages in one write.
func writeTCP(t *testing.T, c net.Conn, msgs ...*mdns.Msg) {
	t.Helper()
	var buf []byte
	for _, m := range msgs {
		b := mustPack(t, m)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(b)))
		buf = append(buf, b...)
	}
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
}

func readTCP(c net.Conn) (*mdns.Msg, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	m := new(mdns.Msg)
	return m, m.Unpack(b)
}

func TestServerTCPPipelining(t *testing.T) {
	s, _ := startServer(t, nil)
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 20
	var msgs []*mdns.Msg
	for i := range n {
		q := query("www.example.test.", mdns.TypeA)
		if i%2 == 1 {
			q = query("big.example.test.", mdns.TypeTXT)
		}
		q.Id = uint16(1000 + i)
		msgs = append(msgs, q)
	}
	writeTCP(t, c, msgs...)
	seen := map[uint16]bool{}
	for range n {
		r, err := readTCP(c)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(seen), err)
		}
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 || seen[r.Id] {
			t.Fatalf("reply %d: %v", r.Id, r)
		}
		seen[r.Id] = true
	}
	for i := range n {
		if !seen[uint16(1000+i)] {
			t.Errorf("no reply to query %d", 1000+i)
		}
	}
}

func TestServerTCPIdleTimeout(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.TCPIdleTimeout = Duration(200 * time.Millisecond) })
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeTCP(t, c, query("www.example.test.", mdns.TypeA))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := readTCP(c); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := readTCP(c); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestServerTCPMaxConnsEvictsLeastRecent(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.TCPMaxConns = 2 })
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		writeTCP(t, c, query("www.example.test.", mdns.TypeA))
		if _, err := readTCP(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := dial()
	b := dial()
	writeTCP(t, b, query("www.example.test.", mdns.TypeA)) // b is the more recent
	if _, err := readTCP(b); err != nil {
		t.Fatal(err)
	}
	dial() // third: evicts a
	if _, err := readTCP(a); err == nil {
		t.Error("oldest connection still open")
	}
	writeTCP(t, b, query("www.example.test.", mdns.TypeA))
	if _, err := readTCP(b); err != nil {
		t.Errorf("recent connection: %v", err)
	}
	if got := testsupport.CounterValue(s.tcpEvicted); got != 1 {
		t.Errorf("evictions counted = %v, want 1", got)
	}
}

// TestServerLibraryReplies covers what the library answers before the
// handler runs: rejected and unparseable messages get FORMERR with clean
// flags, responses get nothing.
func TestServerLibraryReplies(t *testing.T) {
	s, env := startServer(t, func(c *Config) { c.UDPSockets = 1 })
	c, err := net.Dial("udp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	send := func(b []byte) {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() *mdns.Msg {
		b := make([]byte, 4096)
		n, err := c.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		m := new(mdns.Msg)
		if err := m.Unpack(b[:n]); err != nil {
			t.Fatal(err)
		}
		return m
	}
	dirty := func(id uint16, qd uint16, body []byte) []byte {
		h := make([]byte, 12)
		binary.BigEndian.PutUint16(h, id)
		binary.BigEndian.PutUint16(h[2:], 0x0100|0x0200|0x0400|0x0080|0x0020|0x0010|0x0040) // RD TC AA RA AD CD Z
		binary.BigEndian.PutUint16(h[4:], qd)
		return append(h, body...)
	}
	q := mustPack(t, query("www.example.test.", mdns.TypeA))[12:]

	send(dirty(1, 0, nil))                                    // qdcount 0: rejected
	send(dirty(2, 1, q[:len(q)-3]))                           // cut short: unparseable
	resp := dirty(3, 1, q)                                    // a response: dropped
	resp[2] |= 0x80                                           //
	send(resp)                                                //
	send(mustPack(t, query("www.example.test.", mdns.TypeA))) // id 0xbeef

	// Each datagram is answered on a goroutine of its own: any order.
	got := map[uint16]*mdns.Msg{}
	for len(got) < 3 {
		r := recv()
		got[r.Id] = r
	}
	if r := got[0xbeef]; r == nil || r.Rcode != mdns.RcodeSuccess {
		t.Errorf("normal query: %v", r)
	}
	for _, id := range []uint16{1, 2} {
		r := got[id]
		if r == nil {
			t.Fatalf("no reply to id %d; got %v", id, got)
		}
		if r.Rcode != mdns.RcodeFormatError || flags(r) != "qr rd" {
			t.Errorf("id %d: %s flags %q, want FORMERR \"qr rd\"", r.Id, mdns.RcodeToString[r.Rcode], flags(r))
		}
	}
	if got[3] != nil {
		t.Errorf("a response was answered: %v", got[3])
	}
	// The response's datagram may still be on its way through the library:
	// wait for it to be counted.
	for deadline := time.Now().Add(5 * time.Second); testsupport.CounterValue(env.h.m.droppedQR) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("responses dropped = %v, want 1", testsupport.CounterValue(env.h.m.droppedQR))
		}
		time.Sleep(time.Millisecond)
	}
	if got := testsupport.CounterValue(env.h.m.rcode[mdns.RcodeFormatError]); got != 2 {
		t.Errorf("FORMERR counted = %v, want 2", got)
	}
}

func TestServerMaxInflightDrops(t *testing.T) {
	env := newTestEnv(nil)
	cfg := DefaultConfig()
	cfg.MaxInflight = 1
	s := NewServer(cfg, env.h, nil)
	w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}}
	req := query("www.example.test.", mdns.TypeA)

	udpHandler{s}.ServeDNS(w, req)
	if len(w.out) != 1 {
		t.Fatalf("under the bound: %d replies", len(w.out))
	}
	s.inflight.Add(1) // one query in flight
	udpHandler{s}.ServeDNS(w, req)
	if len(w.out) != 1 {
		t.Errorf("over the bound: answered")
	}
	if got := testsupport.CounterValue(env.h.m.droppedBusy); got != 1 {
		t.Errorf("drops counted = %v, want 1", got)
	}
	if got := s.inflight.Load(); got != 1 {
		t.Errorf("in flight = %d after the drop, want 1", got)
	}
}

func TestMetricsRegister(t *testing.T) {
	s, env := startServer(t, nil)
	reg := prometheus.NewRegistry()
	if err := env.h.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	exchangeNet(t, "udp", s.Addrs()[0], query("www.example.test.", mdns.TypeA))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"godwit_dns_queries_total", "godwit_dns_responses_total", "godwit_dns_tcp_connections"} {
		if !names[n] {
			t.Errorf("metric %s missing; have %v", n, names)
		}
	}
}
