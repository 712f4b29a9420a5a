package dns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	mdns "github.com/miekg/dns"
)

// TestTCPClientThatNeverReads pipelines large queries (with padding, for
// a reply of about 700 octets each) and never reads a reply: the server
// must stop reading, then close the connection once a write has waited
// tcp_write_timeout (RFC 7766 §6.2.3), well before tcp_idle_timeout.
func TestTCPClientThatNeverReads(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	h := demoHandler(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.TCPIdleTimeout = Duration(time.Minute)
	cfg.TCPWriteTimeout = Duration(writeTimeout)
	cfg.TCPBuffer = 4096
	s := startWith(t, cfg, h)

	pad := &mdns.EDNS0_PADDING{Padding: make([]byte, 2000)}
	m := withEDNS(query("big.example.test.", mdns.TypeA), 1232, false, pad)
	pkt := mustPack(t, m)
	frame := append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
	var batch []byte
	for range 16 {
		batch = append(batch, frame...)
	}

	// A small receive buffer, set before connecting so that the window
	// never grows: the client takes few replies before it stops.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	start := time.Now()
	sent := 0
	var werr error
	for time.Since(start) < 10*time.Second {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(batch)
		sent += n
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			werr = err
			break
		}
	}
	took := time.Since(start)
	if werr == nil {
		t.Fatalf("connection still open after %v and %d octets of queries", took, sent)
	}
	t.Logf("closed after %v, %d octets of queries sent: %v", took, sent, werr)
	if took > 5*time.Second {
		t.Errorf("closed after %v, want about tcp_write_timeout (%v)", took, writeTimeout)
	}
	var g dto.Metric
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.tcpOpen.Write(&g)
		if g.GetGauge().GetValue() == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := g.GetGauge().GetValue(); v != 0 {
		t.Errorf("%v TCP connections still open on the server", v)
	}
}

// TestTCPPipelinedBatch sends pipelined queries in one segment and reads
// every reply, in order.
func TestTCPPipelinedBatch(t *testing.T) {
	h := demoHandler(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	s := startWith(t, cfg, h)
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var msgs []*mdns.Msg
	for i := range 50 {
		name := "www.example.test."
		if i%3 == 1 {
			name = "big.example.test."
		}
		m := query(name, mdns.TypeA)
		m.Id = uint16(i)
		msgs = append(msgs, m)
	}
	writeTCP(t, c, msgs...)
	for i := range msgs {
		r, err := readTCP(c)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Id != uint16(i) || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 || r.Truncated {
			t.Fatalf("reply %d: %v", i, r)
		}
	}
}

// TestTCPFastPathAllocations counts the allocations of the whole process
// (server and this client) while a connection answers batches of pipelined
// queries through the fast path: none per query.
func TestTCPFastPathAllocations(t *testing.T) {
	h := demoHandler(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	s := startWith(t, cfg, h)
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	pkt := mustPack(t, withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs))
	const batch = 32
	var out []byte
	for range batch {
		out = binary.BigEndian.AppendUint16(out, uint16(len(pkt)))
		out = append(out, pkt...)
	}
	in := make([]byte, 64<<10)
	exchange := func() {
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		for got, replies := 0, 0; replies < batch; {
			n, err := c.Read(in[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
			// Count the whole replies read so far.
			replies = 0
			for off := 0; off+2 <= got; {
				l := int(binary.BigEndian.Uint16(in[off:]))
				if off+2+l > got {
					break
				}
				replies++
				off += 2 + l
			}
		}
	}
	exchange() // warm up: the connection's buffers
	c.SetDeadline(time.Now().Add(10 * time.Second))
	allocs := testing.AllocsPerRun(20, exchange)
	t.Logf("%.1f allocations per batch of %d queries", allocs, batch)
	if allocs/batch >= 0.5 {
		t.Errorf("%.1f allocations per batch of %d queries, want none per query", allocs, batch)
	}
}
