package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/health"
)

// changes says what a reload re-reads. The watcher fills it from file
// events; SIGHUP and the API set all.
type changes struct {
	all    bool            // everything: the config and every file it names
	config bool            // the config file
	zones  map[string]bool // zone files (paths as the watcher saw them)
	mmdb   bool            // the GeoIP databases
	routes bool            // the static routes file
	state  bool            // the health overrides state file
	keys   bool            // the DNSSEC keys directory
}

func (c *changes) empty() bool {
	return !c.all && !c.config && len(c.zones) == 0 && !c.mmdb && !c.routes && !c.state && !c.keys
}

func (c *changes) addZone(path string) {
	if c.zones == nil {
		c.zones = map[string]bool{}
	}
	c.zones[path] = true
}

func (c *changes) String() string {
	if c.all {
		return "all"
	}
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{c.config, srcConfig}, {len(c.zones) > 0, srcZone}, {c.mmdb, srcMMDB}, {c.routes, srcRoutes}, {c.state, srcState}, {c.keys, srcKeys}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, ",")
}

// reloader builds the next generation from the sources that changed and
// publishes it; a source that fails keeps its last good version. Reloads
// run one at a time.
type reloader struct {
	s   *Server
	ctx context.Context // the server's; BGP peer updates run under it

	sem     chan struct{} // held by the reload running
	run     *Config       // the config the listeners and handler started with
	restart map[string]bool

	failures *prometheus.CounterVec
	lastOK   *prometheus.GaugeVec

	w *watcher // nil if fsnotify could not start

	retryMu    sync.Mutex
	retry      *time.Timer // a reload that failed for want of resources, again
	retryDelay time.Duration
	stopped    bool
	keysTimer  *time.Timer // a keys reload at the next key timing event
}

// reloadWait bounds how long a reload waits for the one running (SIGHUP
// and the API: the watcher's reloads run one after the other anyway).
const reloadWait = 30 * time.Second

// Retry delays of a reload that failed for want of resources (file
// descriptors, memory): doubled after each failure up to the maximum.
const (
	retryFirst = 2 * time.Second
	retryMax   = time.Minute
)

// startReload sets up reloading: the metrics, the first successes and the
// file watcher.
func (s *Server) startReload(ctx context.Context, cfg *Config) error {
	r := &reloader{
		s: s, ctx: ctx, run: cfg, sem: make(chan struct{}, 1), restart: map[string]bool{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_reload_failures_total",
			Help: "Loads of a source (config, zone, mmdb, routes, state) that failed; the last good version stayed.",
		}, []string{"source"}),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "godwit_reload_last_success_timestamp_seconds",
			Help: "Unix time of the last successful load of a source (config, zone, mmdb, routes, state).",
		}, []string{"source"}),
	}
	if err := errors.Join(s.reg.Register(r.failures), s.reg.Register(r.lastOK), s.reg.Register(newSigningCollector(s))); err != nil {
		return err
	}
	for _, src := range reloadSources {
		r.failures.WithLabelValues(src)
		r.lastOK.WithLabelValues(src)
	}
	// What start-up loaded counts as the first success.
	r.succeeded(srcConfig)
	r.succeeded(srcZone)
	for src, on := range map[string]bool{srcMMDB: cfg.Geo.CityDB != "" || cfg.Geo.ASNDB != "",
		srcRoutes: cfg.Routes.File != "", srcState: cfg.Health.StateFile != "", srcKeys: cfg.DNSSEC.KeysDir != ""} {
		if on {
			r.succeeded(src)
		}
	}

	w, err := newWatcher(s.log.With("subsystem", "reload"), r.reload, watchDebounce, watchMaxDelay)
	if err != nil {
		// Serving matters more than watching: SIGHUP and the API still reload.
		s.log.Error("file watching is off; reload with SIGHUP or POST /api/v1/reload", "err", err)
	} else {
		r.w = w
		w.setPaths(pathsOf(cfg))
		go w.run()
	}
	s.reload = r
	r.scheduleKeys(s.gen.Load())
	return nil
}

func (s *Server) stopReload() {
	r := s.reload
	if r == nil {
		return
	}
	r.retryMu.Lock()
	r.stopped = true
	if r.retry != nil {
		r.retry.Stop()
	}
	if r.keysTimer != nil {
		r.keysTimer.Stop()
	}
	r.retryMu.Unlock()
	if r.w != nil {
		r.w.stop()
	}
}

// Reload re-reads the config and every file it names (SIGHUP, the API).
// Sources that fail keep their last good version; the error joins their
// failures.
func (s *Server) Reload(why string) error {
	if s.reload == nil {
		return errors.New("reload: not started yet")
	}
	s.log.Info("reloading everything", "why", why)
	return s.reload.reload(changes{all: true})
}

func (r *reloader) succeeded(src string) {
	r.lastOK.WithLabelValues(src).Set(float64(time.Now().UnixNano()) / 1e9)
}

