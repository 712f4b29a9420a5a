// Package server is Godwit's serving runtime: it builds generations from
// the config and the files it names, publishes them with one atomic store,
// reloads them when files change, and wires the long-lived services
// together (DNS listeners, health checks, the BGP speaker, the status
// server, the query log).
//
// A query follows one trail: dns.Handler asks the Server (a dns.Resolver)
// for the Generation serving now; the Generation answers from its zone set
// and, for a GSLB service name, runs zones.Select over its GeoIP databases
// and the live route table and health view.
//
// It does not parse DNS messages, load zone files, rank datacenters or
// probe targets: those are the dns, zones, geo, routes and health packages.
// Flags and subcommands are cmd/godwit's.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// Server is a serving godwit: the generation serving now behind one atomic
// pointer, the live inputs that change on their own (health view, BGP
// table), and the long-lived services.
type Server struct {
	log     *slog.Logger
	reg     *prometheus.Registry
	started time.Time
	version string

	gen     atomic.Pointer[Generation]
	routes  *routes.Routes  // the static table of the generation with the BGP table
	bgp     *routes.Speaker // nil without [routes.bgp]
	health  *health.Checker
	cluster *clusterLink  // nil without [cluster]
	seq     atomic.Uint64 // query counter for round-robin

	handler *dns.Handler
	dns     *dns.Server
	status  *status.Server
	files   *fileLog
	mon     *monitor
	reload  *reloader

	// largeSeen is zones.LargeLoads() at the last publication (publish
	// runs at start and then under the reloader's lock only).
	largeSeen uint64
}

// Options are what Start needs besides the config.
type Options struct {
	Log     *slog.Logger // nil: discard
	Version string       // shown on the status page
}

// Answers returns the generation serving now (dns.Resolver).
func (s *Server) Answers() dns.Answers {
	if g := s.gen.Load(); g != nil {
		return g
	}
	return nil
}

// Generation returns the generation serving now.
func (s *Server) Generation() *Generation { return s.gen.Load() }

// DNSAddrs returns the addresses the DNS listeners are bound to.
func (s *Server) DNSAddrs() []netip.AddrPort { return s.dns.Addrs() }

// StatusAddr returns the status server's address; nil without one.
func (s *Server) StatusAddr() net.Addr {
	if s.status == nil {
		return nil
	}
	return s.status.Addr()
}

