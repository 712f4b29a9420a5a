package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Server runs the UDP and TCP listeners of every listen address and passes
// queries to a Handler. With io = "auto" on Linux, UDP sockets are served by
// the packet engine (engine.go, engine_linux.go): a goroutine on a thread of its own per
// socket that receives and sends batches with recvmmsg/sendmmsg, within a
// budget of GOMAXPROCS-1 threads per process. Other sockets get a
// long-lived goroutine that reads, answers (fast path first) and writes one
// datagram at a time (serveUDP); both reply to a wildcard address's
// queries from the address each reached (IP_PKTINFO). Only on systems
// without that (not Linux), a wildcard address is served by the library's
// server: a goroutine per datagram (bounded by max_inflight). TCP uses the
// library's server too: a goroutine per connection (bounded by
// tcp_max_conns), whose pipelined queries are answered in order.
type Server struct {
	cfg Config
	h   *Handler
	log *slog.Logger

	tcpOpen    prometheus.Gauge
	tcpEvicted prometheus.Counter
	inflight   atomic.Int64

	mu       sync.Mutex
	started  bool
	bindings []*binding
	servers  []*mdns.Server
	engines  []*udpEngine
	limiters []*connLimiter // the TCP listeners'
	reserved int            // engine threads reserved (engine.go)
	wg       sync.WaitGroup
}

// NewServer returns a server for cfg's listen addresses; Start binds them.
func NewServer(cfg Config, h *Handler, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg: cfg.WithDefaults(),
		h:   h,
		log: logger,
		tcpOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "godwit_dns_tcp_connections",
			Help: "Open DNS TCP connections.",
		}),
		tcpEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_dns_tcp_evicted_total",
			Help: "TCP connections closed to make room under tcp_max_conns.",
		}),
	}
}

// RegisterMetrics registers the server's metrics on reg (the handler's
// are registered by Handler.RegisterMetrics).
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.tcpOpen, s.tcpEvicted} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Start binds UDP and TCP on every listen address and returns once every
// listener is bound and serving, or with the first error (nothing is left
// bound then). ctx bounds the start only; Shutdown stops the server.
func (s *Server) Start(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	addrs, err := s.cfg.listenAddrs()
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("dns: server already started")
	}
	s.started = true
	s.mu.Unlock()
	fail := func(err error) error {
		s.Shutdown(context.Background()) //nolint:errcheck // reporting err
		return fmt.Errorf("dns: %w", err)
	}

	n := s.cfg.UDPSockets
	if !reusePortSupported {
		n = 1
	}
	engineN := make([]int, len(addrs))
	if s.cfg.IO == IOAuto {
		reserved := reserveEngineThreads(len(addrs) * n)
		s.mu.Lock()
		s.reserved = reserved
		s.mu.Unlock()
		engineN = spreadEngine(reserved, len(addrs), n)
	}
	var bs []*binding
	for i, ap := range addrs {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		var b *binding
		if engineN[i] > 0 {
			b, err = bind(ctx, ap, engineN[i], true)
		} else {
			b, err = bind(ctx, ap, n, false)
		}
		if err != nil {
			for _, b := range bs {
				b.close()
			}
			return fail(err)
		}
		bs = append(bs, b)
	}

	var servers []*mdns.Server
	invalid := func(m []byte, _ error) {
		if len(m) < 12 {
			s.h.m.droppedShort.Inc()
		} else {
			s.h.m.droppedInvalid.Inc()
		}
	}
	clean := func(w mdns.Writer) mdns.Writer { return cleanWriter{w, s.h.m} }
	var engines []*udpEngine
	var limiters []*connLimiter
	for _, b := range bs {
		for _, fd := range b.engineFDs {
			e := newUDPEngine(fd, b.addr.Addr().IsUnspecified(), s.h, s.log)
			engines = append(engines, e)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				e.run()
			}()
		}
		for _, c := range b.udp {
			if wildcard := b.addr.Addr().IsUnspecified(); !wildcard || pktinfoSupported {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.serveUDP(c, wildcard)
				}()
				continue
			}
			servers = append(servers, &mdns.Server{
				PacketConn:     c,
				Handler:        udpHandler{s},
				UDPSize:        udpReadSize,
				MsgAcceptFunc:  s.h.accept,
				MsgInvalidFunc: invalid,
				DecorateWriter: clean,
			})
		}
		l := newConnLimiter(b.tcp, s.cfg.TCPMaxConns, s.tcpOpen, s.tcpEvicted)
		limiters = append(limiters, l)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveTCP(l)
		}()
	}

	// Serve, and wait until every server says it is running: a server
	// shut down before that would serve on regardless.
	errc := make(chan error, len(servers))
	startedc := make(chan struct{}, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { startedc <- struct{}{} }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errc <- err
				s.log.Error("dns: listener stopped", "err", err)
			}
		}()
	}
	s.mu.Lock()
	s.bindings, s.servers, s.engines, s.limiters = bs, servers, engines, limiters
	s.mu.Unlock()
	for range servers {
		select {
		case <-startedc:
		case err := <-errc:
			return fail(err)
		}
	}
	for _, b := range bs {
		s.log.Info("dns: listening", "addr", b.addr, "udp_sockets", len(b.udp)+len(b.engineFDs),
			"udp_io", map[bool]string{true: "engine", false: "portable"}[len(b.engineFDs) > 0])
	}
	return nil
}

// Addrs returns the bound listen addresses, in the order of the config
// (with the real port where the config said 0). UDP and TCP share each.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.AddrPort, len(s.bindings))
	for i, b := range s.bindings {
		out[i] = b.addr
	}
	return out
}

// Shutdown stops every listener and waits, until ctx ends, for the queries
// being answered.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers, bindings, engines, limiters, reserved := s.servers, s.bindings, s.engines, s.limiters, s.reserved
	s.servers, s.bindings, s.engines, s.limiters, s.reserved, s.started = nil, nil, nil, nil, 0, false
	s.mu.Unlock()
	for _, e := range engines {
		e.stop() // before its socket is closed: the fd must not be reused under it
	}
	releaseEngineThreads(reserved)
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range bindings {
		b.close() // idempotent; covers a server that never started
	}
	for _, l := range limiters {
		l.closeAll() // after the listener: no new connection joins
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// udpReadSize is the largest UDP query read whole; a longer one is cut
// short and answered FORMERR.
const udpReadSize = 4096

// udpHandler bounds the UDP queries being answered at once: above
// max_inflight a datagram is dropped at once instead of queueing work.
type udpHandler struct{ s *Server }

func (u udpHandler) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if u.s.inflight.Add(1) > int64(u.s.cfg.MaxInflight) {
		u.s.inflight.Add(-1)
		u.s.h.m.droppedBusy.Inc()
		return
	}
	u.s.h.ServeDNS(w, r)
	u.s.inflight.Add(-1)
}

// cleanWriter sees only the replies the library writes itself (the handler
// writes its own packed bytes past it): FORMERR for a message it could not
// parse or that the accept function rejected. The library copies the
// request's flags into those; clear all but QR, opcode and RD.
type cleanWriter struct {
	mdns.Writer
	m *handlerMetrics
}

func (c cleanWriter) Write(b []byte) (int, error) {
	if len(b) >= 12 {
		b[2] &^= 0x06 // AA, TC
		b[3] &= 0x0F  // RA, Z, AD, CD
		c.m.response(int(b[3]))
	}
	return c.Writer.Write(b)
}