// reload applies ch: it builds the next generation, publishes it, and
// then (never before) brings the health checks, the BGP peers and the
// watched paths in line with it. It returns the failures joined (nil when
// every source it touched loaded).
func (r *reloader) reload(ch changes) error {
	select {
	case r.sem <- struct{}{}:
	case <-time.After(reloadWait):
		return fmt.Errorf("reload: another reload has been running for over %s", reloadWait)
	}
	defer func() { <-r.sem }()
	s := r.s
	start := time.Now()
	prev := s.gen.Load()

	var events []fileEvent
	var next *Config
	if ch.all || ch.config {
		c, err := LoadConfig(prev.Config.path, prev.Config.flags)
		if err != nil {
			events = append(events, fileEvent{src: srcConfig, path: prev.Config.path, err: err})
		} else {
			next = c
		}
	}
	if next != nil {
		// What runs stays what started until a restart: the restart
		// warnings say what differs.
		r.warnRestart(next)
		next.Server, next.Status, next.Geo.UseECS = r.run.Server, r.run.Status, r.run.Geo.UseECS
	}
	g, rep := build(prev, next, ch)
	events = append(events, rep.files...)

	if g != prev {
		s.publish(g)
		if prev.Geo != nil && prev.Geo != g.Geo {
			prev.Geo.Close() // a no-op for lookups still running on it: they stay safe
		}
	}
	cfgNew := g.Config != prev.Config
	ovBefore := s.health.Overrides()
	defer func() { // a state file edited by hand: publish what changed
		if ch.all || ch.state {
			s.cluster.publishDiff(ovBefore, s.health.Overrides(), !cfgNew)
		}
	}()
	if cfgNew {
		s.health.SetLimits(g.Config.Health.Limits())
		err := s.health.Update(g.Config.Check, healthTargets(g.Services), g.Config.Health.StateFile)
		switch {
		case errors.Is(err, health.ErrOverrides):
			events = append(events, fileEvent{src: srcState, path: g.Config.Health.StateFile, err: err})
		case err != nil: // CheckTargets passed: only a prober that could not be made
			events = append(events, fileEvent{src: srcConfig, path: g.Config.path, err: fmt.Errorf("%s: health: %w", g.Config.path, err)})
		case g.Config.Health.StateFile != "":
			events = append(events, fileEvent{src: srcState, path: g.Config.Health.StateFile})
		}
		if w := r.updateBGP(prev.Config, g.Config); w != "" {
			r.setWarning("routes.bgp", w)
		} else {
			r.clearWarning("routes.bgp")
		}
	} else if (ch.all || ch.state) && g.Config.Health.StateFile != "" {
		events = append(events, fileEvent{src: srcState, path: g.Config.Health.StateFile, err: s.health.ReloadOverrides()})
	}
	if r.w != nil && (cfgNew || ch.all) {
		r.w.setPaths(pathsOf(g.Config))
	}
	errs := r.record(events, g)
	s.log.Info("reload done", "changed", ch.String(), "loaded", len(events)-len(errs), "failed", len(errs),
		"zones", len(g.zones), "took", time.Since(start).Round(time.Microsecond))
	r.retryLater(ch, errs)
	r.scheduleKeys(g)
	return errors.Join(errs...)
}

// record puts the outcome of each file into the file log, the metrics and
// the log, and returns the failures.
func (r *reloader) record(events []fileEvent, g *Generation) []error {
	var errs []error
	seen := map[string]bool{}
	for _, e := range events {
		switch {
		case e.removed:
			r.s.files.removed(e.path)
			r.s.log.Warn("zone unloaded: its file was removed", "file", e.path)
		case e.err != nil:
			errs = append(errs, e.err)
			r.failures.WithLabelValues(e.src).Inc()
			r.s.files.failed(e.src, e.path, e.err)
			r.s.log.Error("reload failed; the last good version stays", "source", e.src, "file", e.path, "err", e.err)
		default:
			if e.src == srcConfig && g.Config.flags.Demo {
				continue
			}
			if z := g.zones[e.path]; e.src == srcZone && z != nil {
				r.s.log.Info("zone loaded", "zone", z.Origin, "file", e.path, "serial", z.Serial, "records", z.Len())
				for _, w := range z.Warnings() {
					r.s.log.Warn(w.String())
				}
			} else {
				r.s.log.Info("loaded", "source", e.src, "file", e.path)
			}
			r.s.files.ok(e.src, e.path)
			if !seen[e.src] {
				seen[e.src] = true
				r.succeeded(e.src)
			}
		}
	}
	return errs
}

