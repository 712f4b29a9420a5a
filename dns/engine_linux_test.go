//go:build linux

package dns

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// withEngineProcs makes room for one engine thread (GOMAXPROCS >= 2) for
// the test's duration.
func withEngineProcs(t *testing.T) {
	t.Helper()
	if p := runtime.GOMAXPROCS(0); p < 2 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(p) })
	}
}

// startEngine starts h on listen with the engine and checks it is used.
func startEngine(t *testing.T, h *Handler, listen ...string) *Server {
	t.Helper()
	withEngineProcs(t)
	cfg := DefaultConfig()
	cfg.Listen = listen
	cfg.UDPSockets = 1
	s := startWith(t, cfg, h)
	s.mu.Lock()
	n := len(s.engines)
	s.mu.Unlock()
	if n == 0 {
		t.Fatal("the packet engine is not serving (another server holds the budget?)")
	}
	return s
}

func TestEngineBudget(t *testing.T) {
	withEngineProcs(t)
	p := runtime.GOMAXPROCS(0)
	got := reserveEngineThreads(100)
	defer releaseEngineThreads(got)
	if got != p-1 {
		t.Errorf("reserved %d engine threads with GOMAXPROCS=%d, want %d", got, p, p-1)
	}
	if more := reserveEngineThreads(1); more != 0 {
		releaseEngineThreads(more)
		t.Errorf("reserved %d more past the budget", more)
	}
	if got := spreadEngine(3, 2, 4); got[0] != 2 || got[1] != 1 {
		t.Errorf("spreadEngine(3, 2, 4) = %v, want [2 1]", got)
	}
}

func TestEnginePortableSwitch(t *testing.T) {
	withEngineProcs(t)
	env := newTestEnv(nil)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.IO = IOPortable
	s := startWith(t, cfg, env.h)
	if len(s.engines) != 0 {
		t.Errorf("io = portable started %d engine threads", len(s.engines))
	}
	if r := exchangeNet(t, "udp", s.Addrs()[0], query("www.example.test.", mdns.TypeA)); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("portable reply %v", r)
	}
}

// TestEngineAnswers checks the engine's replies on the wire: fast path,
// slow path (truncation) and ECS, with the id and question kept.
func TestEngineAnswers(t *testing.T) {
	h := demoHandler(t)
	s := startEngine(t, h, "127.0.0.1:0")
	addr := s.Addrs()[0]
	for i, m := range []*mdns.Msg{
		query("WWW.example.test.", mdns.TypeA),
		withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecsOpt(netip.MustParsePrefix("81.2.69.0/24"))),
		query("big.example.test.", mdns.TypeA), // slow path: truncated
	} {
		m.Id = uint16(100 + i)
		r := exchangeNet(t, "udp", addr, m)
		if r.Id != m.Id || r.Question[0] != m.Question[0] || r.Rcode != mdns.RcodeSuccess {
			t.Errorf("query %d: reply %v", i, r)
		}
		if i == 2 && !r.Truncated {
			t.Errorf("big answer not truncated: %v", r)
		}
	}
}

// loadUDP sends closed-loop queries to addr from clients sockets, each with
// window queries outstanding, until stop closes; it returns the replies.
func loadUDP(t *testing.T, addr netip.AddrPort, clients, window int, stop <-chan struct{}) *atomic.Int64 {
	t.Helper()
	pkt := mustPack(t, query("www.example.test.", mdns.TypeA))
	var got atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 512)
			for range window {
				c.Write(pkt) //nolint:errcheck // a lost query is resent below
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(buf); err == nil {
					got.Add(1)
				}
				c.Write(pkt) //nolint:errcheck // closed loop: one out per one in (or timeout)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return &got
}

// TestEngineDoesNotStarveTheRuntime runs closed-loop UDP load against the
// engine and checks that the rest of the process keeps running: a ticker
// keeps its interval, an HTTP server in the process answers, a forced GC
// completes. The bounds are loose (the machine is shared): starvation
// shows as seconds, or as a test that never ends.
func TestEngineDoesNotStarveTheRuntime(t *testing.T) {
	h := demoHandler(t)
	s := startEngine(t, h, "127.0.0.1:0")
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(web.Close)

	stop := make(chan struct{})
	got := loadUDP(t, s.Addrs()[0], 4, 16, stop)
	defer close(stop)

	// Wait until the load flows.
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d replies under load", got.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	const tick = 10 * time.Millisecond
	tk := time.NewTicker(tick)
	defer tk.Stop()
	var worstTick, worstHTTP, worstGC time.Duration
	last := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 50 {
		<-tk.C
		now := time.Now()
		worstTick = max(worstTick, now.Sub(last))
		last = now
		if i%10 == 0 {
			start := time.Now()
			resp, err := client.Get(web.URL)
			if err != nil {
				t.Fatalf("HTTP under load: %v", err)
			}
			resp.Body.Close()
			worstHTTP = max(worstHTTP, time.Since(start))
			start = time.Now()
			runtime.GC()
			worstGC = max(worstGC, time.Since(start))
			last = time.Now()
		}
	}
	before := got.Load()
	for wait := time.Now().Add(2 * time.Second); got.Load() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the load stopped during the test")
		}
	}
	t.Logf("under load (%d replies): worst tick %v (interval %v), HTTP %v, GC %v", got.Load(), worstTick, tick, worstHTTP, worstGC)
	if worstTick > 500*time.Millisecond {
		t.Errorf("a %v ticker waited %v under load", tick, worstTick)
	}
	if worstHTTP > time.Second {
		t.Errorf("HTTP answered in %v under load", worstHTTP)
	}
	if worstGC > time.Second {
		t.Errorf("runtime.GC took %v under load", worstGC)
	}
}

