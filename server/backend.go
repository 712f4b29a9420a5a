package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// trafficWindow is how far back the status page's QPS and answer shares
// look.
const trafficWindow = time.Minute

// monitor is what the runtime keeps for the status page, the metrics and
// the query log: answer counters fed from the query path, the query log,
// and traffic samples taken when the page is read.
type monitor struct {
	stats *gslbStats
	qlog  *queryLog // nil: query logging off

	mu      sync.Mutex
	samples []trafficSample // oldest first
}

// trafficSample is the cumulative counters at one moment.
type trafficSample struct {
	at      time.Time
	queries uint64
	answers uint64            // service answers with addresses
	byDC    map[string]uint64 // of those, led by each datacenter
}

// newMonitor returns the monitor of s.
func newMonitor(s *Server) *monitor {
	return &monitor{stats: newGSLBStats(), samples: []trafficSample{{at: s.started}}}
}

// answered records one service answer: counters and, sampled, the query
// log. It is on the query path: it neither locks nor allocates.
//
// start is zero when the answer was not timed: only one in durationSample
// answers is (and every one while the query log is on), since reading the
// clock twice costs more than the rest of the bookkeeping.
func (m *monitor) answered(g *Generation, r *zones.Result, qtype uint16, c *dns.ClientInfo, sel *zones.Selection, start time.Time, sampled bool) {
	m.stats.answered(g.stats, r.Service, sel, c.ECS)
	if start.IsZero() {
		return
	}
	lat := time.Since(start)
	if sampled {
		m.stats.duration.Observe(lat.Seconds())
	}
	if m.qlog != nil {
		m.qlog.record(start, r.ServiceOwner, qtype, c, sel, lat)
	}
}

// durationSample: one service answer in this many is timed for the
// godwit_gslb_answer_duration_seconds histogram.
const durationSample = 16

// traffic returns the query and answer counts over the recent window and
// how long that window really is (shorter just after start).
func (m *monitor) traffic(now time.Time, queries uint64) (cur, base trafficSample) {
	byDC, answers := m.stats.totals()
	cur = trafficSample{at: now, queries: queries, answers: answers, byDC: byDC}
	m.mu.Lock()
	defer m.mu.Unlock()
	base = m.samples[0]
	for _, s := range m.samples {
		if now.Sub(s.at) < trafficWindow {
			break
		}
		base = s
	}
	if last := m.samples[len(m.samples)-1]; now.Sub(last.at) >= time.Second {
		m.samples = append(m.samples, cur)
	}
	// Keep one sample older than the window and what is inside it.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= trafficWindow {
		m.samples = m.samples[1:]
	}
	return cur, base
}

// backend is the status server's view of the runtime: it reads the
// snapshots, never changes them, except through override and reload.
type backend struct{ s *Server }

// healthState is the datacenters' and services' health as the live health
// view judges every target address.
type healthState struct {
	services    []status.ServiceStatus
	datacenters []status.DatacenterStatus
}

type probeKey struct {
	check string
	addr  netip.Addr
}

