package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// binding is what one listen address holds: its UDP sockets (portable
// ones, or the packet engine's) and TCP listener.
type binding struct {
	addr      netip.AddrPort // as bound (the real port when asked for port 0)
	udp       []*net.UDPConn
	engineFDs []int // the engine's sockets (engine_linux.go)
	tcp       *net.TCPListener
}

// close closes the sockets. Engine sockets must have no engine thread
// running on them any more (Server.Shutdown stops those first).
func (b *binding) close() {
	for _, c := range b.udp {
		c.Close()
	}
	for _, fd := range b.engineFDs {
		closeEngineFD(fd)
	}
	b.engineFDs = nil
	if b.tcp != nil {
		b.tcp.Close()
	}
}

// bind binds n UDP sockets (SO_REUSEPORT when n > 1) and one TCP listener on
// ap: engine sockets when engine, portable ones otherwise. With port 0 the
// first UDP socket picks the port and the others and TCP reuse it; should
// TCP find that port taken, the whole binding is retried.
func bind(ctx context.Context, ap netip.AddrPort, n int, engine bool) (*binding, error) {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		var b *binding
		if engine {
			b, err = bindEngine(ctx, ap, n)
		} else {
			b, err = bindOnce(ctx, ap, n)
		}
		if err == nil {
			return b, nil
		}
		if ap.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, err
}

func bindOnce(ctx context.Context, ap netip.AddrPort, n int) (*binding, error) {
	udpNet, tcpNet := "udp4", "tcp4"
	if ap.Addr().Is6() {
		// v6-only, so that "0.0.0.0:53" and "[::]:53" can both be listed.
		udpNet, tcpNet = "udp6", "tcp6"
	}
	var lc net.ListenConfig
	wildcard := ap.Addr().IsUnspecified() && pktinfoSupported
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if n > 1 {
			if err := setReusePort(network, address, c); err != nil {
				return err
			}
		}
		if wildcard {
			return setPktinfo(network, address, c)
		}
		return nil
	}
	b := &binding{addr: ap}
	pc, err := lc.ListenPacket(ctx, udpNet, ap.String())
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", ap, err)
	}
	b.addUDP(pc.(*net.UDPConn))
	b.addr = netip.AddrPortFrom(ap.Addr(), pc.LocalAddr().(*net.UDPAddr).AddrPort().Port())

	l, err := (&net.ListenConfig{}).Listen(ctx, tcpNet, b.addr.String())
	if err != nil {
		b.close()
		return nil, fmt.Errorf("listen tcp %s: %w", b.addr, err)
	}
	b.tcp = l.(*net.TCPListener)
	for i := 1; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, udpNet, b.addr.String())
		if err != nil {
			b.close()
			return nil, fmt.Errorf("listen udp %s (socket %d of %d): %w", b.addr, i+1, n, err)
		}
		b.addUDP(pc.(*net.UDPConn))
	}
	return b, nil
}

// bindEngine is bindOnce for engine sockets.
func bindEngine(ctx context.Context, ap netip.AddrPort, n int) (*binding, error) {
	b := &binding{addr: ap}
	fd, port, err := listenEngineUDP(ap, n > 1)
	if err != nil {
		return nil, err
	}
	b.engineFDs = append(b.engineFDs, fd)
	b.addr = netip.AddrPortFrom(ap.Addr(), port)
	tcpNet := "tcp4"
	if ap.Addr().Is6() {
		tcpNet = "tcp6"
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, tcpNet, b.addr.String())
	if err != nil {
		b.close()
		return nil, fmt.Errorf("listen tcp %s: %w", b.addr, err)
	}
	b.tcp = l.(*net.TCPListener)
	for i := 1; i < n; i++ {
		fd, _, err := listenEngineUDP(b.addr, true)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("socket %d of %d: %w", i+1, n, err)
		}
		b.engineFDs = append(b.engineFDs, fd)
	}
	return b, nil
}

// udpReadBuffer is the receive buffer asked for each UDP socket. The
// kernel default (~200 KiB) overflowed under closed-loop dnsperf load (a
// dozen lost queries a run); the kernel caps the request at
// net.core.rmem_max, which is fine: a smaller buffer only loses more
// under bursts.
const udpReadBuffer = 4 << 20

func (b *binding) addUDP(c *net.UDPConn) {
	_ = c.SetReadBuffer(udpReadBuffer) // best effort, see udpReadBuffer
	b.udp = append(b.udp, c)
}

// connLimiter caps the open connections of a TCP listener. When the cap is
// reached, a new connection closes the least recently active one (RFC 7766
// §6.2.3 lets a server close idle connections to free resources): queries
// are answered one at a time without I/O, so that one is idle in practice,
// and a flood of connections that stay silent cannot lock clients out.
type connLimiter struct {
	net.Listener
	max     int
	open    prometheus.Gauge
	evicted prometheus.Counter

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnLimiter(l net.Listener, max int, open prometheus.Gauge, evicted prometheus.Counter) *connLimiter {
	return &connLimiter{Listener: l, max: max, open: open, evicted: evicted, conns: make(map[*trackedConn]struct{})}
}

// Accept returns the next connection, closing the least recently active
// one when the cap is reached.
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	tc.touch()
	var victim *trackedConn
	l.mu.Lock()
	if len(l.conns) >= l.max {
		for o := range l.conns {
			if victim == nil || o.last.Load() < victim.last.Load() {
				victim = o
			}
		}
		delete(l.conns, victim)
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	l.open.Inc()
	if victim != nil {
		l.evicted.Inc()
		victim.Close()
	}
	return tc, nil
}

// trackedConn records when it last read or wrote and leaves its limiter
// when closed.
type trackedConn struct {
	net.Conn
	l    *connLimiter
	last atomic.Int64 // unix nanos of the last read or write
	once sync.Once
}

func (c *trackedConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.touch()
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.open.Dec()
	})
	return err
}
