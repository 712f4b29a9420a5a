package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/zones"
)

// Reload sources: the label values of the reload metrics and the kinds of
// the file log.
const (
	srcConfig = "config"
	srcZone   = "zone"
	srcMMDB   = "mmdb"
	srcRoutes = "routes"
	srcState  = "state"
)

var reloadSources = []string{srcConfig, srcZone, srcMMDB, srcRoutes, srcState}

// errZoneRemoved marks a zone whose file went away: it is unloaded.
var errZoneRemoved = errors.New("file removed: zone unloaded")

// changes says what a reload re-reads. The watcher fills it from file
// events; SIGHUP and the API set all.
type changes struct {
	all    bool            // everything: the config and every file it names
	config bool            // the config file
	zones  map[string]bool // zone files (paths as the watcher saw them)
	mmdb   bool            // the GeoIP databases
	routes bool            // the static routes file
	state  bool            // the health overrides state file
}

func (c *changes) empty() bool {
	return !c.all && !c.config && len(c.zones) == 0 && !c.mmdb && !c.routes && !c.state
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
	}{{c.config, srcConfig}, {len(c.zones) > 0, srcZone}, {c.mmdb, srcMMDB}, {c.routes, srcRoutes}, {c.state, srcState}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, ",")
}

// reloader rebuilds the snapshots of the sources that changed, validates
// them and swaps them in; a source that fails keeps its last good version.
// Reloads run one at a time.
type reloader struct {
	rt  *runtime
	ctx context.Context // the server's; BGP peer updates run under it

	mu    sync.Mutex
	zones map[string]*zones.Zone // zone file -> last good version; the set is built from these
	svcs  []*zones.Service       // compiled from rt.cfg
	run   *Config                // the config the listeners and handler started with

	restart map[string]bool // keys of the restart warnings in rt.files

	failures *prometheus.CounterVec
	lastOK   *prometheus.GaugeVec

	w *watcher // nil if fsnotify could not start
}

// startReload sets up reloading: the metrics, the last good state from
// the start-up build b and the file watcher.
func (rt *runtime) startReload(ctx context.Context, b *built) error {
	cfg := rt.cfg.Load()
	r := &reloader{
		rt: rt, ctx: ctx, run: cfg, svcs: b.services, zones: map[string]*zones.Zone{}, restart: map[string]bool{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_reload_failures_total",
			Help: "Loads of a source (config, zone, mmdb, routes, state) that failed; the last good version stayed.",
		}, []string{"source"}),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "godwit_reload_last_success_timestamp_seconds",
			Help: "Unix time of the last successful load of a source (config, zone, mmdb, routes, state).",
		}, []string{"source"}),
	}
	if err := errors.Join(rt.reg.Register(r.failures), rt.reg.Register(r.lastOK)); err != nil {
		return err
	}
	for _, z := range b.zones {
		r.zones[z.File] = z
	}
	for _, s := range reloadSources {
		r.failures.WithLabelValues(s)
		r.lastOK.WithLabelValues(s)
	}
	// What start-up loaded counts as the first success.
	r.succeeded(srcConfig)
	r.succeeded(srcZone)
	for src, on := range map[string]bool{srcMMDB: cfg.Geo.CityDB != "" || cfg.Geo.ASNDB != "",
		srcRoutes: cfg.Routes.File != "", srcState: cfg.Health.StateFile != ""} {
		if on {
			r.succeeded(src)
		}
	}

	w, err := newWatcher(rt.log.With("subsystem", "reload"), r.reload, watchDebounce, watchMaxDelay)
	if err != nil {
		// Serving matters more than watching: SIGHUP and the API still reload.
		rt.log.Error("file watching is off; reload with SIGHUP or POST /api/v1/reload", "err", err)
	} else {
		r.w = w
		w.setPaths(pathsOf(cfg))
		go w.run()
	}
	rt.reload.Store(r)
	return nil
}

func (rt *runtime) stopReload() {
	if r := rt.reload.Load(); r != nil && r.w != nil {
		r.w.stop()
	}
}