// healthState computes the states of g's services and datacenters from
// the live health view: the one summary that the status page and the
// metrics both show. probes may be nil (then probed addresses without a
// result yet show as up).
func (s *Server) healthState(g *Generation, probes []health.ProbeInfo) healthState {
	cfg := g.Config
	view := s.health.View()
	addrOv, dcOv := overrideMaps(s.health.Overrides())
	hasResult := map[probeKey]bool{}
	for _, p := range probes {
		for _, a := range p.Answers {
			hasResult[probeKey{p.Check, a}] = p.HasResult
		}
	}

	// Per datacenter, each distinct address once: healthy unless some
	// service's check sees it down or drained.
	dcAddrs := map[string]map[netip.Addr]bool{}
	for _, d := range cfg.Datacenter {
		dcAddrs[d.Name] = map[netip.Addr]bool{}
	}
	var hs healthState
	for _, svc := range g.Services {
		ss := status.ServiceStatus{
			Name: svc.Name, Policy: svc.Policy.String(), Fallback: svc.Fallback.String(), Answers: svc.Answers,
			TTL: svc.TTL, MinTTL: svc.MinTTL, Check: svc.Check, State: status.StateOK,
		}
		if svc.Fallback == 0 {
			ss.Fallback = ""
		}
		var famAddrs, famUp [2]int
		for _, t := range svc.Targets {
			ts := status.TargetStatus{Datacenter: t.Datacenter, Weight: t.Weight}
			up, drained, n := 0, 0, 0
			for f := range 2 {
				for _, a := range t.Addrs[f] {
					st := view.Lookup(t.Check, t.Datacenter, a)
					if m := dcAddrs[t.Datacenter]; m != nil {
						ok, seen := m[a]
						m[a] = st.Up && (ok || !seen)
					}
					as := status.AddressStatus{Address: a, State: status.StateUp, Override: addrOv[a]}
					switch {
					case st.Drained:
						as.State = status.StateDrain
						drained++
					case !st.Up:
						as.State = status.StateDown
					default:
						if done, probed := hasResult[probeKey{t.Check, a}]; probed && !done {
							as.State = status.StateUnknown
						}
						up++
						famUp[f]++
					}
					n++
					famAddrs[f]++
					ts.Addresses = append(ts.Addresses, as)
				}
			}
			ts.State = aggregate(n, up, drained)
			if ts.State != status.StateUp {
				ss.State = status.StateDegraded
			}
			ss.Targets = append(ss.Targets, ts)
		}
		for f := range 2 {
			if famAddrs[f] > 0 && famUp[f] == 0 {
				ss.State = status.StateFailingOpen
			}
		}
		hs.services = append(hs.services, ss)
	}
	for _, d := range cfg.Datacenter {
		c := struct{ addrs, healthy int }{addrs: len(dcAddrs[d.Name])}
		for _, ok := range dcAddrs[d.Name] {
			if ok {
				c.healthy++
			}
		}
		ds := status.DatacenterStatus{
			Name: d.Name, ASNs: d.ASN, Override: dcOv[d.Name],
			Addresses: c.addrs, Healthy: c.healthy,
		}
		if len(d.Location) == 2 {
			ds.Lat, ds.Lon = d.Location[0], d.Location[1]
		}
		switch ds.Override {
		case status.OverrideDrain:
			ds.State = status.StateDrain
		case status.OverrideDown:
			ds.State = status.StateDown
		default:
			ds.State = aggregate(c.addrs, c.healthy, 0)
		}
		hs.datacenters = append(hs.datacenters, ds)
	}
	return hs
}

// aggregate is the state of a group of n addresses of which up may be
// served and drained are drained.
func aggregate(n, up, drained int) string {
	switch {
	case up == n:
		return status.StateUp
	case up == 0 && drained == n:
		return status.StateDrain
	case up == 0:
		return status.StateDown
	}
	return status.StateDegraded
}

// overrideOrigins maps (kind, key) to the cluster instance each override
// was set on.
func overrideOrigins(ovs []health.Override) map[[2]string]string {
	m := map[[2]string]string{}
	for _, o := range ovs {
		if o.Origin != "" {
			m[[2]string{o.Kind, o.Key}] = o.Origin
		}
	}
	return m
}

func overrideMaps(ovs []health.Override) (addr map[netip.Addr]string, dc map[string]string) {
	addr, dc = map[netip.Addr]string{}, map[string]string{}
	for _, o := range ovs {
		switch o.Kind {
		case health.KindAddress:
			if a, err := netip.ParseAddr(o.Key); err == nil {
				addr[a.Unmap()] = o.State.String()
			}
		case health.KindDatacenter:
			dc[o.Key] = o.State.String()
		}
	}
	return addr, dc
}

