package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// runtime is a serving godwit: one immutable snapshot per data source, each
// behind an atomic pointer that a reload swaps, and the long-lived services
// (listeners, health checker, BGP speaker, status server).
type runtime struct {
	log     *slog.Logger
	reg     *prometheus.Registry
	started time.Time

	cfg     atomic.Pointer[Config]
	set     atomic.Pointer[zones.Set]
	answers atomic.Pointer[answers]
	geo     atomic.Pointer[geo.DB]
	routes  *routes.Routes
	bgp     *routes.Speaker // nil without [routes.bgp]
	health  *health.Checker
	seq     atomic.Uint64 // query counter for round-robin

	dns    *dns.Server
	status *status.Server
	files  *fileLog
	mon    *monitor                 // backend.go: answer counters, query log, traffic window
	reload atomic.Pointer[reloader] // reload.go; watches the files from start to shutdown
}

// answers is one zone set with the runtime's service selection: the
// dns.Answers a query reads.
type answers struct {
	*zones.Set
	rt *runtime
}

func (a *answers) ServiceAddrs(r *zones.Result, qtype uint16, c *dns.ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
	return a.rt.serviceAddrs(r, qtype, c, buf)
}

// Answers implements dns.Resolver.
func (rt *runtime) Answers() dns.Answers {
	if a := rt.answers.Load(); a != nil {
		return a
	}
	return nil
}

// storeSet publishes a zone set.
func (rt *runtime) storeSet(s *zones.Set) {
	rt.set.Store(s)
	rt.answers.Store(&answers{Set: s, rt: rt})
}

// env is one query's view of the proximity and health snapshots.
func (rt *runtime) env() zones.Env {
	e := zones.Env{Seq: rt.seq.Add(1)}
	if db := rt.geo.Load(); db != nil {
		e.Geo = db
	}
	if t := rt.routes.Snapshot(); t != nil {
		e.Routes = t
	}
	if v := rt.health.View(); v != nil {
		e.Health = v
	}
	return e
}

// clientOf is the address Select locates: the ECS subnet when the handler
// honours it, else the packet's source.
func clientOf(c *dns.ClientInfo) zones.Client {
	if c.ECS {
		return zones.Client{Addr: c.ECSPrefix.Addr(), SourceBits: c.ECSPrefix.Bits()}
	}
	return zones.Client{Addr: c.Source, SourceBits: -1}
}

// serviceAddrs runs Select for the service
// the zone lookup ended at, with this query's view of every snapshot.
func (rt *runtime) serviceAddrs(r *zones.Result, qtype uint16, c *dns.ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
	t0 := time.Now()
	env := rt.env()
	sel := zones.Select(r.Service, qtype, clientOf(c), &env, buf, nil)
	rt.mon.answered(r, qtype, c, &sel, t0)
	return sel.Addrs, sel.TTL, sel.Scope
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo)")
	listen := fs.String("listen", "", "DNS listen addresses, comma-separated (overrides server.listen)")
	statusListen := fs.String("status-listen", "", "status server address (overrides status.listen)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	nsid := fs.String("nsid", "", "this instance's name for NSID and CHAOS id.server (overrides server.nsid and server.identity)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
	}
	var lvl slog.LevelVar
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lvl}))

	path, demo := *cfgPath, false
	if path == "" {
		p, cleanup, err := unpackDemo()
		if err != nil {
			return err
		}
		defer cleanup()
		path, demo = p, true
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	cfg.demo = demo
	if *listen != "" {
		cfg.Server.Listen = strings.Split(*listen, ",")
		cfg.listenFlag = true
	}
	if *statusListen != "" {
		cfg.Status.Listen = *statusListen
		cfg.statusFlag = true
	}
	if *nsid != "" {
		cfg.nsidFlag = *nsid
		cfg.Server.NSID, cfg.Server.Identity = *nsid, *nsid
	}
	if err := cfg.Server.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.shutdown()

	var addrs []string
	for _, a := range rt.dns.Addrs() {
		addrs = append(addrs, a.String())
	}
	fmt.Fprintf(stdout, "godwit %s: serving DNS on %s (udp+tcp) from %s\n", versionString(), strings.Join(addrs, ", "), cfg.describe())
	if rt.status != nil {
		fmt.Fprintf(stdout, "godwit: status page on http://%s/\n", rt.status.Addr())
	}
	if demo && len(addrs) > 0 {
		ap := rt.dns.Addrs()[0]
		fmt.Fprintf(stdout, "godwit: try  dig @%s -p %d www.example.test  or  dig @%s -p %d geo.gslb.example.test +subnet=81.2.69.142/32\n",
			ap.Addr(), ap.Port(), ap.Addr(), ap.Port())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case <-hup:
			rt.reloadAll("SIGHUP")
		}
	}
}

