package zones

import (
	"fmt"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/routes"
)

// Trace records every decision Select makes for one question, for
// `godwit explain` (String) and the JSON API (the json tags).
type Trace struct {
	Service    string     `json:"service"`
	Qtype      string     `json:"qtype"`
	Client     netip.Addr `json:"client"`
	SourceBits int        `json:"ecs_source_bits"` // -1: no ECS

	Policy     string   `json:"policy"`              // configured
	PolicyUsed string   `json:"policy_used"`         // the one that ranked
	Fallbacks  []string `json:"fallbacks,omitempty"` // why each policy before it could not rank

	Location *TraceLocation `json:"location,omitempty"`
	MapEntry string         `json:"map_entry,omitempty"`
	Route    *TraceRoute    `json:"route,omitempty"`

	Ranking []TraceRank   `json:"ranking"`
	Health  []TraceHealth `json:"health"`

	Addresses   []netip.Addr `json:"addresses"`
	Datacenter  string       `json:"datacenter,omitempty"`
	FailOpen    bool         `json:"fail_open"`
	TTL         uint32       `json:"ttl"`
	TTLReason   string       `json:"ttl_reason"`
	Scope       int          `json:"scope"`
	ScopeReason string       `json:"scope_reason"`

	why      []string // per target index, while ranking
	dist     []float64
	plen     []int
	scopeWhy []string
}

// TraceLocation is what the GeoIP databases said about the client.
type TraceLocation struct {
	Continent   string       `json:"continent,omitempty"`
	Country     string       `json:"country,omitempty"`
	Subdivision string       `json:"subdivision,omitempty"`
	Lat         float64      `json:"lat,omitempty"`
	Lon         float64      `json:"lon,omitempty"`
	HasCoords   bool         `json:"has_coords"`
	ASN         uint32       `json:"asn,omitempty"`
	Network     netip.Prefix `json:"network"`
	ASNNetwork  netip.Prefix `json:"asn_network"`
}

// TraceRoute is the route table's match for the client.
type TraceRoute struct {
	Prefix netip.Prefix   `json:"prefix"`
	Reach  []routes.Reach `json:"reach"`
}

// TraceRank is one datacenter's place in the final ranking.
type TraceRank struct {
	Rank       int     `json:"rank"` // 1 = best
	Datacenter string  `json:"datacenter"`
	Weight     int     `json:"weight"`
	DistanceKm float64 `json:"distance_km,omitempty"`
	PathLen    int     `json:"path_len,omitempty"`
	Reason     string  `json:"reason"`
}

// TraceHealth is one address's health as Select saw it.
type TraceHealth struct {
	Datacenter string     `json:"datacenter"`
	Address    netip.Addr `json:"address"`
	Check      string     `json:"check,omitempty"`
	Up         bool       `json:"up"`
	Drained    bool       `json:"drained,omitempty"`
	Override   string     `json:"override,omitempty"` // the admin override that decided: up, down or drain
	Settle     string     `json:"settle,omitempty"`   // time until it could change; "" when stable
	Chosen     bool       `json:"chosen"`
	// Votes, with a cluster, is the rule that decided and which vantage
	// points voted, filled in by the runtime ("" alone).
	Votes string `json:"votes,omitempty"`
}

func traceLocation(l geo.Location) *TraceLocation {
	return &TraceLocation{
		Continent: l.Continent, Country: l.Country, Subdivision: l.Subdivision,
		Lat: l.Lat, Lon: l.Lon, HasCoords: l.HasCoords, ASN: l.ASN,
		Network: l.Network, ASNNetwork: l.ASNNetwork,
	}
}

func traceRoute(m routes.Match) *TraceRoute {
	return &TraceRoute{Prefix: m.Prefix, Reach: append([]routes.Reach(nil), m.Reach...)}
}

func (t *Trace) start(s *Service, qtype uint16, c Client) {
	*t = Trace{
		Service:    s.Name,
		Qtype:      qtypeString(qtype),
		Client:     c.Addr,
		SourceBits: c.SourceBits,
		Policy:     s.Policy.String(),
		why:        make([]string, len(s.Targets)),
		dist:       make([]float64, len(s.Targets)),
		plen:       make([]int, len(s.Targets)),
	}
}