// reloadAll re-reads the config and every file it names (SIGHUP, the API).
// Sources that fail keep their last good version; the error joins their
// failures.
func (rt *runtime) reloadAll(why string) error {
	r := rt.reload.Load()
	if r == nil {
		return errors.New("reload: not started yet")
	}
	rt.log.Info("reloading everything", "why", why)
	return r.reload(changes{all: true})
}

func (r *reloader) fail(src, path string, err error) {
	r.failures.WithLabelValues(src).Inc()
	r.rt.files.failed(src, path, err)
	r.rt.log.Error("reload failed; the last good version stays", "source", src, "file", path, "err", err)
}

func (r *reloader) succeeded(src string) {
	r.lastOK.WithLabelValues(src).Set(float64(time.Now().UnixNano()) / 1e9)
}

// fileOK is a file loaded good, recorded once the reload commits.
type fileOK struct{ src, path string }

// reload applies ch. It returns the failures joined (nil when every source
// it touched loaded).
func (r *reloader) reload(ch changes) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt := r.rt
	start := time.Now()
	old := rt.cfg.Load()
	var errs []error
	var oks []fileOK
	fail := func(src, path string, err error) {
		r.fail(src, path, err)
		errs = append(errs, err)
	}

	// The config first: every other source is read under the config that
	// will serve.
	cfg, svcs := old, r.svcs
	cfgNew, healthDone := false, false
	if ch.all || ch.config {
		if c, s, err := r.loadConfig(old); err != nil {
			fail(srcConfig, old.path, err)
		} else if err := rt.health.Update(c.Check, healthTargets(s), c.Health.StateFile); err != nil && !errors.Is(err, health.ErrOverrides) {
			fail(srcConfig, old.path, fmt.Errorf("%s: health: %w", old.path, err))
		} else {
			cfg, svcs, cfgNew, healthDone = c, s, true, true
			if err != nil {
				fail(srcState, c.Health.StateFile, err)
			} else if c.Health.StateFile != "" {
				oks = append(oks, fileOK{srcState, c.Health.StateFile})
			}
		}
	}
	rejectConfig := func(err error) {
		fail(srcConfig, old.path, err)
		if e := rt.health.Update(old.Check, healthTargets(r.svcs), old.Health.StateFile); e != nil {
			rt.log.Error("restoring health checks", "err", e)
		}
		cfg, svcs, cfgNew = old, r.svcs, false
	}

	// Zones: each file that changed is re-read; a file that fails keeps
	// its last good zone. The set is rebuilt from the good zones.
	zs, zoneOKs, zoneChanged := r.loadZones(cfg, old, ch, fail)
	var set *zones.Set
	if zoneChanged || cfgNew {
		var err error
		set, err = zones.NewSet(zoneList(zs), svcs)
		if err != nil && cfgNew {
			if s2, err2 := zones.NewSet(zoneList(zs), r.svcs); err2 == nil {
				rejectConfig(cfg.serviceError(err)) // the new services do not fit the zones
				set, err = s2, nil
			}
		}
		if err != nil && zoneChanged {
			// The changed zones do not fit together or with the services:
			// keep the last good ones.
			if s2, err2 := zones.NewSet(zoneList(r.zones), svcs); err2 == nil {
				for _, o := range zoneOKs {
					fail(srcZone, o.path, err)
				}
				zs, zoneOKs, zoneChanged, set, err = r.zones, nil, false, s2, nil
			}
		}
		if err != nil {
			if cfgNew {
				rejectConfig(cfg.serviceError(err))
			}
			for _, o := range zoneOKs {
				fail(srcZone, o.path, err)
			}
			zs, zoneOKs, zoneChanged, set = r.zones, nil, false, nil
		}
	}
	oks = append(oks, zoneOKs...)

	geoDB, geoSwap := r.loadGeo(cfg, old, cfgNew, ch, fail)
	if geoSwap && (cfg.Geo.CityDB != "" || cfg.Geo.ASNDB != "") {
		for _, p := range []string{cfg.Geo.CityDB, cfg.Geo.ASNDB} {
			if p != "" {
				oks = append(oks, fileOK{srcMMDB, p})
			}
		}
	}
	table, routesSwap := r.loadRoutes(cfg, old, cfgNew, ch, fail)
	if routesSwap && cfg.Routes.File != "" {
		oks = append(oks, fileOK{srcRoutes, cfg.Routes.File})
	}
	if (ch.all || ch.state) && !healthDone && cfg.Health.StateFile != "" {
		if err := rt.health.ReloadOverrides(); err != nil {
			fail(srcState, cfg.Health.StateFile, err)
		} else {
			oks = append(oks, fileOK{srcState, cfg.Health.StateFile})
		}
	}

	// Commit: one atomic store per source.
	if cfgNew {
		warn := restartWarnings(r.run, cfg)
		if w := r.updateBGP(old, cfg); w != "" {
			warn["routes.bgp"] = w
		}
		r.setRestartWarnings(warn)
		// What runs stays what started until a restart.
		cfg.Server, cfg.Status, cfg.Geo.UseECS = r.run.Server, r.run.Status, r.run.Geo.UseECS
		rt.cfg.Store(cfg)
		r.svcs = svcs
		if !cfg.demo {
			oks = append(oks, fileOK{srcConfig, cfg.path})
		}
	}
	if set != nil {
		rt.storeSet(set)
		r.zones = zs
	}
	if geoSwap {
		prev := rt.geo.Swap(geoDB)
		if prev != nil {
			prev.Close() // a no-op: lookups still running on it stay safe
		}
	}
	if routesSwap {
		rt.routes.SetStatic(table)
	}
	seen := map[string]bool{}
	for _, o := range oks {
		rt.files.ok(o.src, o.path)
		if !seen[o.src] {
			seen[o.src] = true
			r.succeeded(o.src)
		}
	}
	if cfgNew || ch.all {
		if r.w != nil {
			r.w.setPaths(pathsOf(cfg))
		}
	}
	rt.log.Info("reload done", "changed", ch.String(), "loaded", len(oks), "failed", len(errs),
		"zones", len(zs), "took", time.Since(start).Round(time.Microsecond))
	return errors.Join(errs...)
}