func (b *backend) Snapshot() status.Snapshot {
	rt := b.s
	now := time.Now()
	g := rt.gen.Load()
	cfg := g.Config
	s := status.Snapshot{Version: rt.version, Started: rt.started, Now: now}

	files := rt.files.list()
	fileByPath := make(map[string]status.FileStatus, len(files))
	for i, f := range files {
		fileByPath[f.Path] = f
		files[i].Path = cfg.shortPath(f.Path)
	}
	s.Files = files

	probes := rt.health.Probes()
	hs := rt.healthState(g, probes)
	s.Services, s.Datacenters = hs.services, hs.datacenters
	origins := overrideOrigins(rt.health.Overrides())
	for i := range s.Services {
		for j := range s.Services[i].Targets {
			for k := range s.Services[i].Targets[j].Addresses {
				a := &s.Services[i].Targets[j].Addresses[k]
				a.OverrideOrigin = origins[[2]string{health.KindAddress, a.Address.String()}]
			}
		}
	}
	for i := range s.Datacenters {
		s.Datacenters[i].OverrideOrigin = origins[[2]string{health.KindDatacenter, s.Datacenters[i].Name}]
	}
	s.Cluster = rt.cluster.status(now)

	if set := g.Set; set != nil {
		for _, z := range set.Zones() {
			zs := status.ZoneStatus{Name: z.Origin, File: cfg.shortPath(z.File), Serial: z.Serial, Records: z.Records, OK: true}
			if f, ok := fileByPath[z.File]; ok {
				zs.LoadedAt, zs.OK, zs.Error = f.LoadedAt, f.OK, f.LastError
			}
			for _, svc := range s.Services {
				if zoneOf(set, svc.Name) == z.Origin {
					zs.Services++
				}
			}
			s.Zones = append(s.Zones, zs)
		}
	}

	s.Keys = g.keyStatuses(now)
	s.Probes = probeStatuses(cfg, probes, rt.health.Overrides())
	for i, p := range probes {
		if d := p.Decision; d != nil {
			ps := &s.Probes[i]
			ps.Effective, ps.Rule, ps.Reason = status.StateUp, d.Rule.String(), d.Reason
			if !d.Up {
				ps.Effective = status.StateDown
			}
			ps.Votes = rt.cluster.votes(p.Check, p.Addr, now)
		}
	}
	var bgpWarn []string
	if rt.bgp != nil {
		s.Peers = peerStatuses(rt.bgp.Peers(), now)
		st := rt.bgp.Stale()
		s.BGP = &status.BGPStatus{Stale: st.Stale, StalePrefixes: st.Routes, CacheLoaded: st.Loaded,
			CacheWritten: st.Written, CacheError: st.CacheErr}
		if st.Stale {
			s.BGP.StaleUntil = st.Until
		}
		if cfg != nil && cfg.Routes.BGP != nil {
			s.BGP.CacheFile = cfg.shortPath(cfg.Routes.BGP.CacheFile)
		}
		if st.Damaged {
			bgpWarn = append(bgpWarn, "BGP table cache not used at start (proximity waited for the sessions): "+st.CacheErr)
		}
	}

	queries, rcodes := rt.handler.Counts()
	s.Queries, s.Rcodes = queries, rcodes
	cur, base := rt.mon.traffic(now, queries)
	s.Window = cur.at.Sub(base.at)
	if sec := s.Window.Seconds(); sec > 0 {
		s.QPS = float64(cur.queries-base.queries) / sec
	}
	led := cur.answers - base.answers
	for i := range s.Datacenters {
		d := &s.Datacenters[i]
		d.Answers = cur.byDC[d.Name] - base.byDC[d.Name]
		d.AnswersTotal = cur.byDC[d.Name]
		if led > 0 {
			d.Share = float64(d.Answers) / float64(led)
		}
	}
	s.Warnings = warnings(&s, append(append(rt.cluster.warnings(now), rt.files.warnings()...), bgpWarn...))
	return s
}

// shortPath shows a path below the config file's directory relative to it
// (as the config names it), others as they are.
func (c *Config) shortPath(p string) string {
	if c == nil || c.dir == "" || p == c.path {
		return p
	}
	if rel, err := filepath.Rel(c.dir, p); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return p
}

