package server

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/zones"
)

// gslbStats counts service answers on the query path. The counters for one
// (service, datacenter) pair are resolved once per generation into an
// immutable index, so counting an answer is a map lookup by string and a
// few atomic adds: no lock, no allocation.
type gslbStats struct {
	answers  *prometheus.CounterVec // service, datacenter
	failOpen *prometheus.CounterVec // service
	ecs      prometheus.Counter
	duration prometheus.Histogram

	dcMu     sync.Mutex
	dcTotals map[string]*atomic.Uint64 // answers led by each datacenter, since start
	total    atomic.Uint64             // answers with addresses, since start
}

// statsIndex is the counters for one generation's services.
type statsIndex struct {
	services map[string]*serviceCounters         // by lower-case service name
	bySvc    map[*zones.Service]*serviceCounters // the same, for the query path: no string hashing
}

type serviceCounters struct {
	failOpen prometheus.Counter
	byDC     map[string]dcCounters
	byTarget []dcCounters // by index in the service's Targets
}

type dcCounters struct {
	answers prometheus.Counter
	total   *atomic.Uint64
}

func newGSLBStats() *gslbStats {
	return &gslbStats{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_gslb_answers_total",
			Help: "GSLB service answers with addresses, by service and the datacenter that led the answer.",
		}, []string{"service", "datacenter"}),
		failOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_gslb_failopen_total",
			Help: "GSLB service answers given while every address of the family was down (all of them served).",
		}, []string{"service"}),
		ecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_gslb_ecs_answers_total",
			Help: "GSLB service answers that located the client by its EDNS Client Subnet rather than the query's source.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "godwit_gslb_answer_duration_seconds",
			Help:    "Time to select and build the addresses of one GSLB service answer.",
			Buckets: prometheus.ExponentialBuckets(250e-9, 4, 10), // 250ns .. 65ms
		}),
		dcTotals: map[string]*atomic.Uint64{},
	}
}

func (g *gslbStats) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.answers, g.failOpen, g.ecs, g.duration}
}

// build resolves the counters of every (service, datacenter) pair of svcs.
func (g *gslbStats) build(svcs []*zones.Service) *statsIndex {
	idx := &statsIndex{services: map[string]*serviceCounters{}, bySvc: map[*zones.Service]*serviceCounters{}}
	g.dcMu.Lock()
	defer g.dcMu.Unlock()
	for _, s := range svcs {
		sc := &serviceCounters{failOpen: g.failOpen.WithLabelValues(s.Name), byDC: map[string]dcCounters{}}
		for _, t := range s.Targets {
			tot := g.dcTotals[t.Datacenter]
			if tot == nil {
				tot = new(atomic.Uint64)
				g.dcTotals[t.Datacenter] = tot
			}
			c := dcCounters{answers: g.answers.WithLabelValues(s.Name, t.Datacenter), total: tot}
			sc.byDC[t.Datacenter] = c
			sc.byTarget = append(sc.byTarget, c)
		}
		idx.services[s.Name] = sc
		idx.bySvc[s] = sc
	}
	return idx
}

// forget drops the label values of the services and pairs old counted and
// cur no longer has, once cur serves.
func (g *gslbStats) forget(old, cur *statsIndex) {
	if old == nil {
		return
	}
	for name, sc := range old.services {
		nsc := cur.services[name]
		if nsc == nil {
			g.failOpen.DeleteLabelValues(name)
		}
		for dc := range sc.byDC {
			if _, keep := nsc.byDCOK(dc); !keep {
				g.answers.DeleteLabelValues(name, dc)
			}
		}
	}
}

func (sc *serviceCounters) byDCOK(dc string) (dcCounters, bool) {
	if sc == nil {
		return dcCounters{}, false
	}
	c, ok := sc.byDC[dc]
	return c, ok
}

// answered counts one service answer of svc with the counters of idx.
func (g *gslbStats) answered(idx *statsIndex, svc *zones.Service, sel *zones.Selection, ecs bool) {
	if ecs {
		g.ecs.Inc()
	}
	if idx == nil {
		return
	}
	sc := idx.bySvc[svc]
	if sc == nil {
		return
	}
	if sel.FailOpen {
		sc.failOpen.Inc()
	}
	if sel.Datacenter == "" || sel.Target < 0 || sel.Target >= len(sc.byTarget) {
		return
	}
	c := sc.byTarget[sel.Target]
	c.answers.Inc()
	c.total.Add(1)
	g.total.Add(1)
}