// loadConfig reads the config file again and compiles its services.
func (r *reloader) loadConfig(old *Config) (*Config, []*zones.Service, error) {
	cfg, err := loadConfig(old.path)
	if err != nil {
		return nil, nil, err
	}
	cfg.demo, cfg.listenFlag, cfg.statusFlag = old.demo, old.listenFlag, old.statusFlag
	if cfg.listenFlag {
		cfg.Server.Listen = r.run.Server.Listen
	}
	if cfg.statusFlag {
		cfg.Status.Listen = r.run.Status.Listen
	}
	if cfg.nsidFlag = old.nsidFlag; cfg.nsidFlag != "" {
		cfg.Server.NSID, cfg.Server.Identity = old.nsidFlag, old.nsidFlag
	}
	svcs, err := zones.CompileServices(cfg.Service, cfg.Datacenter, cfg.checkNames())
	if err != nil {
		return nil, nil, err
	}
	return cfg, svcs, nil
}

// loadZones re-reads the zone files ch names (all of them on a full reload
// or when zones.dir changed). It returns the new file -> zone map, the files
// that loaded good, and whether anything differs from r.zones.
func (r *reloader) loadZones(cfg, old *Config, ch changes, fail func(string, string, error)) (map[string]*zones.Zone, []fileOK, bool) {
	full := ch.all || cfg.Zones.Dir != old.Zones.Dir
	next := map[string]*zones.Zone{}
	var files []string
	if full {
		if cfg.Zones.Dir == old.Zones.Dir {
			maps.Copy(next, r.zones) // last good versions of files that now fail
		}
		entries, err := os.ReadDir(cfg.Zones.Dir)
		if err != nil {
			fail(srcZone, cfg.Zones.Dir, fmt.Errorf("zones: %w", err))
			return r.zones, nil, false
		}
		for _, e := range entries {
			if isZoneFile(e.Name()) && !e.IsDir() {
				files = append(files, filepath.Join(cfg.Zones.Dir, e.Name()))
			}
		}
		for f := range next {
			if !slices.Contains(files, f) {
				files = append(files, f) // removed: unloaded below
			}
		}
	} else {
		maps.Copy(next, r.zones)
		for f := range ch.zones {
			files = append(files, f)
		}
	}
	sort.Strings(files)

	var oks []fileOK
	changed := full && cfg.Zones.Dir != old.Zones.Dir
	for _, f := range files {
		z, err := zones.LoadFile(f)
		if err != nil {
			if _, serr := os.Stat(f); errors.Is(serr, fs.ErrNotExist) {
				if prev, ok := next[f]; ok {
					delete(next, f)
					changed = true
					r.rt.log.Warn("zone unloaded: its file was removed", "zone", prev.Origin, "file", f)
					r.rt.files.failed(srcZone, f, errZoneRemoved)
				}
				continue
			}
			fail(srcZone, f, err)
			continue
		}
		if other := originHolder(next, z.Origin, f); other != "" {
			fail(srcZone, f, &zones.Error{File: f, Err: fmt.Errorf("zone %s is already loaded from %s", z.Origin, other)})
			continue
		}
		next[f] = z
		changed = true
		oks = append(oks, fileOK{srcZone, f})
		r.rt.log.Info("zone loaded", "zone", z.Origin, "file", f, "serial", z.Serial, "records", z.Len())
	}
	return next, oks, changed
}

