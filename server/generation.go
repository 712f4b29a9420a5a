package server

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/zones"
)

// Generation is everything derived from the config and the files it names:
// the config, its compiled services, the zones and the zone set built from
// them, the GeoIP databases and the static routes. It is immutable once
// published; a reload builds the next one off the query path (reusing the
// parts whose inputs did not change, or failed to load) and the server
// publishes it with one atomic store. A query reads one generation, so no
// answer mixes the config of one with the zones of another.
//
// Inputs that change on their own (the health view, the BGP table) are not
// part of it: they are their own snapshots, read once per query too.
type Generation struct {
	Config   *Config
	Services []*zones.Service
	Set      *zones.Set
	Geo      *geo.DB       // nil without [geo] databases
	Routes   *routes.Table // the static routes file; nil without one

	zones map[string]*zones.Zone // zone file -> the version serving
	sign  *signing               // DNSSEC keys and signers; nil: nothing is signed

	srv   *Server     // the live inputs a service answer reads; nil offline
	stats *statsIndex // the answer counters of Services
	// bgpCache is, offline only (UseBGPCache), the BGP table cache as a
	// started server would answer from it.
	bgpCache *routes.Table
}

// UseBGPCache makes an offline generation (godwit explain) answer with the
// routes of [routes.bgp] cache_file beside the routes file, as a server
// started now would before its sessions are in sync. It returns a line
// saying so ("" without a cache_file), and an error naming the file if it
// cannot be used.
func (g *Generation) UseBGPCache() (string, error) {
	b := g.Config.Routes.BGP
	if b == nil || b.CacheFile == "" || g.srv != nil {
		return "", nil
	}
	t, written, err := routes.ReadCache(b.CacheFile, *b)
	if err != nil {
		return "", err
	}
	g.bgpCache = t
	v4, v6 := t.Len()
	return fmt.Sprintf("bgp routes: %d prefixes from %s, written %s, stale (the live explain shows what the sessions send now)\n",
		v4+v6, g.Config.shortPath(b.CacheFile), written.UTC().Format(time.RFC3339)), nil
}

// Zones returns the zones of the generation in file order.
func (g *Generation) Zones() []*zones.Zone {
	files := slices.Sorted(maps.Keys(g.zones))
	out := make([]*zones.Zone, len(files))
	for i, f := range files {
		out[i] = g.zones[f]
	}
	return out
}

// Lookup answers one question from the zone set (dns.Answers).
func (g *Generation) Lookup(qname string, qtype uint16) zones.Result {
	return g.Set.Lookup(qname, qtype)
}

// ServiceAddrs picks the addresses of a GSLB service for one client
// (dns.Answers): zones.Select over this generation's GeoIP databases and
// the live route table and health view.
func (g *Generation) ServiceAddrs(r *zones.Result, qtype uint16, c *dns.ClientInfo, buf []netip.Addr) ([]netip.Addr, uint32, int) {
	env := g.env()
	var t0 time.Time
	sampled := env.Seq%durationSample == 0
	if g.srv != nil && (sampled || g.srv.mon.qlog != nil) {
		t0 = time.Now()
	}
	sel := zones.Select(r.Service, qtype, clientOf(c), &env, buf, nil)
	if g.srv != nil {
		g.srv.mon.answered(g, r, qtype, c, &sel, t0, sampled)
	}
	return sel.Addrs, sel.TTL, sel.Scope
}