// totals returns the answers led by each datacenter and all answers, since
// start.
func (g *gslbStats) totals() (map[string]uint64, uint64) {
	g.dcMu.Lock()
	defer g.dcMu.Unlock()
	out := make(map[string]uint64, len(g.dcTotals))
	for dc, n := range g.dcTotals {
		out[dc] = n.Load()
	}
	return out, g.total.Load()
}

// stateCollector exposes gauges read from the live state at scrape time:
// BGP sessions, route table sizes, datacenter and service health.
type stateCollector struct {
	s *Server

	peerUp, peerPrefixes, routePrefixes *prometheus.Desc
	tableStale, stalePrefixes           *prometheus.Desc
	dcUp, dcHealthy, svcFailingOpen     *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	return &stateCollector{
		s: s,
		peerUp: prometheus.NewDesc("godwit_bgp_peer_up",
			"1 while the BGP session with the peer is established, else 0.", []string{"peer", "datacenter"}, nil),
		peerPrefixes: prometheus.NewDesc("godwit_bgp_peer_prefixes",
			"Prefixes learned from the BGP peer that are in the route table.", []string{"peer", "datacenter"}, nil),
		tableStale: prometheus.NewDesc("godwit_bgp_table_stale",
			"1 while the BGP table holds routes from the cache read at start that their peer has not confirmed (End-of-RIB) yet, else 0.", nil, nil),
		stalePrefixes: prometheus.NewDesc("godwit_bgp_stale_prefixes",
			"Routes (one per peer and prefix) from the BGP table cache read at start still in the table.", nil, nil),
		routePrefixes: prometheus.NewDesc("godwit_routes_prefixes",
			"Distinct prefixes in the route table, by source (file, bgp).", []string{"source"}, nil),
		dcUp: prometheus.NewDesc("godwit_gslb_datacenter_up",
			"1 while the datacenter has at least one address that may be served, else 0.", []string{"datacenter"}, nil),
		dcHealthy: prometheus.NewDesc("godwit_gslb_datacenter_healthy_addresses",
			"Target addresses of the datacenter (over all services) that may be served.", []string{"datacenter"}, nil),
		svcFailingOpen: prometheus.NewDesc("godwit_gslb_service_failing_open",
			"1 while every address of a family of the service is down, so that all are served, else 0.", []string{"service"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peerUp, c.peerPrefixes, c.tableStale, c.stalePrefixes, c.routePrefixes, c.dcUp, c.dcHealthy, c.svcFailingOpen} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	g := s.gen.Load()
	if g == nil {
		return
	}
	if s.bgp != nil {
		for _, p := range s.bgp.Peers() {
			up := 0.0
			if p.State == "established" {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.peerUp, prometheus.GaugeValue, up, p.Address.String(), p.Datacenter)
			ch <- prometheus.MustNewConstMetric(c.peerPrefixes, prometheus.GaugeValue, float64(p.Prefixes), p.Address.String(), p.Datacenter)
		}
		st := s.bgp.Stale()
		stale := 0.0
		if st.Stale {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(c.tableStale, prometheus.GaugeValue, stale)
		ch <- prometheus.MustNewConstMetric(c.stalePrefixes, prometheus.GaugeValue, float64(st.Routes))
		v4, v6 := s.bgp.Table().Len()
		ch <- prometheus.MustNewConstMetric(c.routePrefixes, prometheus.GaugeValue, float64(v4+v6), "bgp")
	}
	if g.Routes != nil {
		v4, v6 := g.Routes.Len()
		ch <- prometheus.MustNewConstMetric(c.routePrefixes, prometheus.GaugeValue, float64(v4+v6), "file")
	}
	h := s.healthState(g, nil)
	for _, dc := range h.datacenters {
		up := 0.0
		if dc.Healthy > 0 || dc.Addresses == 0 && dc.State == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.dcUp, prometheus.GaugeValue, up, dc.Name)
		ch <- prometheus.MustNewConstMetric(c.dcHealthy, prometheus.GaugeValue, float64(dc.Healthy), dc.Name)
	}
	for _, sv := range h.services {
		v := 0.0
		if sv.FailingOpen() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.svcFailingOpen, prometheus.GaugeValue, v, sv.Name)
	}
}