func (t *Trace) setWhy(i int, why string)      { t.why[i] = why }
func (t *Trace) setDistance(i int, km float64) { t.dist[i] = km }
func (t *Trace) setPathLen(i int, n int)       { t.plen[i] = n }

func (t *Trace) finish(s *Service, r *ranker, sel Selection, f int) {
	t.PolicyUsed = sel.Policy
	for pos := range r.n {
		i := int(r.ord[pos])
		tg := &s.Targets[i]
		t.Ranking = append(t.Ranking, TraceRank{
			Rank: pos + 1, Datacenter: tg.Datacenter, Weight: tg.Weight,
			DistanceKm: t.dist[i], PathLen: t.plen[i], Reason: t.why[i],
		})
	}
	chosen := make(map[netip.Addr]bool, len(sel.Addrs))
	for _, a := range sel.Addrs {
		chosen[a] = true
	}
	for i := range t.Health {
		t.Health[i].Chosen = chosen[t.Health[i].Address]
	}
	t.Addresses = append([]netip.Addr(nil), sel.Addrs...)
	t.Datacenter = sel.Datacenter
	t.FailOpen = sel.FailOpen
	t.TTL = sel.TTL
	t.Scope = sel.Scope
	switch {
	case len(t.scopeWhy) == 0:
		t.ScopeReason = "0: the answer does not depend on the client's location"
	default:
		t.ScopeReason = fmt.Sprintf("%d: the longest of %s", sel.Scope, strings.Join(t.scopeWhy, "; "))
	}
	if s.count[f] == 0 {
		t.Fallbacks = append(t.Fallbacks, fmt.Sprintf("no %s address in this service: NODATA", t.Qtype))
	}
}

func qtypeString(q uint16) string {
	if s, ok := mdns.TypeToString[q]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", q)
}

// String is the readable form printed by `godwit explain`.
func (t *Trace) String() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("service %s %s", t.Service, t.Qtype)
	if t.SourceBits >= 0 {
		p("  client      %s (ECS /%d)", t.Client, t.SourceBits)
	} else {
		p("  client      %s (no ECS)", t.Client)
	}
	if l := t.Location; l != nil {
		var parts []string
		for _, kv := range [][2]string{{"continent", l.Continent}, {"country", l.Country}, {"subdivision", l.Subdivision}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+" "+kv[1])
			}
		}
		if l.HasCoords {
			parts = append(parts, fmt.Sprintf("at %.2f,%.2f", l.Lat, l.Lon))
		} else {
			parts = append(parts, "no coordinates")
		}
		if l.ASN != 0 {
			parts = append(parts, fmt.Sprintf("AS%d", l.ASN))
		}
		p("  location    %s (network %s, ASN network %s)", strings.Join(parts, ", "), prefixString(l.Network), prefixString(l.ASNNetwork))
	}
	if t.MapEntry != "" {
		p("  map entry   %s", t.MapEntry)
	}
	if r := t.Route; r != nil {
		var parts []string
		for _, re := range r.Reach {
			parts = append(parts, fmt.Sprintf("%s (path %d, %s)", re.Datacenter, re.PathLen, re.Source))
		}
		p("  route       %s via %s", r.Prefix, strings.Join(parts, ", "))
	}
	if t.PolicyUsed != t.Policy {
		p("  policy      %s, fell back to %s", t.Policy, t.PolicyUsed)
	} else {
		p("  policy      %s", t.Policy)
	}
	for _, f := range t.Fallbacks {
		p("                %s", f)
	}
	p("  ranking")
	for _, r := range t.Ranking {
		p("    %d. %-12s %s", r.Rank, r.Datacenter, r.Reason)
	}
	p("  health")
	for _, h := range t.Health {
		state := "up"
		switch {
		case h.Drained:
			state = "drained"
		case !h.Up:
			state = "down"
		}
		if h.Override != "" {
			state += " by admin override"
		}
		if h.Settle != "" {
			state += ", may change in " + h.Settle
		}
		if h.Votes != "" {
			state += "; " + h.Votes
		}
		mark := " "
		if h.Chosen {
			mark = "*"
		}
		check := h.Check
		if check == "" {
			check = "no check"
		}
		p("    %s %-12s %-24s %s (%s)", mark, h.Datacenter, h.Address, state, check)
	}
	addrs := make([]string, len(t.Addresses))
	for i, a := range t.Addresses {
		addrs[i] = a.String()
	}
	if len(addrs) == 0 {
		addrs = []string{"none"}
	}
	open := ""
	if t.FailOpen {
		open = " (FAIL OPEN: every address of the family is down)"
	}
	p("  answer      %s%s", strings.Join(addrs, " "), open)
	p("  ttl         %s", t.TTLReason)
	p("  ecs scope   %s", t.ScopeReason)
	return b.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return "none"
	}
	return p.String()
}