// isZoneFile reports whether a directory entry is a zone file, as
// zones.LoadDir decides.
func isZoneFile(name string) bool {
	return strings.HasSuffix(name, ".zone") && !strings.HasPrefix(name, ".")
}

// originHolder returns the file other than f that holds origin in m.
func originHolder(m map[string]*zones.Zone, origin, f string) string {
	for file, z := range m {
		if file != f && z.Origin == origin {
			return file
		}
	}
	return ""
}

// zoneList returns the zones of m in file order.
func zoneList(m map[string]*zones.Zone) []*zones.Zone {
	files := slices.Sorted(maps.Keys(m))
	out := make([]*zones.Zone, len(files))
	for i, f := range files {
		out[i] = m[f]
	}
	return out
}

// loadGeo reopens the GeoIP databases when they or their paths changed.
// swap is false when nothing is to change (or the new files are bad).
func (r *reloader) loadGeo(cfg, old *Config, cfgNew bool, ch changes, fail func(string, string, error)) (db *geo.DB, swap bool) {
	pathsChanged := cfgNew && (cfg.Geo.CityDB != old.Geo.CityDB || cfg.Geo.ASNDB != old.Geo.ASNDB)
	if !ch.all && !ch.mmdb && !pathsChanged {
		return nil, false
	}
	if cfg.Geo.CityDB == "" && cfg.Geo.ASNDB == "" {
		return nil, pathsChanged
	}
	db, err := geo.Open(cfg.Geo.CityDB, cfg.Geo.ASNDB)
	if err == nil {
		r.rt.log.Info("geoip databases loaded", "city_db", cfg.Geo.CityDB, "asn_db", cfg.Geo.ASNDB)
		return db, true
	}
	// Blame the file that failed.
	blamed := false
	for _, p := range [][2]string{{cfg.Geo.CityDB, ""}, {"", cfg.Geo.ASNDB}} {
		if p[0] == "" && p[1] == "" {
			continue
		}
		if _, e := geo.Open(p[0], p[1]); e != nil {
			fail(srcMMDB, p[0]+p[1], e)
			blamed = true
		}
	}
	if !blamed {
		fail(srcMMDB, cfg.Geo.CityDB+cfg.Geo.ASNDB, err)
	}
	return nil, false
}