// TestEngineIdle checks that an idle engine thread, asleep in recvmmsg,
// lets a forced GC through and stops promptly on Shutdown.
func TestEngineIdle(t *testing.T) {
	withEngineProcs(t)
	env := newTestEnv(nil)
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.UDPSockets = 1
	s := NewServer(cfg, env.h, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.engines) == 0 {
		s.Shutdown(context.Background())
		t.Fatal("the packet engine is not serving")
	}
	exchangeNet(t, "udp", s.Addrs()[0], query("www.example.test.", mdns.TypeA))
	time.Sleep(3 * engineRecvTimeout) // asleep in recvmmsg, not just woken
	start := time.Now()
	runtime.GC()
	if d := time.Since(start); d > time.Second {
		t.Errorf("runtime.GC took %v with an idle engine", d)
	}
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown of an idle engine took %v", d)
	}
	if n := reserveEngineThreads(1); n != 1 {
		t.Errorf("the engine thread was not returned to the budget")
	} else {
		releaseEngineThreads(n)
	}
}

// fillBatch puts pkts into e's receive buffers as recvmmsg would, from
// 127.0.0.1:5000.
func fillBatch(e *udpEngine, pkts [][]byte) {
	for i, p := range pkts {
		n := copy(e.bufIn[i][:], p)
		e.in[i].Len = uint32(n)
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&e.names[i]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: 0x8813, Addr: [4]byte{127, 0, 0, 1}}
		e.in[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
}

// TestEngineBatchAllocations pins the engine's budget: answering a batch
// through the fast path allocates nothing.
func TestEngineBatchAllocations(t *testing.T) {
	h := demoHandler(t)
	e := newUDPEngine(-1, false, h, nil)
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	var pkts [][]byte
	for range engineBatch / 4 {
		pkts = append(pkts,
			mustPack(t, withEDNS(query("www.example.test.", mdns.TypeA), 1232, false)),
			mustPack(t, withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs)),
			mustPack(t, query("nope.example.test.", mdns.TypeA)),
			mustPack(t, query("rr.gslb.example.test.", mdns.TypeAAAA)))
	}
	fillBatch(e, pkts)
	allocs := testing.AllocsPerRun(100, func() {
		if m := e.answer(len(pkts)); m != len(pkts) {
			t.Fatalf("%d replies to %d queries", m, len(pkts))
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per batch of %d, want 0", allocs, len(pkts))
	}
}

func BenchmarkEngineBatch(b *testing.B) {
	h := demoHandler(b)
	e := newUDPEngine(-1, false, h, nil)
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	pkt, err := withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs).Pack()
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([][]byte, engineBatch)
	for i := range pkts {
		pkts[i] = pkt
	}
	fillBatch(e, pkts)
	b.ReportAllocs()
	for b.Loop() {
		e.answer(engineBatch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*engineBatch), "ns/query")
}

// FuzzEngineBatch puts raw packets into an engine batch, with others
// around them, and checks each reply is the one Handle gives (the engine
// adds nothing of its own to an answer) and the batch never panics.
func FuzzEngineBatch(f *testing.F) {
	ecs := ecsOpt(netip.MustParsePrefix("81.2.69.142/32"))
	for _, m := range []*mdns.Msg{
		query("www.example.test.", mdns.TypeA),
		withEDNS(query("geo.gslb.example.test.", mdns.TypeA), 1232, false, ecs),
		query("big.example.test.", mdns.TypeA),
	} {
		f.Add(mustPackF(f, m))
	}
	for _, tc := range contractCases() {
		f.Add(tc.pkt)
	}
	h := demoHandler(f)
	e := newUDPEngine(-1, false, h, nil)
	good := mustPackF(f, query("www.example.test.", mdns.TypeA))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) > udpReadSize {
			return
		}
		fillBatch(e, [][]byte{good, pkt, good})
		m := e.answer(3)
		want := h.Handle(make([]byte, replyBufSize), pkt, netip.MustParseAddr("127.0.0.1"), false)
		wantReplies := 2
		if want != nil {
			wantReplies = 3
		}
		if m != wantReplies {
			t.Fatalf("%d replies, want %d", m, wantReplies)
		}
		if want != nil {
			got := unsafe.Slice(e.iovOut[1].Base, e.iovOut[1].Len)
			if string(got) != string(want) {
				t.Fatalf("engine reply %x, Handle's %x", got, want)
			}
		}
	})
}

// FuzzReplyControl feeds arbitrary control messages to the packet-info
// parser: it never panics and writes at most one message that fits.
func FuzzReplyControl(f *testing.F) {
	var dst [64]byte
	n := putPktinfo4(&dst, [4]byte{127, 0, 0, 2})
	f.Add(append([]byte(nil), dst[:n]...))
	n = putPktinfo6(&dst, [16]byte{15: 1}, 1)
	f.Add(append([]byte(nil), dst[:n]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ctrl []byte) {
		var out [64]byte
		if n := replyControl(ctrl, &out); n < 0 || n > len(out) {
			t.Fatalf("control message of %d octets", n)
		}
	})
}