// env is one query's view of the proximity and health data.
func (g *Generation) env() zones.Env {
	e := zones.Env{Seq: 1}
	if g.Geo != nil {
		e.Geo = g.Geo
	}
	if g.srv == nil {
		if g.Routes != nil || g.bgpCache != nil {
			e.Routes = routes.Combine(g.Routes, g.bgpCache)
		}
		return e
	}
	s := g.srv
	e.Seq = s.seq.Add(1)
	if t := s.routes.Snapshot(); t != nil {
		e.Routes = t
	}
	if v := s.health.View(); v != nil {
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

// Reload sources: the label values of the reload metrics and the kinds of
// the file log.
const (
	srcConfig = "config"
	srcZone   = "zone"
	srcMMDB   = "mmdb"
	srcRoutes = "routes"
	srcState  = "state"
)

var reloadSources = []string{srcConfig, srcZone, srcMMDB, srcRoutes, srcState, srcKeys}

// fileEvent is what a build did with one input file.
type fileEvent struct {
	src, path string
	err       error // nil: loaded; else the last good version (if any) stays
	removed   bool  // the file is gone and what it held is unloaded
}

// buildReport is the outcome of a build, file by file, for the log, the
// metrics and the status page.
type buildReport struct {
	files []fileEvent
}

func (r *buildReport) ok(src, path string) {
	r.files = append(r.files, fileEvent{src: src, path: path})
}

func (r *buildReport) fail(src, path string, err error) {
	r.files = append(r.files, fileEvent{src: src, path: path, err: err})
}

func (r *buildReport) errs() []error {
	var out []error
	for _, f := range r.files {
		if f.err != nil {
			out = append(out, f.err)
		}
	}
	return out
}

// Build loads everything cfg names into a first generation, as serve,
// check and explain start from. It reports every problem it finds, each
// with file:line where the input came from a file; on error the returned
// generation holds whatever did load (its Set may be nil).
func Build(cfg *Config) (*Generation, error) {
	g, rep := build(nil, cfg, changes{all: true})
	return g, errors.Join(rep.errs()...)
}

// Close releases what the generation opened (the GeoIP databases). Only
// for a generation that was never published.
func (g *Generation) Close() {
	if g != nil && g.Geo != nil {
		g.Geo.Close()
	}
}

// build makes the generation that follows prev (nil at start) after ch:
// with next as its config when a new config loaded (nil: prev's config
// stays), re-reading the files ch names. A file that fails keeps its last
// good version; a new config whose services do not fit the zones is
// rejected as a whole, and zone changes that do not fit together or with
// the services are rejected as a whole, so that the generation returned
// is always whole and consistent. At start there is nothing to fall back
// on: every failure is reported and the generation may be partial.
func build(prev *Generation, next *Config, ch changes) (*Generation, *assembleReport) {
	if prev == nil {
		return assemble(nil, next, ch)
	}
	if next == nil {
		g, rep := assemble(prev, prev.Config, ch)
		if g.Set == nil {
			g.closeNew(prev)
			g = prev // nothing usable: keep serving what serves
		}
		return g, rep
	}
	g, rep := assemble(prev, next, ch)
	if g.Set != nil {
		rep.ok(srcConfig, next.path)
		return g, rep
	}
	// The new config does not fit the zones: keep the old one.
	setErr := rep.setErr
	g.closeNew(prev)
	g, rep = assemble(prev, prev.Config, ch)
	for _, e := range unjoin(setErr) {
		rep.fail(srcConfig, next.path, next.serviceError(e))
	}
	if g.Set == nil {
		g.closeNew(prev)
		g = prev
	}
	return g, rep
}

// closeNew closes the GeoIP databases g opened that prev does not hold.
func (g *Generation) closeNew(prev *Generation) {
	if g.Geo != nil && (prev == nil || g.Geo != prev.Geo) {
		g.Geo.Close()
	}
}

// assemble builds a generation for cfg from prev's parts and the files ch
// names. When the zone set cannot be built, the returned generation has no
// Set and the report's setErr says why.
func assemble(prev *Generation, cfg *Config, ch changes) (*Generation, *assembleReport) {
	rep := &assembleReport{}
	g := &Generation{Config: cfg, Services: cfg.services}
	if prev != nil {
		g.srv = prev.srv
	}
	g.zones = rep.loadZones(prev, cfg, ch)

	set, err := zones.NewSet(g.Zones(), g.Services)
	if err != nil && prev != nil && rep.zonesChanged && cfg.Zones.Dir == prev.Config.Zones.Dir {
		// The changed zone files do not fit: keep the versions serving.
		if set2, err2 := zones.NewSet(prev.Zones(), g.Services); err2 == nil {
			rep.rejectZoneChanges(err)
			g.zones, set, err = prev.zones, set2, nil
		}
	}
	if err != nil {
		rep.setErr = err
		// At start, a zone that did not load leaves services outside every
		// zone: that is the zone's error, already reported, not the config's.
		if prev == nil && !slices.ContainsFunc(rep.files, func(f fileEvent) bool { return f.src == srcZone && f.err != nil }) {
			for _, e := range unjoin(err) {
				rep.fail(srcConfig, cfg.path, cfg.serviceError(e))
			}
		}
	}
	g.Set = set

	g.Geo = rep.loadGeo(prev, cfg, ch)
	g.Routes = rep.loadRoutes(prev, cfg, ch)
	g.sign = rep.loadKeys(prev, cfg, ch)
	if prev == nil || cfg != prev.Config {
		targets := healthTargets(g.Services)
		if err := health.CheckTargets(cfg.Check, targets); err != nil {
			rep.setErr = err
			rep.fail(srcConfig, cfg.path, &ConfigError{File: cfg.path, Err: fmt.Errorf("health: %w", err)})
			g.Set = nil
		}
	}
	return g, rep
}

// assembleReport is a buildReport with what assemble needs to decide.
type assembleReport struct {
	buildReport
	setErr       error // why the zone set could not be built
	zonesChanged bool  // a zone file loaded or was removed
}

// loadZones returns the zone files of cfg's directory and their zones:
// the files ch names re-read (every file on a full reload, at start, or
// when zones.dir changed), the rest as prev holds them. A file that fails
// keeps its last good version; a file that is gone is unloaded.
func (rep *assembleReport) loadZones(prev *Generation, cfg *Config, ch changes) map[string]*zones.Zone {
	sameDir := prev != nil && prev.Config.Zones.Dir == cfg.Zones.Dir
	next := map[string]*zones.Zone{}
	if sameDir {
		maps.Copy(next, prev.zones)
	}
	var files []string
	if !sameDir || ch.all {
		list, err := zones.ZoneFiles(cfg.Zones.Dir)
		if err != nil {
			rep.fail(srcZone, cfg.Zones.Dir, cfg.missingFile("zones.dir", err))
			return next
		}
		files = list
		for f := range next {
			if !slices.Contains(files, f) {
				files = append(files, f) // gone: unloaded below
			}
		}
		rep.zonesChanged = !sameDir
	} else {
		files = slices.Collect(maps.Keys(ch.zones))
	}
	slices.Sort(files)
	limits := cfg.Zones.Limits()
	for _, f := range files {
		others := make([]*zones.Zone, 0, len(next))
		for of, z := range next {
			if of != f {
				others = append(others, z)
			}
		}
		// The records of the other zones count against max_records.
		z, err := limits.Remaining(others).LoadFile(f)
		if err != nil {
			if _, serr := os.Lstat(f); errors.Is(serr, fs.ErrNotExist) {
				if _, ok := next[f]; ok {
					delete(next, f)
					rep.zonesChanged = true
					rep.files = append(rep.files, fileEvent{src: srcZone, path: f, removed: true})
				}
				continue
			}
			rep.fail(srcZone, f, err)
			continue
		}
		next[f] = z
		rep.zonesChanged = true
		rep.ok(srcZone, f)
	}
	return next
}

// rejectZoneChanges turns the zone files this build loaded or unloaded
// into failures: they did not fit together or with the services, so the
// versions serving stay.
func (rep *assembleReport) rejectZoneChanges(err error) {
	for i, f := range rep.files {
		if f.src != srcZone || f.err != nil {
			continue
		}
		why := err
		if f.removed {
			why = fmt.Errorf("%s was removed, but the zones left do not fit the services: %w; the last version keeps serving", f.path, err)
		}
		rep.files[i] = fileEvent{src: srcZone, path: f.path, err: why}
	}
	rep.zonesChanged = false
}

// loadGeo opens the GeoIP databases when they, or their paths, changed.
// On failure prev's stay.
func (rep *assembleReport) loadGeo(prev *Generation, cfg *Config, ch changes) *geo.DB {
	paths := func(c *Config) [2]string { return [2]string{c.Geo.CityDB, c.Geo.ASNDB} }
	if prev != nil && !ch.all && !ch.mmdb && paths(cfg) == paths(prev.Config) {
		return prev.Geo
	}
	if cfg.Geo.CityDB == "" && cfg.Geo.ASNDB == "" {
		return nil
	}
	db, err := geo.Open(cfg.Geo.CityDB, cfg.Geo.ASNDB)
	if err == nil {
		for _, p := range paths(cfg) {
			if p != "" {
				rep.ok(srcMMDB, p)
			}
		}
		return db
	}
	// Blame the file that failed.
	blamed := false
	for _, p := range []struct{ key, city, asn string }{{"geo.city_db", cfg.Geo.CityDB, ""}, {"geo.asn_db", "", cfg.Geo.ASNDB}} {
		if p.city == "" && p.asn == "" {
			continue
		}
		if _, e := geo.Open(p.city, p.asn); e != nil {
			rep.fail(srcMMDB, p.city+p.asn, cfg.missingFile(p.key, fmt.Errorf("geo: %w", e)))
			blamed = true
		}
	}
	if !blamed {
		rep.fail(srcMMDB, cfg.Geo.CityDB+cfg.Geo.ASNDB, fmt.Errorf("geo: %w", err))
	}
	if prev != nil {
		return prev.Geo
	}
	return nil
}

// loadRoutes loads the static routes file when it, its path or the
// datacenters it maps to changed. On failure prev's table stays.
func (rep *assembleReport) loadRoutes(prev *Generation, cfg *Config, ch changes) *routes.Table {
	if prev != nil && !ch.all && !ch.routes && cfg.Routes.File == prev.Config.Routes.File &&
		reflect.DeepEqual(cfg.Datacenter, prev.Config.Datacenter) {
		return prev.Routes
	}
	if cfg.Routes.File == "" {
		return nil
	}
	t, err := routes.LoadFile(cfg.Routes.File, cfg.asnToDatacenter(), cfg.datacenterSet())
	if err != nil {
		rep.fail(srcRoutes, cfg.Routes.File, cfg.missingFile("routes.file", err))
		if prev != nil {
			return prev.Routes
		}
		return nil
	}
	rep.ok(srcRoutes, cfg.Routes.File)
	return t
}

func (c *Config) checkNames() []string {
	names := make([]string, len(c.Check))
	for i, ch := range c.Check {
		names[i] = ch.Name
	}
	return names
}

func (c *Config) datacenterSet() map[string]bool {
	m := make(map[string]bool, len(c.Datacenter))
	for _, dc := range c.Datacenter {
		m[dc.Name] = true
	}
	return m
}

func (c *Config) asnToDatacenter() map[uint32]string {
	m := map[uint32]string{}
	for _, dc := range c.Datacenter {
		for _, a := range dc.ASN {
			m[a] = dc.Name
		}
	}
	return m
}

// missingFile places an error opening a file the config names at the line
// of its key, when the file is not there: the config is what to fix. Other
// errors (a file that does not parse) already name the file and line.
func (c *Config) missingFile(key string, err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return c.at(key, pe)
	}
	return err
}

// serviceError places an error NewSet found with a service at the line of
// that service's name in the config.
func (c *Config) serviceError(err error) error {
	var ze *zones.Error
	if errors.As(err, &ze) && ze.File != "" {
		return err // a zone file problem: already file:line
	}
	for i, s := range c.Service {
		if s.Name != "" && containsFold(err.Error(), s.Name) {
			return c.at(fmt.Sprintf("service.%d.name", i), err)
		}
	}
	return &ConfigError{File: c.path, Err: err}
}

// healthTargets lists every target address of the services for the health
// checker: with its check, what it must probe; without one (Check ""),
// an address that overrides may name.
func healthTargets(svcs []*zones.Service) []health.Target {
	var out []health.Target
	for _, s := range svcs {
		for _, p := range s.Probes() {
			out = append(out, health.Target{Check: p.Check, Datacenter: p.Datacenter, Addr: p.Addr, ProbeAddr: p.ProbeAddr})
		}
		for _, t := range s.Targets {
			if t.Check != "" {
				continue
			}
			for _, fam := range t.Addrs {
				for _, a := range fam {
					out = append(out, health.Target{Datacenter: t.Datacenter, Addr: a})
				}
			}
		}
	}
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Explain tells how the answer to qname/qtype for client c is chosen from
// this generation (and, when it serves, the live route table and health
// view).
func (g *Generation) Explain(qname string, qtype uint16, c zones.Client) *zones.Explanation {
	env := g.env()
	return zones.Explain(g.Set, qname, qtype, c, &env)
}

// Warnings lists what in g's zones and services an operator should fix
// though godwit serves: "file:line: warning: message", in file order.
func Warnings(g *Generation) []string {
	var out []string
	for _, z := range g.Zones() {
		for _, w := range z.Warnings() {
			out = append(out, w.String())
		}
	}
	for _, w := range append(nsWarnings(g.Zones(), g.Services), configWarnings(g)...) {
		out = append(out, w.String())
	}
	return out
}

// Query is what a query carries that locates its client.
type Query struct {
	Source netip.Addr   // the address the query came from
	ECS    netip.Prefix // its Client Subnet option's source prefix; invalid: none
}

// ExplainQuery explains the answer to q the way the server answers it:
// the ECS address masked to its source prefix, as the handler reads it,
// and the query's source where ECS is /0 or geo.use_ecs is off.
func (g *Generation) ExplainQuery(qname string, qtype uint16, q Query) *zones.Explanation {
	ci := dns.ClientInfo{Source: q.Source.Unmap()}
	if q.ECS.IsValid() {
		ci.ECSPrefix = q.ECS.Masked()
		ci.ECS = g.Config.Geo.UseECS && q.ECS.Bits() > 0
	}
	return g.Explain(qname, qtype, clientOf(&ci))
}