// loadRoutes reloads the static routes file when it, its path or the
// datacenters it maps to changed.
func (r *reloader) loadRoutes(cfg, old *Config, cfgNew bool, ch changes, fail func(string, string, error)) (t *routes.Table, swap bool) {
	cfgChanged := cfgNew && (cfg.Routes.File != old.Routes.File || !reflect.DeepEqual(cfg.Datacenter, old.Datacenter))
	if !ch.all && !ch.routes && !cfgChanged {
		return nil, false
	}
	if cfg.Routes.File == "" {
		return nil, old.Routes.File != ""
	}
	t, err := routes.LoadFile(cfg.Routes.File, cfg.asnToDatacenter(), cfg.datacenterSet())
	if err != nil {
		fail(srcRoutes, cfg.Routes.File, err)
		return nil, false
	}
	v4, v6 := t.Len()
	r.rt.log.Info("routes file loaded", "file", cfg.Routes.File, "ipv4", v4, "ipv6", v6)
	return t, true
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
	case r.rt.bgp == nil, run.ASN != next.ASN || run.RouterID != next.RouterID || run.Listen != next.Listen:
		return "" // restartWarnings says so
	}
	if old.Routes.BGP != nil && reflect.DeepEqual(*old.Routes.BGP, *next) {
		return ""
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := r.rt.bgp.UpdatePeers(ctx, *next); err != nil {
		return fmt.Sprintf("%s: routes.bgp peers: %v", cfg.path, err)
	}
	r.rt.log.Info("bgp peers updated", "peers", len(next.Peers))
	return ""
}

// setRestartWarnings replaces the restart warnings on the status page
// (rt.files) with warn, keyed by setting, and logs the new ones.
func (r *reloader) setRestartWarnings(warn map[string]string) {
	for k := range r.restart {
		if _, ok := warn[k]; !ok {
			r.rt.files.clearWarning("restart " + k)
			delete(r.restart, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(warn)) {
		r.rt.log.Warn("restart needed", "setting", k, "warning", warn[k])
		r.rt.files.warn("restart "+k, warn[k])
		r.restart[k] = true
	}
}

// restartWarnings lists, by setting, what differs between the config
// godwit started with and cfg in settings that only a restart applies.
func restartWarnings(run, cfg *Config) map[string]string {
	w := map[string]string{}
	add := func(key string, was, now any) {
		w[key] = fmt.Sprintf("%s: %s changed from %v to %v: restart godwit to apply it", cfg.path, key, was, now)
	}
	if !cfg.listenFlag && !slices.Equal(run.Server.Listen, cfg.Server.Listen) {
		add("server.listen", run.Server.Listen, cfg.Server.Listen)
	}
	a, b := run.Server, cfg.Server
	a.Listen, b.Listen = nil, nil
	if !reflect.DeepEqual(a, b) {
		add("[server]", fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b))
	}
	if !cfg.statusFlag && run.Status.Listen != cfg.Status.Listen {
		add("status.listen", run.Status.Listen, cfg.Status.Listen)
	}
	sa, sb := run.Status, cfg.Status
	sa.Listen, sb.Listen = "", ""
	if !reflect.DeepEqual(sa, sb) {
		add("[status]", fmt.Sprintf("%+v", sa), fmt.Sprintf("%+v", sb))
	}
	if run.Geo.UseECS != cfg.Geo.UseECS {
		add("geo.use_ecs", run.Geo.UseECS, cfg.Geo.UseECS)
	}
	if r, c := run.Routes.BGP, cfg.Routes.BGP; r != nil && c != nil &&
		(r.ASN != c.ASN || r.RouterID != c.RouterID || r.Listen != c.Listen) {
		add("routes.bgp asn/router_id/listen", fmt.Sprintf("%d/%s/%s", r.ASN, r.RouterID, r.Listen),
			fmt.Sprintf("%d/%s/%s", c.ASN, c.RouterID, c.Listen))
	}
	return w
}