// zoneOf returns the origin of the zone that answers for name, "" if none.
func zoneOf(set *zones.Set, name string) string {
	return set.Lookup(name, mdns.TypeSOA).Zone
}

func probeStatuses(cfg *Config, probes []health.ProbeInfo, ovs []health.Override) []status.ProbeStatus {
	addrOv, dcOv := overrideMaps(ovs)
	checks := map[string]health.CheckConfig{}
	if cfg != nil {
		for _, c := range cfg.Check {
			checks[c.Name] = c.WithDefaults()
		}
	}
	out := make([]status.ProbeStatus, 0, len(probes))
	for _, p := range probes {
		ps := status.ProbeStatus{
			Check: p.Check, Type: p.Type, Address: p.Addr, Datacenter: strings.Join(p.Datacenters, ","),
			Target: probeTarget(checks[p.Check], p.Addr), State: p.State.String(),
			LastOK: p.LastOK, Latency: p.Latency, LastCheck: p.LastProbe, LastChange: p.LastChange,
			Successes: p.Successes, Failures: p.Failures,
		}
		if !p.HasResult {
			ps.State = status.StateUnknown
		}
		switch {
		case !p.HasResult:
			ps.LastResult = "no result yet"
		case p.LastOK:
			ps.LastResult = "ok"
		default:
			ps.LastResult = p.LastError
		}
		// The override in force for what the probe judges: an address
		// override of an answered address, else a datacenter's.
		for _, a := range append([]netip.Addr{p.Addr}, p.Answers...) {
			if o := addrOv[a]; o != "" {
				ps.Override = o
				break
			}
		}
		if ps.Override == "" {
			for _, dc := range p.Datacenters {
				if o := dcOv[dc]; o != "" {
					ps.Override = o
					break
				}
			}
		}
		out = append(out, ps)
	}
	return out
}

// probeTarget describes what a probe of check c at addr contacts.
func probeTarget(c health.CheckConfig, addr netip.Addr) string {
	hostport := func() string { return netip.AddrPortFrom(addr, uint16(c.Port)).String() }
	switch c.Type {
	case health.TypeHTTP, health.TypeHTTPS:
		return c.Type + "://" + hostport() + c.Path
	case health.TypeTCP:
		return "tcp://" + hostport()
	case health.TypeDNS:
		return fmt.Sprintf("dns://%s %s %s", hostport(), c.QueryName, c.QueryType)
	case health.TypeExec:
		return strings.Join(c.Command, " ")
	case health.TypeFile:
		return c.Path
	}
	return addr.String()
}

func peerStatuses(peers []routes.PeerState, now time.Time) []status.PeerStatus {
	out := make([]status.PeerStatus, 0, len(peers))
	for _, p := range peers {
		ps := status.PeerStatus{
			Address: p.Address, ASN: p.ASN, Datacenter: p.Datacenter, State: p.State,
			Received: p.Prefixes, Accepted: p.Prefixes, Stale: p.Stale,
		}
		if p.Uptime > 0 {
			ps.Since = now.Add(-p.Uptime)
		}
		out = append(out, ps)
	}
	return out
}

// warnings lists what needs the operator's attention, most serious first.
func warnings(s *status.Snapshot, extra []string) []string {
	var w []string
	for _, svc := range s.Services {
		if svc.FailingOpen() {
			w = append(w, fmt.Sprintf("service %s: every address of a family is down; failing open (all addresses served)", svc.Name))
		}
	}
	for _, d := range s.Datacenters {
		if d.State == status.StateDown {
			w = append(w, fmt.Sprintf("datacenter %s is down (%d of %d addresses healthy)", d.Name, d.Healthy, d.Addresses))
		}
	}
	for _, f := range s.Files {
		if !f.OK {
			w = append(w, fmt.Sprintf("%s file %s did not load, the previous version keeps serving: %s", f.Kind, f.Path, f.LastError))
		}
	}
	for _, p := range s.Peers {
		if p.State != "established" {
			w = append(w, fmt.Sprintf("BGP peer %s (AS%d, %s) is %s", p.Address, p.ASN, p.Datacenter, p.State))
		}
	}
	return append(w, extra...)
}