// retryLater schedules ch again when a source failed for want of
// resources (file descriptors, memory), which may pass; a file that does
// not parse waits for its next change instead.
func (r *reloader) retryLater(ch changes, errs []error) {
	transient := slices.ContainsFunc(errs, func(err error) bool {
		return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
	})
	r.retryMu.Lock()
	defer r.retryMu.Unlock()
	if !transient || r.stopped {
		r.retryDelay = 0
		return
	}
	r.retryDelay = min(max(2*r.retryDelay, retryFirst), retryMax)
	r.s.log.Warn("reload will be retried", "in", r.retryDelay)
	if r.retry != nil {
		r.retry.Stop()
	}
	r.retry = time.AfterFunc(r.retryDelay, func() { _ = r.reload(ch) })
}

// updateBGP applies the peer list of a new config to the running speaker.
// It returns a warning when that needs a restart or failed.
func (r *reloader) updateBGP(old, cfg *Config) string {
	run, next := r.run.Routes.BGP, cfg.Routes.BGP
	switch {
	case run == nil && next == nil:
		return ""
	case run == nil:
		return fmt.Sprintf("%s: [routes.bgp] was added: restart godwit to start the BGP speaker", cfg.path)
	case next == nil:
		return fmt.Sprintf("%s: [routes.bgp] was removed: restart godwit to stop the BGP speaker", cfg.path)
	case r.s.bgp == nil, run.ASN != next.ASN || run.RouterID != next.RouterID || run.Listen != next.Listen:
		return "" // restartWarnings says so
	}
	if old.Routes.BGP != nil && reflect.DeepEqual(*old.Routes.BGP, *next) {
		return ""
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := r.s.bgp.UpdatePeers(ctx, *next); err != nil {
		return fmt.Sprintf("%s: routes.bgp peers: %v", cfg.path, err)
	}
	r.s.log.Info("bgp peers updated", "peers", len(next.Peers))
	return ""
}

// warnRestart replaces the restart warnings on the status page with what
// differs between the config godwit started with and cfg.
func (r *reloader) warnRestart(cfg *Config) {
	warn := restartWarnings(r.run, cfg)
	for k := range r.restart {
		if _, ok := warn[k]; !ok {
			r.clearWarning("restart " + k)
			delete(r.restart, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(warn)) {
		if !r.restart[k] {
			r.s.log.Warn("restart needed", "setting", k, "warning", warn[k])
		}
		r.setWarning("restart "+k, warn[k])
		r.restart[k] = true
	}
}

func (r *reloader) setWarning(key, msg string) { r.s.files.warn(key, msg) }
func (r *reloader) clearWarning(key string)    { r.s.files.clearWarning(key) }

// restartWarnings lists, by setting, what differs between the config
// godwit started with and cfg in settings that only a restart applies.
// Sections are compared key by key and only the names of the keys that
// changed are shown: a value may be a secret (the status token).
func restartWarnings(run, cfg *Config) map[string]string {
	w := map[string]string{}
	add := func(key string, was, now any) {
		w[key] = fmt.Sprintf("%s: %s changed from %v to %v: restart godwit to apply it", cfg.path, key, was, now)
	}
	addKeys := func(section string, keys []string) {
		if len(keys) > 0 {
			w["["+section+"]"] = fmt.Sprintf("%s: %s changed: restart godwit to apply it", cfg.path, strings.Join(keys, ", "))
		}
	}
	if len(cfg.flags.Listen) == 0 && !slices.Equal(run.Server.Listen, cfg.Server.Listen) {
		add("server.listen", run.Server.Listen, cfg.Server.Listen)
	}
	addKeys("server", changedKeys("server", run.Server, cfg.Server, "listen"))
	if cfg.flags.StatusListen == "" && run.Status.Listen != cfg.Status.Listen {
		add("status.listen", run.Status.Listen, cfg.Status.Listen)
	}
	addKeys("status", changedKeys("status", run.Status, cfg.Status, "listen"))
	addKeys("cluster", changedKeys("cluster", run.Cluster, cfg.Cluster, ""))
	if run.Geo.UseECS != cfg.Geo.UseECS {
		add("geo.use_ecs", run.Geo.UseECS, cfg.Geo.UseECS)
	}
	if r, c := run.Routes.BGP, cfg.Routes.BGP; r != nil && c != nil &&
		(r.ASN != c.ASN || r.RouterID != c.RouterID || r.Listen != c.Listen) {
		add("routes.bgp asn/router_id/listen", fmt.Sprintf("%d/%s/%s", r.ASN, r.RouterID, r.Listen),
			fmt.Sprintf("%d/%s/%s", c.ASN, c.RouterID, c.Listen))
	}
	if r, c := run.Routes.BGP, cfg.Routes.BGP; r != nil && c != nil && r.CacheFile != c.CacheFile {
		add("routes.bgp.cache_file", r.CacheFile, c.CacheFile)
	}
	return w
}

// changedKeys names the keys (section.key, by TOML tag) whose values differ
// between a and b, two values of one struct type, leaving out skip.
func changedKeys(section string, a, b any, skip string) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" || name == skip {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, section+"."+name)
		}
	}
	return out
}