// start loads everything cfg names and starts serving. Any load error
// stops it: at start there is no last good version to fall back on.
func start(ctx context.Context, cfg *Config, log *slog.Logger) (*runtime, error) {
	b, err := build(cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	rt := &runtime{
		log:     log,
		reg:     prometheus.NewRegistry(),
		started: time.Now(),
		routes:  routes.New(),
		files:   newFileLog(),
	}
	rt.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rt.mon = newMonitor(rt, cfg)
	rt.reg.MustRegister(append(rt.mon.stats.collectors(), newStateCollector(rt))...)
	if rt.mon.qlog, err = openQueryLog(cfg.Log, rt.reg, log.With("subsystem", "querylog")); err != nil {
		return nil, err
	}
	for _, w := range nsWarnings(b.zones, b.services) {
		log.Warn(w.String())
	}
	rt.cfg.Store(cfg)
	rt.storeSet(b.set)
	rt.geo.Store(b.geo)
	rt.routes.SetStatic(b.routes)
	rt.files.loaded(cfg, b)

	rt.health = health.New(log.With("subsystem", "health"), rt.reg, nil)
	if err := rt.health.Update(cfg.Check, healthTargets(b.services), cfg.Health.StateFile); err != nil {
		return nil, err
	}
	rt.health.Start(ctx)
	// The first probe round decides before service names are answered, so
	// a restart neither serves dead addresses nor black-holes live ones.
	waitCtx, cancel := context.WithTimeout(ctx, maxCheckTimeout(cfg)+time.Second)
	if err := rt.health.WaitFirstRound(waitCtx); err != nil {
		log.Warn("first health round incomplete; unknown probes count as up", "err", err)
	}
	cancel()

	if cfg.Routes.BGP != nil {
		var sp *routes.Speaker
		sp, err := routes.NewSpeaker(*cfg.Routes.BGP, log.With("subsystem", "bgp"), func() { rt.routes.SetBGP(sp.Table()) })
		if err != nil {
			rt.shutdown()
			return nil, err
		}
		if err := sp.Start(ctx); err != nil {
			rt.shutdown()
			return nil, fmt.Errorf("bgp: %w", err)
		}
		rt.bgp = sp
	}

	h := dns.NewHandler(cfg.Server, rt, log.With("subsystem", "dns"))
	h.UseECS = cfg.Geo.UseECS
	rrl, err := dns.NewRRL(cfg.Server.RRL)
	if err != nil {
		rt.shutdown()
		return nil, err
	}
	h.RRL = rrl
	rt.dns = dns.NewServer(cfg.Server, h, log.With("subsystem", "dns"))
	if err := errors.Join(h.RegisterMetrics(rt.reg), rt.dns.RegisterMetrics(rt.reg), rrl.RegisterMetrics(rt.reg)); err != nil {
		rt.shutdown()
		return nil, err
	}
	if err := rt.dns.Start(ctx); err != nil {
		rt.shutdown()
		return nil, err
	}
	if cfg.Status.Listen != "" {
		rt.status = status.New(cfg.Status, &backend{rt}, rt.reg, log.With("subsystem", "status"))
		if err := rt.status.Start(ctx); err != nil {
			rt.shutdown()
			return nil, fmt.Errorf("status: %w", err)
		}
		rt.status.SetReady(true)
	}
	if err := rt.startReload(ctx, b); err != nil {
		rt.shutdown()
		return nil, err
	}
	return rt, nil
}

func maxCheckTimeout(cfg *Config) time.Duration {
	var d time.Duration
	for _, c := range cfg.Check {
		d = max(d, c.WithDefaults().Timeout.D())
	}
	return d
}

// shutdown stops everything start started, in reverse order.
func (rt *runtime) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rt.stopReload()
	if rt.status != nil {
		rt.status.SetReady(false)
		_ = rt.status.Shutdown(ctx)
	}
	if rt.dns != nil {
		_ = rt.dns.Shutdown(ctx)
	}
	if rt.mon != nil && rt.mon.qlog != nil {
		rt.mon.qlog.close()
	}
	if rt.bgp != nil {
		rt.bgp.Stop()
	}
	if rt.health != nil {
		rt.health.Stop()
	}
	if db := rt.geo.Load(); db != nil {
		db.Close()
	}
}