// Explain answers as the server would for a query from client's own
// address without ECS, or, when client is a prefix X/n, for a query that
// carries ECS X/n (the address masked as the handler reads it).
func (b *backend) Explain(ctx context.Context, name, qtype string, client string) (any, error) {
	qt, ok := mdns.StringToType[strings.ToUpper(qtype)]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", status.ErrInvalid, qtype)
	}
	var q Query
	if p, err := netip.ParsePrefix(client); err == nil {
		q = Query{Source: p.Addr().Unmap(), ECS: p}
	} else if a, err := netip.ParseAddr(client); err == nil {
		q = Query{Source: a.Unmap().WithZone("")}
	} else {
		return nil, fmt.Errorf("%w: client: %v", status.ErrInvalid, err)
	}
	if _, ok := mdns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%w: %q is not a domain name", status.ErrInvalid, name)
	}
	e := b.s.gen.Load().ExplainQuery(mdns.Fqdn(name), qt, q)
	b.s.cluster.explainVotes(e, b.s.health.Probes(), time.Now())
	return e, nil
}

// Override sets an admin override. An unknown datacenter, or an address
// that no service target has (and no override names), is ErrNotFound.
func (b *backend) Override(ctx context.Context, kind, key, state string) error {
	rt := b.s
	g := rt.gen.Load()
	cfg := g.Config
	switch state {
	case status.OverrideUp, status.OverrideDown, status.OverrideDrain, status.OverrideClear:
	default:
		return fmt.Errorf("%w: state %q is not up, down, drain or clear", status.ErrInvalid, state)
	}
	switch kind {
	case status.KindDatacenter:
		if !slices.ContainsFunc(cfg.Datacenter, func(d zones.DatacenterConfig) bool { return d.Name == key }) &&
			!(state == status.OverrideClear && hasOverride(rt.health.Overrides(), kind, key)) {
			return fmt.Errorf("%w: no datacenter %q in the config", status.ErrNotFound, key)
		}
	case status.KindAddress:
		a, err := netip.ParseAddr(key)
		if err != nil {
			return fmt.Errorf("%w: %v", status.ErrInvalid, err)
		}
		a = a.Unmap()
		if !serviceHasAddr(g.Services, a) &&
			!(state == status.OverrideClear && hasOverride(rt.health.Overrides(), kind, a.String())) {
			return fmt.Errorf("%w: address %s is not a target of any service", status.ErrNotFound, a)
		}
		key = a.String()
	default:
		return fmt.Errorf("%w: kind %q is not address or datacenter", status.ErrInvalid, kind)
	}
	origin := ""
	if rt.cluster != nil {
		// Published to every instance; applied here whatever the engine
		// says (it never stops an override: away, it is published later).
		origin = rt.cluster.cfg.Instance
		_ = rt.cluster.setOverride(ctx, kind, key, state)
	}
	if err := rt.health.SetOverrideFrom(kind, key, state, origin); err != nil {
		if errors.Is(err, health.ErrTooManyOverrides) {
			return fmt.Errorf("%w: %w", status.ErrInvalid, err)
		}
		return err
	}
	return nil
}

func hasOverride(ovs []health.Override, kind, key string) bool {
	return slices.ContainsFunc(ovs, func(o health.Override) bool { return o.Kind == kind && o.Key == key })
}

func serviceHasAddr(svcs []*zones.Service, a netip.Addr) bool {
	for _, s := range svcs {
		for _, t := range s.Targets {
			if slices.Contains(t.Addrs[0], a) || slices.Contains(t.Addrs[1], a) {
				return true
			}
		}
	}
	return false
}

func (b *backend) Reload(ctx context.Context) error {
	return b.s.Reload("api")
}