// Start loads everything cfg names and starts serving. Any load error
// stops it: at start there is no last good version to fall back on.
func Start(ctx context.Context, cfg *Config, opt Options) (*Server, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g, err := Build(cfg)
	if err != nil {
		g.Close()
		return nil, err
	}
	s := &Server{
		log:     log,
		reg:     prometheus.NewRegistry(),
		started: time.Now(),
		version: opt.Version,
		routes:  routes.New(),
		files:   newFileLog(),
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.mon = newMonitor(s)
	s.reg.MustRegister(append(s.mon.stats.collectors(), newStateCollector(s))...)
	if s.mon.qlog, err = openQueryLog(cfg.Log, s.reg, log.With("subsystem", "querylog")); err != nil {
		g.Close()
		return nil, err
	}
	for _, w := range Warnings(g) {
		log.Warn(w)
	}
	s.health = health.New(log.With("subsystem", "health"), s.reg, nil)
	s.health.RestrictOverrides() // overrides only for what the config knows
	s.health.SetLimits(cfg.Health.Limits())
	if err := s.startCluster(ctx, cfg); err != nil {
		g.Close()
		return nil, err
	}
	s.publish(g)
	s.files.loaded(g)
	if err := s.health.Update(cfg.Check, healthTargets(g.Services), cfg.Health.StateFile); err != nil {
		s.Shutdown()
		return nil, err
	}
	s.health.Start(ctx)
	// The first probe round decides before service names are answered, so
	// a restart neither serves dead addresses nor black-holes live ones.
	waitCtx, cancel := context.WithTimeout(ctx, maxCheckTimeout(cfg)+time.Second)
	if err := s.health.WaitFirstRound(waitCtx); err != nil {
		log.Warn("first health round incomplete; unknown probes count as up", "err", err)
	}
	cancel()

	if cfg.Routes.BGP != nil {
		var sp *routes.Speaker
		sp, err := routes.NewSpeaker(*cfg.Routes.BGP, log.With("subsystem", "bgp"), func() { s.routes.SetBGP(sp.Table()) })
		if err != nil {
			s.Shutdown()
			return nil, err
		}
		if err := sp.Start(ctx); err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("bgp: %w", err)
		}
		s.bgp = sp
	}

	h := dns.NewHandler(cfg.Server, s, log.With("subsystem", "dns"))
	h.UseECS = cfg.Geo.UseECS
	rrl, err := dns.NewRRL(cfg.Server.RRL)
	if err != nil {
		s.Shutdown()
		return nil, err
	}
	h.RRL = rrl
	s.handler = h
	s.dns = dns.NewServer(cfg.Server, h, log.With("subsystem", "dns"))
	if err := errors.Join(h.RegisterMetrics(s.reg), s.dns.RegisterMetrics(s.reg), rrl.RegisterMetrics(s.reg)); err != nil {
		s.Shutdown()
		return nil, err
	}
	if err := s.dns.Start(ctx); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("%w (server.listen; -listen overrides it)", err)
	}
	if cfg.Status.Listen != "" {
		s.status = status.New(cfg.Status, &backend{s}, s.reg, log.With("subsystem", "status"))
		if err := s.status.Start(ctx); err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("%w (status.listen; -status-listen overrides it)", err)
		}
		s.status.SetReady(true)
	}
	if err := s.startReload(ctx, cfg); err != nil {
		s.Shutdown()
		return nil, err
	}
	return s, nil
}

// publish makes g the generation serving: its answer counters first, then
// one atomic store, then what follows from it (the static routes layer,
// forgetting the counters of services g no longer has).
func (s *Server) publish(g *Generation) *Generation {
	g.srv = s
	g.stats = s.mon.stats.build(g.Services)
	prev := s.gen.Swap(g)
	if prev == nil || g.Routes != prev.Routes {
		s.routes.SetStatic(g.Routes)
	}
	if prev != nil {
		s.mon.stats.forget(prev.stats, g.stats)
	}
	if n := zones.LargeLoads(); n != s.largeSeen {
		// g has a large zone: what building it freed (the parse, the
		// Set's indexes) and prev, which may hold the zone g replaced,
		// go back to the OS once the queries that loaded prev are done
		// with it, not minutes later as the runtime's scavenger would.
		s.largeSeen = n
		if prev == nil {
			go debug.FreeOSMemory() // at start-up nothing reads an older one
		} else {
			time.AfterFunc(releaseDelay, debug.FreeOSMemory)
		}
	}
	return prev
}

// releaseDelay is how long after a generation with a large zone is
// replaced its memory is returned to the OS (a forced GC, about 0.1 s of
// CPU for the 1M-record zone): a query holds a generation for
// microseconds, the status API for a request.
const releaseDelay = 2 * time.Second

func maxCheckTimeout(cfg *Config) time.Duration {
	var d time.Duration
	for _, c := range cfg.Check {
		d = max(d, c.WithDefaults().Timeout.D())
	}
	return d
}

// Shutdown stops everything Start started, in reverse order. It returns
// within a bounded time whatever a reload or a peer is doing.
func (s *Server) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.stopReload()
	if s.status != nil {
		s.status.SetReady(false)
		_ = s.status.Shutdown(ctx)
	}
	if s.dns != nil {
		_ = s.dns.Shutdown(ctx)
	}
	if s.mon != nil && s.mon.qlog != nil {
		s.mon.qlog.close()
	}
	if s.bgp != nil {
		s.bgp.Stop()
	}
	if s.health != nil {
		s.health.Stop()
	}
	s.cluster.close()
	if g := s.gen.Load(); g != nil {
		g.Close()
	}
}