// Explanation is how the whole answer to one question is found: the zone
// lookup and, for a service name, the Select trace.
type Explanation struct {
	Qname      string     `json:"qname"`
	Qtype      string     `json:"qtype"`
	Client     netip.Addr `json:"client"`
	SourceBits int        `json:"ecs_source_bits"`
	Zone       string     `json:"zone,omitempty"`
	Rcode      string     `json:"rcode"`
	AA         bool       `json:"aa"`
	Answer     []string   `json:"answer"`
	Authority  []string   `json:"authority,omitempty"`
	Additional []string   `json:"additional,omitempty"`
	Service    *Trace     `json:"service,omitempty"`
}

// Explain answers qname/qtype for client c from set the way the server
// would and records why.
func Explain(set *Set, qname string, qtype uint16, c Client, env *Env) *Explanation {
	res := set.Lookup(qname, qtype)
	e := &Explanation{
		Qname:      qname,
		Qtype:      qtypeString(qtype),
		Client:     c.Addr,
		SourceBits: c.SourceBits,
		Zone:       res.Zone,
		Rcode:      mdns.RcodeToString[res.Rcode],
		AA:         res.Authoritative,
	}
	for _, rr := range res.Answer {
		e.Answer = append(e.Answer, rr.String())
	}
	nodata := true
	if res.Service != nil {
		e.Service = &Trace{}
		sel := Select(res.Service, qtype, c, env, nil, e.Service)
		for _, a := range sel.Addrs {
			e.Answer = append(e.Answer, AddressRR(res.ServiceOwner, sel.TTL, a).String())
		}
		nodata = len(sel.Addrs) == 0
	}
	if nodata { // a service answer carries no authority section
		for _, rr := range res.Ns {
			e.Authority = append(e.Authority, rr.String())
		}
	}
	for _, rr := range res.Extra {
		e.Additional = append(e.Additional, rr.String())
	}
	return e
}

// AddressRR is the A or AAAA record answering a service name with address a.
func AddressRR(owner string, ttl uint32, a netip.Addr) mdns.RR {
	if a.Is4() {
		return &mdns.A{Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl}, A: a.AsSlice()}
	}
	return &mdns.AAAA{Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: ttl}, AAAA: a.AsSlice()}
}

// String is the readable form printed by `godwit explain`.
func (e *Explanation) String() string {
	var b strings.Builder
	src := "no ECS"
	if e.SourceBits >= 0 {
		src = fmt.Sprintf("ECS /%d", e.SourceBits)
	}
	fmt.Fprintf(&b, "%s %s from %s (%s)\n", e.Qname, e.Qtype, e.Client, src)
	zone := e.Zone
	if zone == "" {
		zone = "none of ours"
	}
	fmt.Fprintf(&b, "zone %s, rcode %s, aa %v\n", zone, e.Rcode, e.AA)
	for _, sec := range []struct {
		name string
		rrs  []string
	}{{"answer", e.Answer}, {"authority", e.Authority}, {"additional", e.Additional}} {
		if len(sec.rrs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", sec.name)
		for _, rr := range sec.rrs {
			fmt.Fprintf(&b, "  %s\n", rr)
		}
	}
	if e.Service != nil {
		b.WriteString(e.Service.String())
	}
	return b.String()
}
